/**
 * Message trace. An operation (a delivery, an ack request, a nack...) writes one row per bucket of
 * 1024 offsets it touches, naming the offsets; a message's trace reads the rows of its bucket. So
 * tracing costs rows per request, not per message (see docs/operations.md). PUBLISHED is not
 * stored: the segment's store time is the event. Pending (scheduled, half) messages trace under
 * negative buckets keyed by their sequence.
 */
export type TraceType = 'PUBLISHED' | 'SCHEDULED' | 'COMMITTED' | 'ROLLED_BACK' | 'CHECKED' | 'DELIVERED' | 'ACKED'
  | 'NACKED' | 'EXPIRED' | 'DEAD_LETTERED' | 'RECALLED' | 'RESENT';

export interface TraceEvent { type: TraceType; at: number; [k: string]: unknown }

const BUCKET_BITS = 10;

/** Per-offset details (e.g. the attempt of each delivery) go in `each`, shared ones in `data`. */
export interface TraceItem { off: number; each?: Record<string, unknown> }

export class Trace {
  constructor(private sql: SqlStorage) {}

  private bucketOf(n: number, pending: boolean): number {
    return pending ? -1 - (n >> BUCKET_BITS) : n >> BUCKET_BITS;
  }

  record(type: TraceType, items: TraceItem[], data: Record<string, unknown> | null, at: number, pending = false): void {
    const buckets = new Map<number, TraceItem[]>();
    for (const it of items) {
      const b = this.bucketOf(it.off, pending);
      const l = buckets.get(b) ?? [];
      l.push(it);
      buckets.set(b, l);
    }
    for (const [b, l] of buckets) {
      const offs = l.some((i) => i.each) ? l.map((i) => [i.off, i.each ?? {}]) : l.map((i) => i.off);
      this.sql.exec('INSERT INTO trace (bucket, at, type, offs, data) VALUES (?, ?, ?, ?, ?)',
        b, at, type, JSON.stringify(offs), data ? JSON.stringify(data) : null);
    }
  }

  /** Events of one message, oldest first. */
  events(n: number, pending = false): TraceEvent[] {
    const rows = this.sql.exec<{ at: number; type: string; offs: string; data: string | null }>(
      'SELECT at, type, offs, data FROM trace WHERE bucket = ? ORDER BY id', this.bucketOf(n, pending)).toArray();
    const out: TraceEvent[] = [];
    for (const r of rows) {
      const offs = JSON.parse(r.offs) as (number | [number, Record<string, unknown>])[];
      for (const o of offs) {
        const [off, each] = typeof o === 'number' ? [o, {}] : o;
        if (off === n) out.push({ type: r.type as TraceType, at: r.at, ...(r.data ? JSON.parse(r.data) : {}), ...each });
      }
    }
    return out;
  }

  /**
   * Deletes events older than `before`. Ids grow with time, so the first id at or after `before`
   * is found by binary search over the primary key: no index on `at` (one more row written per
   * event) is needed.
   */
  purge(before: number, limit = 5000): void {
    const r = this.sql.exec<{ lo: number | null; hi: number | null }>('SELECT MIN(id) AS lo, MAX(id) AS hi FROM trace').one();
    if (r.lo === null || r.hi === null) return;
    let lo = r.lo, hi = r.hi + 1;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      const row = this.sql.exec<{ id: number; at: number }>('SELECT id, at FROM trace WHERE id >= ? ORDER BY id LIMIT 1', mid).toArray()[0];
      if (!row || row.at >= before) hi = mid; else lo = row.id + 1;
    }
    this.sql.exec('DELETE FROM trace WHERE id < ? AND id < ?', lo, r.lo + limit);
  }
}
