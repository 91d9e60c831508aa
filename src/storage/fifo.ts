/**
 * FIFO message groups: within one `messageGroup`, message n+1 is not delivered to a group before
 * message n is acked or dead-lettered; other message groups are not held back.
 *
 * Every FIFO message a group has reached but not finished has a row here. The lowest offset of
 * a message group is its head: the only one that may be out. A message that arrives behind a head
 * is held (it has a row here and nowhere else); when the head finishes, the next one is released
 * into `retries`, due at once, as its first delivery.
 */
export class Fifo {
  /** `any` per group, cached (asked on every ack): updated by the writes here, cleared by `resync` */
  private anyCache = new Map<string, boolean>();

  constructor(private sql: SqlStorage) {}

  resync(): void { this.anyCache.clear(); }

  /** Records a FIFO message the group reached; true if it may be delivered now (it is the head). */
  admit(grp: string, mg: string, off: number): boolean {
    const busy = this.sql.exec('SELECT 1 FROM fifo WHERE grp = ? AND mg = ? LIMIT 1', grp, mg).toArray().length > 0;
    this.sql.exec('INSERT OR IGNORE INTO fifo (grp, mg, off) VALUES (?, ?, ?)', grp, mg, off);
    this.anyCache.set(grp, true);
    return !busy;
  }

  /**
   * The message at `off` is finished for the group (acked or dead-lettered). Returns the offset
   * of the next message of its message group, now released, or null.
   */
  finish(grp: string, off: number): number | null {
    const row = this.sql.exec<{ mg: string }>('DELETE FROM fifo WHERE grp = ? AND off = ? RETURNING mg', grp, off).toArray()[0];
    if (!row) return null;
    this.anyCache.delete(grp);
    const next = this.sql.exec<{ off: number }>(
      'SELECT off FROM fifo WHERE grp = ? AND mg = ? ORDER BY off LIMIT 1', grp, row.mg).toArray()[0];
    return next ? next.off : null;
  }

  /** Whether the group has any FIFO message pending (so plain acks skip the per-message work). */
  any(grp: string): boolean {
    let a = this.anyCache.get(grp);
    if (a === undefined) this.anyCache.set(grp, (a = this.sql.exec('SELECT 1 FROM fifo WHERE grp = ? LIMIT 1', grp).toArray().length > 0));
    return a;
  }

  /** Whether the message at `off` is still waiting in its message group for the group (held or out). */
  pending(grp: string, off: number): boolean {
    return this.sql.exec('SELECT 1 FROM fifo WHERE grp = ? AND off = ?', grp, off).toArray().length > 0;
  }

  /** The smallest offset still waiting in a message group (held or out), for the consumer offset. */
  minOffset(grp: string): number | null {
    return this.sql.exec<{ m: number | null }>('SELECT MIN(off) AS m FROM fifo WHERE grp = ?', grp).one().m;
  }

  held(grp: string): number {
    return this.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM fifo WHERE grp = ?', grp).one().n;
  }

  drop(grp: string): void { this.sql.exec('DELETE FROM fifo WHERE grp = ?', grp); this.anyCache.set(grp, false); }
  dropBelow(off: number): void { this.sql.exec('DELETE FROM fifo WHERE off < ?', off); this.anyCache.clear(); }
}
