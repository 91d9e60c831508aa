/**
 * The commit log of one queue: append-only segments, each one appended batch (or a slice of
 * one) packed into a single row, so that rows written grow with requests, not messages.
 * Reads find a segment by its base offset through the primary key, so their cost does not grow
 * with the backlog. Recently read segments stay decoded in memory, and the ones this object
 * appended stay as their text (parsed on first read): a consumer at the end of the log reads
 * none of them back from SQLite.
 */
import { splitRecords, type Rec } from '../model/message';

/** Keep a segment row well under the platform's 2 MB row limit (UTF-8 is ≤ 3 bytes a char). */
const SEGMENT_CHARS = 600_000;
/** A body that alone would overflow a segment is stored in parts of this many bytes. */
const PART_BYTES = 1 << 20;
const CACHE_SEGMENTS = 64;
/** and at most this many characters of segment text (appended segments are kept too) */
const CACHE_CHARS = 4_000_000;

/** A record as stored: `x` is the number of parts of a big body kept in `bigbodies`. */
type StoredRec = Rec & { x?: number; i?: string };

export interface LogEntry { off: number; ts: number; rec: Rec & { i?: string } }

/**
 * A segment in memory: its records, or (one this object appended, not read yet) their text, parsed
 * on first read. `chars` is the text's length, what the cache counts.
 */
interface Segment { base: number; n: number; ts: number; recs: StoredRec[] | null; data: string; chars: number }

