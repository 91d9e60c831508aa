/**
 * Message trace, written behind (like RocketMQ's asynchronous trace topic). An operation (a
 * delivery, an ack request, a nack...) records one event per bucket of 1024 offsets it touches,
 * naming the offsets; events wait in memory and a flush writes all the events of a bucket as one
 * row. So tracing costs rows per flush, not per message or per request (see docs/operations.md).
 * The host flushes every ~250 ms, and every read here flushes first, so a read in the same object
 * sees every event; events still buffered when the object crashes are lost (the messages and
 * their consume state are written in the operation's own transaction; push acks, applied within
 * 10 ms, are the exception: see the Broker).
 *
 * PUBLISHED is not stored: the segment's store time is the event. Pending (scheduled, half)
 * messages trace under negative buckets keyed by their sequence.
 *
 * Rows: (bucket, id) is the primary key (no other index, no AUTOINCREMENT: one row written per
 * row stored); `events` is a JSON array of [type, at, offs, data], oldest first, and the rows of a
 * bucket are read in id order.
 */
export type TraceType = 'PUBLISHED' | 'SCHEDULED' | 'COMMITTED' | 'ROLLED_BACK' | 'CHECKED' | 'DELIVERED' | 'ACKED'
  | 'NACKED' | 'EXPIRED' | 'DEAD_LETTERED' | 'RECALLED' | 'RESENT';

export interface TraceEvent { type: TraceType; at: number; [k: string]: unknown }

/** offsets per bucket (arithmetic, not shifts: offsets may pass 2^31) */
const BUCKET = 1024;
/** A flushed row stays well under the platform's 2 MB row limit (UTF-8 is ≤ 3 bytes a char). */
const ROW_CHARS = 500_000;
/** Rows one purge call deletes at most. */
const PURGE_ROWS = 5000;

/** Per-offset details (e.g. the attempt of each delivery) go in `each`, shared ones in `data`. */
export interface TraceItem { off: number; each?: Record<string, unknown> }

/** An event as stored: [type, at, offsets (or [offset, per-offset fields]), shared fields]. */
type StoredEvent = [TraceType, number, (number | [number, Record<string, unknown>])[], Record<string, unknown> | null];

export class Trace {
  /** events not yet written, in the order they happened */
  private buf: { bucket: number; json: string; n: number }[] = [];
  /** offsets named by the buffered events (what the host's size-triggered flush counts) */
  private items = 0;
  /** events ever recorded: a mark taken before a transaction, to drop what it recorded if it rolls back */
  private recorded = 0;

  constructor(private sql: SqlStorage) {}

  private bucketOf(n: number, pending: boolean): number {
    const b = Math.floor(n / BUCKET);
    return pending ? -1 - b : b;
  }

  /** Buffers an event; nothing is written until `flush`. */
  record(type: TraceType, items: TraceItem[], data: Record<string, unknown> | null, at: number, pending = false): void {
    const buckets = new Map<number, TraceItem[]>();
    for (const it of items) {
      const b = this.bucketOf(it.off, pending);
      const l = buckets.get(b) ?? [];
      l.push(it);
      buckets.set(b, l);
    }
    for (const [b, l] of buckets) {
      const offs = l.some((i) => i.each) ? l.map((i): [number, Record<string, unknown>] => [i.off, i.each ?? {}]) : l.map((i) => i.off);
      const ev: StoredEvent = [type, at, offs, data];
      this.buf.push({ bucket: b, json: JSON.stringify(ev), n: l.length });
      this.items += l.length;
      this.recorded++;
    }
  }

  /** Offsets named by the events waiting to be written. */
  get buffered(): number { return this.items; }

  /** A mark to `rollback` to: events recorded after it are dropped (their transaction did not happen). */
  mark(): number { return this.recorded; }

  rollback(mark: number): void {
    const drop = Math.min(this.recorded - mark, this.buf.length);
    if (drop <= 0) return;
    for (const e of this.buf.splice(this.buf.length - drop)) this.items -= e.n;
    this.recorded -= drop;
  }

