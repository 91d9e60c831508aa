/** Idempotent produce: the first result of each dedupId, kept for the topic's dedup window. */
export interface DedupHit { messageId: string; off: number | null }

export class Dedup {
  constructor(private sql: SqlStorage) {}

  find(id: string, now: number): DedupHit | null {
    const r = this.sql.exec<{ message_id: string; off: number | null }>(
      'SELECT message_id, off FROM dedup WHERE id = ? AND expires > ?', id, now).toArray()[0];
    return r ? { messageId: r.message_id, off: r.off } : null;
  }

  remember(id: string, hit: DedupHit, expires: number): void {
    this.sql.exec('INSERT OR REPLACE INTO dedup (id, message_id, off, expires) VALUES (?, ?, ?, ?)', id, hit.messageId, hit.off, expires);
  }

  purge(now: number, limit = 1000): void {
    this.sql.exec('DELETE FROM dedup WHERE id IN (SELECT id FROM dedup WHERE expires <= ? LIMIT ?)', now, limit);
  }

  nextDue(): number | null {
    return this.sql.exec<{ d: number | null }>('SELECT MIN(expires) AS d FROM dedup').one().d;
  }
}
