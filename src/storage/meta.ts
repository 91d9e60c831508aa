/** A queue's small settings by name (its route, whether it was dropped, the log's bookkeeping). */
export class Meta {
  constructor(private sql: SqlStorage) {}

  get(k: string): string | undefined {
    return this.sql.exec<{ v: string }>('SELECT v FROM meta WHERE k = ?', k).toArray()[0]?.v;
  }

  set(k: string, v: string): void {
    this.sql.exec('INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)', k, v);
  }
}
