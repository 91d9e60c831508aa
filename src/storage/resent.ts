/** On a %DLQ% queue: which dead letters were resent to their topic, when, and as which message. */
export interface ResentAs { at: number; messageId: string }

export class Resent {
  constructor(private sql: SqlStorage) {}

  mark(off: number, at: number, messageId: string): void {
    this.sql.exec('INSERT OR REPLACE INTO resent (off, at, message_id) VALUES (?, ?, ?)', off, at, messageId);
  }

  has(off: number): boolean {
    return this.sql.exec('SELECT 1 FROM resent WHERE off = ?', off).toArray().length > 0;
  }

  /** Those of `offs` that were resent: one range read over the page's offsets, not the whole table. */
  of(offs: number[]): Map<number, ResentAs> {
    const out = new Map<number, ResentAs>();
    if (!offs.length) return out;
    const want = new Set(offs);
    const rows = this.sql.exec<{ off: number; at: number; message_id: string }>(
      'SELECT off, at, message_id FROM resent WHERE off >= ? AND off <= ?', Math.min(...offs), Math.max(...offs)).toArray();
    for (const r of rows) if (want.has(r.off)) out.set(r.off, { at: r.at, messageId: r.message_id });
    return out;
  }
}