export interface LogStatus {
  minOffset: number; maxOffset: number; lastStoreTimestamp: number | null; messages: number; bytes: number;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export class CommitLog {
  private end = 0;
  private lastTs = 0;
  /** summed on first use, then kept: a cold start must not read every segment row */
  private bytes: number | null = null;
  private cache = new Map<number, Segment>();
  private cacheChars = 0;
  /** the segment read or appended last: a consumer at the log's end reads it again and again */
  private last: Segment | null = null;
  /** the segment appended last: at low rates each append is a segment, read at once by push */
  private newest: Segment | null = null;
  /** base and store time of the first segment (null: none; undefined: not read since resync) */
  private first: { base: number; ts: number } | null | undefined = undefined;

  constructor(private sql: SqlStorage, private meta: { get(k: string): string | undefined; set(k: string, v: string): void }) {
    this.resync();
  }

  /**
   * (Re)reads the end, last store time and size from storage: at start, and after a transaction
   * that appended was rolled back (its append moved them in memory only).
   */
  resync(): void {
    const last = this.sql.exec<{ base: number; n: number; ts: number }>(
      'SELECT base, n, ts FROM segments ORDER BY base DESC LIMIT 1').toArray()[0];
    const floor = Number(this.meta.get('log_end') ?? 0);
    this.end = Math.max(last ? last.base + last.n : 0, floor);
    this.lastTs = last?.ts ?? Number(this.meta.get('last_ts') ?? 0);
    this.bytes = null;
    this.cache.clear();
    this.cacheChars = 0;
    this.last = null;
    this.newest = null;
    this.first = last ? undefined : null; // no segment: the next append is the first
  }

  get maxOffset(): number { return this.end; }

  get minOffset(): number {
    return this.firstSegment()?.base ?? this.end;
  }

  /** Kept in memory: the first segment changes only by deleteBefore (and an append to an empty log). */
  private firstSegment(): { base: number; ts: number } | null {
    if (this.first === undefined) {
      this.first = this.sql.exec<{ base: number; ts: number }>('SELECT base, ts FROM segments ORDER BY base LIMIT 1').toArray()[0] ?? null;
    }
    return this.first;
  }

  /**
   * Appends records (sizes given beside them) and returns the first offset and the store time.
   * Call inside a transaction: the caller's reply must wait for the commit.
   */
  append(recs: StoredRec[], sizes: number[], now: number): { base: number; ts: number } {
    const json = recs.map((r) => JSON.stringify(r));
    return this.appendText(json.join(','), json.map((j) => j.length), sizes, now);
  }

  /**
   * append() for records already in their JSON text, joined by commas, each one's length in `lens`
   * (PackedRecords: the produce path). A batch that fits one segment is stored as it came.
   */
  appendText(text: string, lens: number[], sizes: number[], now: number): { base: number; ts: number } {
    const ts = Math.max(now, this.lastTs); // store times never go backwards: time lookups rely on it
    const base = this.end;
    const n = lens.length;
    const bytes = sizes.reduce((a, b) => a + b, 0);
    if (text.length + 2 <= SEGMENT_CHARS) this.storeSegment(base, n, ts, bytes, `[${text}]`);
    else this.appendSplit(text, lens, sizes, base, ts);
    this.end = base + n;
    this.lastTs = ts;
    if (this.bytes !== null) this.bytes += bytes;
    return { base, ts };
  }

  /** A batch longer than a segment: as many segments as it takes, a too long body in parts. */
  private appendSplit(text: string, lens: number[], sizes: number[], base: number, ts: number): void {
    let start = 0;
    let chars = 0;
    let segBytes = 0;
    const parts: string[] = [];
    const flush = (upto: number) => {
      if (upto === start) return;
      this.storeSegment(base + start, upto - start, ts, segBytes, `[${parts.join(',')}]`);
      start = upto; chars = 0; segBytes = 0; parts.length = 0;
    };
    const recs = splitRecords(text, lens);
    for (let i = 0; i < recs.length; i++) {
      let rec = recs[i];
      if (rec.length > SEGMENT_CHARS) rec = JSON.stringify(this.storeBigBody(JSON.parse(rec) as StoredRec, base + i));
      if (chars + rec.length > SEGMENT_CHARS) flush(i);
      parts.push(rec);
      chars += rec.length;
      segBytes += sizes[i];
    }
    flush(lens.length);
  }

  private storeSegment(base: number, n: number, ts: number, bytes: number, data: string): void {
    this.sql.exec('INSERT INTO segments (base, n, ts, bytes, data) VALUES (?, ?, ?, ?, ?)', base, n, ts, bytes, data);
    this.newest = this.remember({ base, n, ts, recs: null, data, chars: data.length });
    if (this.first === null) this.first = { base, ts };
  }

  private storeBigBody(rec: StoredRec, off: number): StoredRec {
    const bytes = enc.encode(rec.b);
    let part = 0;
    for (let i = 0; i < bytes.length; i += PART_BYTES, part++) {
      this.sql.exec('INSERT INTO bigbodies (off, part, data) VALUES (?, ?, ?)', off, part, bytes.subarray(i, i + PART_BYTES));
    }
    return { ...rec, b: '', x: part };
  }

  private segmentAt(off: number): Segment | null {
    const has = (s: Segment) => off >= s.base && off < s.base + s.n;
    let seg = this.last !== null && has(this.last) ? this.last : this.newest !== null && has(this.newest) ? this.newest : null;
    if (!seg) for (const s of this.cache.values()) if (has(s)) { seg = s; break; }
    if (!seg) {
      const row = this.sql.exec<{ base: number; n: number; ts: number; data: string }>(
        'SELECT base, n, ts, data FROM segments WHERE base <= ? ORDER BY base DESC LIMIT 1', off).toArray()[0];
      if (!row || off >= row.base + row.n) return null;
      seg = this.remember({ ...row, recs: null, chars: row.data.length });
    }
    this.last = seg;
    return seg;
  }

  private remember(seg: Segment): Segment {
    this.forget(seg.base);
    this.cache.set(seg.base, seg);
    this.cacheChars += seg.chars;
    while (this.cache.size > CACHE_SEGMENTS || (this.cacheChars > CACHE_CHARS && this.cache.size > 1)) {
      this.forget(this.cache.keys().next().value!);
    }
    return seg;
  }

  private forget(base: number): void {
    const s = this.cache.get(base);
    if (!s) return;
    this.cache.delete(base);
    this.cacheChars -= s.chars;
  }

  /** The record at `off`, or null if it is not (or no longer) in the log. */
  read(off: number): LogEntry | null {
    if (off < 0 || off >= this.end) return null;
    const seg = this.segmentAt(off);
    if (!seg) return null;
    if (seg.recs === null) { seg.recs = JSON.parse(seg.data) as StoredRec[]; seg.data = ''; }
    let rec = seg.recs[off - seg.base];
    if (rec.x !== undefined) {
      const parts = this.sql.exec<{ data: ArrayBuffer }>('SELECT data FROM bigbodies WHERE off = ? ORDER BY part', off).toArray();
      const all = new Uint8Array(parts.reduce((n, p) => n + p.data.byteLength, 0));
      let at = 0;
      for (const p of parts) { all.set(new Uint8Array(p.data), at); at += p.data.byteLength; }
      const { x: _x, ...rest } = rec;
      rec = { ...rest, b: dec.decode(all) };
    }
    return { off, ts: seg.ts, rec };
  }

  /**
   * The first offset stored at or after `ts` (the log's end if none). Store times never decrease
   * with the offset (append stores max(now, the last store time)), so this is a binary search
   * over the primary key (O(log n) lookups of one row each), and no index on time (one more row
   * written per segment) is kept.
   */
  offsetForTimestamp(ts: number): number {
    let lo = this.minOffset, hi = this.end;
    while (lo < hi) {
      const mid = lo + Math.floor((hi - lo) / 2);
      const seg = this.sql.exec<{ base: number; n: number; ts: number }>(
        'SELECT base, n, ts FROM segments WHERE base <= ? ORDER BY base DESC LIMIT 1', mid).toArray()[0];
      if (seg && seg.base + seg.n > mid && seg.ts >= ts) hi = seg.base; // answer at or before this segment
      else lo = seg && seg.base + seg.n > mid ? seg.base + seg.n : mid + 1; // after it (or a gap: none here)
    }
    return lo;
  }

  /** The store time of the oldest segment (the first: store times never decrease). */
  oldestTimestamp(): number | null {
    return this.firstSegment()?.ts ?? null;
  }

  /** Deletes whole segments stored before `cutoff`; returns how many messages went. */
  deleteBefore(cutoff: number, maxSegments = 500): number {
    const first = this.firstSegment();
    if (!first || first.ts >= cutoff) return 0; // the usual case
    const before = this.offsetForTimestamp(cutoff); // segments below it were stored before the cutoff
    const rows = this.sql.exec<{ base: number; n: number; bytes: number }>(
      'SELECT base, n, bytes FROM segments WHERE base < ? ORDER BY base LIMIT ?', before, maxSegments).toArray();
    if (!rows.length) return 0;
    const last = rows[rows.length - 1];
    const upto = last.base + last.n;
    this.meta.set('log_end', String(this.end));
    this.meta.set('last_ts', String(this.lastTs));
    this.sql.exec('DELETE FROM segments WHERE base < ?', upto);
    this.sql.exec('DELETE FROM bigbodies WHERE off < ?', upto);
    for (const r of rows) { if (this.bytes !== null) this.bytes -= r.bytes; this.forget(r.base); }
    if (this.last !== null && this.last.base < upto) this.last = null;
    if (this.newest !== null && this.newest.base < upto) this.newest = null;
    this.first = undefined;
    return rows.reduce((n, r) => n + r.n, 0);
  }

  private totalBytes(): number {
    this.bytes ??= this.sql.exec<{ b: number | null }>('SELECT SUM(bytes) AS b FROM segments').one().b ?? 0;
    return this.bytes;
  }

  status(): LogStatus {
    const min = this.minOffset;
    return {
      minOffset: min, maxOffset: this.end, lastStoreTimestamp: this.lastTs || null,
      messages: this.end - min, bytes: this.totalBytes(),
    };
  }
}