  /** Forgets the buffered events (the queue's storage is being deleted). */
  discard(): void { this.buf = []; this.items = 0; }

  /**
   * Writes the buffered events: one row per bucket (more if a bucket's events would make a row
   * too big), after the bucket's last row. Call in a transaction; the buffer is emptied first, so
   * a failed flush loses its events rather than retrying them forever.
   */
  flush(): void {
    if (!this.buf.length) return;
    const byBucket = new Map<number, string[]>();
    for (const e of this.buf) {
      const l = byBucket.get(e.bucket);
      if (l) l.push(e.json); else byBucket.set(e.bucket, [e.json]);
    }
    this.buf = [];
    this.items = 0;
    for (const [b, evs] of byBucket) {
      let id = (this.sql.exec<{ id: number }>('SELECT id FROM trace WHERE bucket = ? ORDER BY id DESC LIMIT 1', b).toArray()[0]?.id ?? 0) + 1;
      let row: string[] = [];
      let chars = 0;
      const put = () => {
        if (!row.length) return;
        this.sql.exec('INSERT INTO trace (bucket, id, events) VALUES (?, ?, ?)', b, id++, `[${row.join(',')}]`);
        row = []; chars = 0;
      };
      for (const ev of evs) {
        if (chars + ev.length > ROW_CHARS) put();
        row.push(ev);
        chars += ev.length + 1;
      }
      put();
    }
  }

  /** Events of one message, oldest first (buffered events are written first). */
  events(n: number, pending = false): TraceEvent[] {
    this.flush();
    const rows = this.sql.exec<{ events: string }>(
      'SELECT events FROM trace WHERE bucket = ? ORDER BY id', this.bucketOf(n, pending)).toArray();
    const out: TraceEvent[] = [];
    for (const r of rows) {
      for (const [type, at, offs, data] of JSON.parse(r.events) as StoredEvent[]) {
        for (const o of offs) {
          const [off, each] = typeof o === 'number' ? [o, {}] : o;
          if (off === n) out.push({ type, at, ...(data ?? {}), ...each });
        }
      }
    }
    return out;
  }

  /**
   * Deletes the events of log offsets below `minOffset` (retention deleted those messages; a
   * bucket goes once all of its offsets are gone), at most `limit` rows a call. A range of the
   * primary key: no index on time is needed, and the cost does not grow with the log. Flush
   * first (outside the caller's transaction): an event still buffered is not purged.
   */
  purgeBelow(minOffset: number, limit = PURGE_ROWS): void {
    const upto = Math.floor(minOffset / BUCKET); // buckets 0 .. upto-1 hold only offsets below minOffset
    if (upto <= 0) return;
    const cut = this.sql.exec<{ bucket: number; id: number }>(
      'SELECT bucket, id FROM trace WHERE bucket >= 0 AND bucket < ? ORDER BY bucket, id LIMIT 1 OFFSET ?', upto, limit).toArray()[0];
    if (cut) this.sql.exec('DELETE FROM trace WHERE bucket >= 0 AND (bucket < ? OR (bucket = ? AND id < ?))', cut.bucket, cut.bucket, cut.id);
    else this.sql.exec('DELETE FROM trace WHERE bucket >= 0 AND bucket < ?', upto);
  }

  /**
   * Deletes the events of pending messages whose rows are gone: for each bucket of `seqs` (the
   * sequences just forgotten), once `alive(lo, hi)` says no sequence in [lo, hi) is kept. Flush
   * first, as for purgeBelow.
   */
  purgePending(seqs: number[], alive: (lo: number, hi: number) => boolean): void {
    for (const b of new Set(seqs.map((s) => Math.floor(s / BUCKET)))) {
      if (!alive(b * BUCKET, (b + 1) * BUCKET)) this.sql.exec('DELETE FROM trace WHERE bucket = ?', -1 - b);
    }
  }
}
