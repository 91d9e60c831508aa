/**
 * Pending messages: scheduled ones wait here until due, half (transactional) ones until their
 * transaction commits. Then they are appended to the log with their original id; the row stays,
 * with the offset it got, so a pending id can still be found (and a late recall answered 409).
 * Sequence numbers (AUTOINCREMENT: never reused) are the pending message ids.
 */
import type { Rec } from '../model/message';

export const enum PendingState { Waiting = 0, Recalled = 1, Delivered = 2, Half = 3, RolledBack = 4 }

export interface DueMessage { seq: number; due: number; rec: Rec; size: number }

export interface PendingRow { seq: number; state: PendingState; due: number; off: number | null; tx: number | null; rec: Rec; size: number }

/** Half messages have no due time until committed: they sort after every real one. */
const NEVER = Number.MAX_SAFE_INTEGER;

export class Schedule {
  constructor(private sql: SqlStorage) {}

  add(rec: Rec, size: number): number {
    return this.sql.exec<{ seq: number }>('INSERT INTO scheduled (due, data, state) VALUES (?, ?, 0) RETURNING seq',
      rec.da!, JSON.stringify({ rec, size })).one().seq;
  }

  addHalf(rec: Rec, size: number, tx: number): number {
    return this.sql.exec<{ seq: number }>('INSERT INTO scheduled (due, data, state, tx) VALUES (?, ?, 3, ?) RETURNING seq',
      NEVER, JSON.stringify({ rec, size }), tx).one().seq;
  }

  due(now: number, limit = 1000): DueMessage[] {
    return this.sql.exec<{ seq: number; due: number; data: string }>(
      'SELECT seq, due, data FROM scheduled WHERE state = 0 AND due <= ? ORDER BY due, seq LIMIT ?', now, limit,
    ).toArray().map((r) => ({ seq: r.seq, due: r.due, ...JSON.parse(r.data) }));
  }

  /** The half messages of a transaction, in send order. */
  halves(tx: number): DueMessage[] {
    return this.sql.exec<{ seq: number; due: number; data: string }>(
      'SELECT seq, due, data FROM scheduled WHERE tx = ? AND state = 3 ORDER BY seq', tx,
    ).toArray().map((r) => ({ seq: r.seq, due: r.due, ...JSON.parse(r.data) }));
  }

  txSeqs(tx: number): number[] {
    return this.sql.exec<{ seq: number }>('SELECT seq FROM scheduled WHERE tx = ? ORDER BY seq', tx).toArray().map((r) => r.seq);
  }

  /** Marks pending messages as appended at offsets base, base+1, ... */
  delivered(seqs: number[], base: number, now: number): void {
    seqs.forEach((s, i) => this.sql.exec('UPDATE scheduled SET state = 2, off = ?, resolved = ? WHERE seq = ?', base + i, now, s));
  }

  rollBack(tx: number, now: number): void {
    this.sql.exec('UPDATE scheduled SET state = 4, resolved = ? WHERE tx = ? AND state = 3', now, tx);
  }

  get(seq: number): PendingRow | null {
    const r = this.sql.exec<{ seq: number; state: number; due: number; off: number | null; tx: number | null; data: string }>(
      'SELECT seq, state, due, off, tx, data FROM scheduled WHERE seq = ?', seq).toArray()[0];
    return r ? { seq: r.seq, state: r.state, due: r.due, off: r.off, tx: r.tx, ...JSON.parse(r.data) } : null;
  }

  /**
   * Recalls a scheduled message not yet due; false if it is not waiting (delivered, recalled, half)
   * or its time has come (the alarm is about to deliver it: too late to recall).
   */
  recall(seq: number, now: number): boolean {
    return this.sql.exec('UPDATE scheduled SET state = 1, resolved = ? WHERE seq = ? AND state = 0 AND due > ? RETURNING seq', now, seq, now).toArray().length > 0;
  }

  count(): number {
    return this.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM scheduled WHERE state = 0').one().n;
  }

  nextDue(): number | null {
    return this.sql.exec<{ d: number | null }>('SELECT MIN(due) AS d FROM scheduled WHERE state = 0').one().d;
  }

  /** Forgets resolved rows older than the log keeps messages; returns their sequences. */
  purge(before: number, limit = 1000): number[] {
    return this.sql.exec<{ seq: number }>('DELETE FROM scheduled WHERE seq IN (SELECT seq FROM scheduled WHERE resolved < ? LIMIT ?) RETURNING seq',
      before, limit).toArray().map((r) => r.seq);
  }

  /** Whether a row with a sequence in [lo, hi) is kept. */
  anyIn(lo: number, hi: number): boolean {
    return this.sql.exec('SELECT 1 FROM scheduled WHERE seq >= ? AND seq < ? LIMIT 1', lo, hi).toArray().length > 0;
  }
}
