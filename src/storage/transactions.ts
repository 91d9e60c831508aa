/**
 * Transactions of half messages on one queue. Open until the producer commits or rolls back; past
 * `due` the broker checks back (checkUrl) or, without one, rolls back at `timeoutMs`.
 */
export const enum TxState { Open = 0, Committed = 1, RolledBack = 2 }

export interface TxOpts {
  checkUrl?: string; checkAfterMs: number; checkIntervalMs: number; maxChecks: number; timeoutMs: number;
}

export interface Tx { id: number; state: TxState; created: number; due: number; checks: number; opts: TxOpts; resolved: number | null }

export class Transactions {
  constructor(private sql: SqlStorage) {}

  open(opts: TxOpts, now: number): number {
    const due = now + (opts.checkUrl ? opts.checkAfterMs : opts.timeoutMs);
    return this.sql.exec<{ id: number }>('INSERT INTO txs (state, created, due, checks, opts) VALUES (0, ?, ?, 0, ?) RETURNING id',
      now, due, JSON.stringify(opts)).one().id;
  }

  get(id: number): Tx | null {
    const r = this.sql.exec<{ id: number; state: number; created: number; due: number; checks: number; opts: string; resolved: number | null }>(
      'SELECT id, state, created, due, checks, opts, resolved FROM txs WHERE id = ?', id).toArray()[0];
    return r ? { ...r, state: r.state as TxState, opts: JSON.parse(r.opts) } : null;
  }

  resolve(id: number, state: TxState.Committed | TxState.RolledBack, now: number): void {
    this.sql.exec('UPDATE txs SET state = ?, resolved = ? WHERE id = ? AND state = 0', state, now, id);
  }

  /** Open transactions whose check (or timeout) is due. */
  due(now: number, limit = 50): Tx[] {
    return this.sql.exec<{ id: number }>('SELECT id FROM txs WHERE state = 0 AND due <= ? ORDER BY due LIMIT ?', now, limit)
      .toArray().map((r) => this.get(r.id)!);
  }

  /** A check is being asked: count it, and set when the transaction is due again if nothing answers. */
  checked(id: number, nextDue: number): void {
    this.sql.exec('UPDATE txs SET checks = checks + 1, due = ? WHERE id = ? AND state = 0', nextDue, id);
  }

  /** A check answered UNKNOWN (or failed): the next one is due then. */
  postpone(id: number, due: number): void {
    this.sql.exec('UPDATE txs SET due = ? WHERE id = ? AND state = 0', due, id);
  }

  nextDue(): number | null {
    return this.sql.exec<{ d: number | null }>('SELECT MIN(due) AS d FROM txs WHERE state = 0').one().d;
  }

  purge(before: number): void {
    this.sql.exec('DELETE FROM txs WHERE state <> 0 AND resolved < ?', before);
  }
}
