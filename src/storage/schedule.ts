/**
 * Scheduled messages: held out of the log until due, then appended with their original id.
 * Their sequence numbers (AUTOINCREMENT: never reused) become their message ids.
 */
import type { Rec } from '../model/message';

export interface DueMessage { seq: number; due: number; rec: Rec & { i?: string }; size: number }

export class Schedule {
  constructor(private sql: SqlStorage) {}

  add(rec: Rec, size: number): number {
    return this.sql.exec<{ seq: number }>('INSERT INTO scheduled (due, data) VALUES (?, ?) RETURNING seq',
      rec.da!, JSON.stringify({ rec, size })).one().seq;
  }

  due(now: number, limit = 1000): DueMessage[] {
    return this.sql.exec<{ seq: number; due: number; data: string }>(
      'SELECT seq, due, data FROM scheduled WHERE due <= ? ORDER BY due, seq LIMIT ?', now, limit,
    ).toArray().map((r) => ({ seq: r.seq, due: r.due, ...JSON.parse(r.data) }));
  }

  remove(seqs: number[]): void {
    for (const s of seqs) this.sql.exec('DELETE FROM scheduled WHERE seq = ?', s);
  }

  count(): number {
    return this.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM scheduled').one().n;
  }

  nextDue(): number | null {
    return this.sql.exec<{ d: number | null }>('SELECT MIN(due) AS d FROM scheduled').one().d;
  }
}
