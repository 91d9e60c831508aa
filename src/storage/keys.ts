/** The key index: every message key, indexed when the message enters the log (O(log n) lookup). */
export class KeyIndex {
  constructor(private sql: SqlStorage) {}

  add(keys: string[], off: number): void {
    for (const k of keys) this.sql.exec('INSERT OR IGNORE INTO keyidx (k, off) VALUES (?, ?)', k, off);
  }

  /** Offsets holding `key`, after `after`, in log order. */
  find(key: string, after: number, limit: number): number[] {
    return this.sql.exec<{ off: number }>('SELECT off FROM keyidx WHERE k = ? AND off > ? ORDER BY off LIMIT ?', key, after, limit)
      .toArray().map((r) => r.off);
  }

  dropBelow(off: number): void { this.sql.exec('DELETE FROM keyidx WHERE off < ?', off); }
}
