/**
 * The filter of each push connection (by connection id), as a filter key (model/filter.ts): kept
 * for the connection's life, so that an object woken from hibernation still filters its sockets.
 */
export class PushFilters {
  constructor(private sql: SqlStorage) {}

  set(conn: string, filterKey: string): void {
    this.sql.exec('INSERT OR REPLACE INTO push_filters (conn, filter) VALUES (?, ?)', conn, filterKey);
  }

  /** The connection's filter key; null when it has none (every message). */
  get(conn: string): string | null {
    return this.sql.exec<{ filter: string }>('SELECT filter FROM push_filters WHERE conn = ?', conn).toArray()[0]?.filter ?? null;
  }

  drop(conn: string): void { this.sql.exec('DELETE FROM push_filters WHERE conn = ?', conn); }
}
