/**
 * Idempotent produce: the first result of each dedupId, kept for the topic's dedup window.
 *
 * Rows written are the bill (docs/operations.md), so entries are partitioned by when they expire
 * into tables `dedup_<end>`, every entry of which expires before `end`. An entry costs one row
 * written when it is stored and none when it goes: a table is dropped whole once its end has
 * passed (a DROP deletes no rows one by one). One table for all entries, with an index on the
 * expiry, cost four rows written per entry (insert and delete, each in the table and the index).
 * A table spans an eighth of the window (at least a minute), so about nine are live, and a
 * lookup asks all of them in one statement.
 *
 * `dedup`, that one table of earlier versions (its migration still creates it), is read like the
 * others until its last entry has expired, then dropped; an empty one is dropped at once.
 *
 * A request's idempotency key is an entry too (one per request and queue, not per message): its
 * id is the key behind a NUL, and it holds what the request stored here, a run of offsets
 * (`#n` and the first offset) or, for messages stored one by one, their results as JSON.
 */
export interface DedupHit { messageId: string; off: number | null }

/** What a request stored under its idempotency key: `n` messages from `base`, or these results. */
export type KeyHit = { base: number; n: number } | { results: unknown[] };

const KEY_PREFIX = '\u0000';

interface Part { name: string; end: number }

const MIN_SPAN_MS = 60_000;
const LEGACY = 'dedup';

export class Dedup {
  /** live tables, by end ascending */
  private parts: Part[] = [];

  constructor(private sql: SqlStorage) {
    this.resync();
  }

  /** Reads the list of tables again (at start, and after a rollback or a drop). */
  resync(): void {
    const names = this.sql.exec<{ name: string }>(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND (name = ? OR name GLOB 'dedup_[0-9]*')", LEGACY).toArray();
    this.parts = [];
    for (const { name } of names) {
      if (name !== LEGACY) { this.parts.push({ name, end: Number(name.slice(LEGACY.length + 1)) }); continue; }
      const last = this.sql.exec<{ e: number | null }>(`SELECT MAX(expires) AS e FROM ${LEGACY}`).one().e;
      if (last === null) this.sql.exec(`DROP TABLE ${LEGACY}`);
      else this.parts.push({ name, end: last + 1 });
    }
    this.parts.sort((a, b) => a.end - b.end);
  }

  /** The lookup of entries live at `now` (its statement built once, for every dedupId of a produce). */
  finder(now: number): (id: string) => DedupHit | null {
    const live = this.parts.filter((p) => p.end > now);
    if (!live.length) return () => null;
    const q = live.map((p) => `SELECT message_id, off FROM ${p.name} WHERE id = ?1 AND expires > ?2`).join(' UNION ALL ');
    return (id) => {
      const r = this.sql.exec<{ message_id: string; off: number | null }>(q, id, now).toArray()[0];
      return r ? { messageId: r.message_id, off: r.off } : null;
    };
  }

  /** The lookup of idempotency keys live at `now` (see finder). */
  keyFinder(now: number): (key: string) => KeyHit | null {
    const find = this.finder(now);
    return (key) => {
      const hit = find(KEY_PREFIX + key);
      if (!hit) return null;
      return hit.messageId.startsWith('#') ? { base: hit.off!, n: Number(hit.messageId.slice(1)) } : { results: JSON.parse(hit.messageId) as unknown[] };
    };
  }

  /** Keeps what a request stored under its idempotency key; answers as remember does. */
  rememberKey(key: string, stored: KeyHit, expires: number, window: number): number {
    const hit = 'base' in stored ? { messageId: `#${stored.n}`, off: stored.base } : { messageId: JSON.stringify(stored.results), off: null };
    return this.remember(KEY_PREFIX + key, hit, expires, window);
  }

  /** Keeps `hit` for `id` until `expires` (`window` ms after it was stored); answers when it can be dropped. */
  remember(id: string, hit: DedupHit, expires: number, window: number): number {
    const span = Math.max(MIN_SPAN_MS, Math.ceil(window / 8));
    const end = (Math.floor(expires / span) + 1) * span;
    let part = this.parts.find((p) => p.end === end && p.name !== LEGACY);
    if (!part) {
      part = { name: `${LEGACY}_${end}`, end };
      this.sql.exec(`CREATE TABLE IF NOT EXISTS ${part.name} (id TEXT PRIMARY KEY, message_id TEXT NOT NULL, off INTEGER,
        expires INTEGER NOT NULL) WITHOUT ROWID`);
      this.parts.push(part);
      this.parts.sort((a, b) => a.end - b.end);
    }
    this.sql.exec(`INSERT OR REPLACE INTO ${part.name} (id, message_id, off, expires) VALUES (?, ?, ?, ?)`, id, hit.messageId, hit.off, expires);
    return end;
  }

  /** Drops the tables whose every entry has expired. */
  purge(now: number): void {
    while (this.parts.length && this.parts[0].end <= now) {
      this.sql.exec(`DROP TABLE IF EXISTS ${this.parts[0].name}`);
      this.parts.shift();
    }
  }

  /** When the next table can be dropped. */
  nextDue(): number | null {
    return this.parts.length ? this.parts[0].end : null;
  }
}
