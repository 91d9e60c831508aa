/**
 * SQLite storage whose statements are counted as Durable Objects bill them (a cursor's rowsRead
 * and rowsWritten), in total and per statement text: what bench/cost.mjs reads through the
 * Broker's `costCounters`. A cursor's counts are final once it has been read, which the storage
 * code does before it yields (it never keeps a cursor across an await), so they are added up in a
 * microtask after the synchronous stretch that ran the statement.
 */
export interface StatementCost { n: number; rowsRead: number; rowsWritten: number }

export class SqlCost {
  readonly sql: SqlStorage;
  private readonly totals = { statements: 0, rowsRead: 0, rowsWritten: 0 };
  private readonly byStatement = new Map<string, StatementCost>();
  private open: [SqlStorageCursor<Record<string, SqlStorageValue>>, string][] = [];

  constructor(inner: SqlStorage) {
    const fold = () => this.fold();
    this.sql = {
      exec: (query: string, ...bindings: SqlStorageValue[]) => {
        const c = inner.exec(query, ...bindings);
        this.totals.statements++;
        if (this.open.push([c, query]) === 1) queueMicrotask(fold);
        return c;
      },
      get databaseSize() { return inner.databaseSize; },
    } as SqlStorage;
  }

  /** The counts so far, every statement run until now included. */
  report(): { statements: number; rowsRead: number; rowsWritten: number; byStatement: (StatementCost & { sql: string })[] } {
    this.fold();
    const byStatement = [...this.byStatement].map(([sql, c]) => ({ sql: sql.replace(/\s+/g, ' ').trim().slice(0, 120), ...c }));
    return { ...this.totals, byStatement };
  }

  private fold(): void {
    for (const [c, q] of this.open) {
      this.totals.rowsRead += c.rowsRead; this.totals.rowsWritten += c.rowsWritten;
      let e = this.byStatement.get(q);
      if (!e) this.byStatement.set(q, e = { n: 0, rowsRead: 0, rowsWritten: 0 });
      e.n++; e.rowsRead += c.rowsRead; e.rowsWritten += c.rowsWritten;
    }
    this.open = [];
  }
}
