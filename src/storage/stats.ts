/**
 * Per-minute counters of one queue: produced (group ''), consumed per group, and each group's lag
 * at the end of the minute. The current minute is counted in memory and written once, when the
 * next minute's first operation arrives (or the alarm runs), so stats cost a row per minute of
 * activity, not per message.
 */
export interface MinutePoint { minute: number; produced: number; consumed: number; lag: number | null }

export class Stats {
  private minute = 0;
  private produced = 0;
  private consumed = new Map<string, number>();
  /** recent per-second rates for TPS */
  private recent: { at: number; produced: number; consumed: number }[] = [];

  constructor(private sql: SqlStorage, private lagOf: (grp: string) => number | null) {}

  private roll(now: number): void {
    const m = Math.floor(now / 60_000);
    if (m === this.minute) return;
    if (this.minute && (this.produced || this.consumed.size)) this.flush();
    this.minute = m;
  }

  /** Writes the counted minute (called on roll-over and before the object may sleep). */
  flush(): void {
    if (!this.minute || (!this.produced && !this.consumed.size)) return;
    this.sql.exec('INSERT INTO stats (minute, grp, produced, consumed, lag) VALUES (?, \'\', ?, 0, NULL) ON CONFLICT (minute, grp) DO UPDATE SET produced = produced + excluded.produced',
      this.minute, this.produced);
    for (const [g, n] of this.consumed) {
      this.sql.exec('INSERT INTO stats (minute, grp, produced, consumed, lag) VALUES (?, ?, 0, ?, ?) ON CONFLICT (minute, grp) DO UPDATE SET consumed = consumed + excluded.consumed, lag = excluded.lag',
        this.minute, g, n, this.lagOf(g));
    }
    this.produced = 0;
    this.consumed.clear();
  }

  countProduced(n: number, now: number): void {
    this.roll(now);
    this.produced += n;
    this.tick(now, n, 0);
  }

  countConsumed(grp: string, n: number, now: number): void {
    this.roll(now);
    this.consumed.set(grp, (this.consumed.get(grp) ?? 0) + n);
    this.tick(now, 0, n);
  }

  private tick(now: number, p: number, c: number): void {
    const last = this.recent[this.recent.length - 1];
    const sec = Math.floor(now / 1000) * 1000;
    if (last && last.at === sec) { last.produced += p; last.consumed += c; } else this.recent.push({ at: sec, produced: p, consumed: c });
    while (this.recent.length && this.recent[0].at < sec - 10_000) this.recent.shift();
  }

  /** Messages per second over the last 10 s. */
  tps(now: number): { produceTps: number; consumeTps: number } {
    const from = Math.floor(now / 1000) * 1000 - 10_000;
    const r = this.recent.filter((x) => x.at >= from);
    const sum = (f: (x: { produced: number; consumed: number }) => number) => r.reduce((n, x) => n + f(x), 0);
    return { produceTps: sum((x) => x.produced) / 10, consumeTps: sum((x) => x.consumed) / 10 };
  }

  /** Per-minute points since `fromMinute`; `grp` null = the produced series, else that group's. */
  series(fromMinute: number, grp: string | null, now: number): MinutePoint[] {
    this.roll(now);
    const rows = this.sql.exec<{ minute: number; produced: number; consumed: number; lag: number | null; grp: string }>(
      'SELECT minute, grp, produced, consumed, lag FROM stats WHERE minute >= ? AND (grp = \'\' OR grp = ?) ORDER BY minute',
      fromMinute, grp ?? '').toArray();
    const byMinute = new Map<number, MinutePoint>();
    const point = (m: number) => byMinute.get(m) ?? byMinute.set(m, { minute: m, produced: 0, consumed: 0, lag: null }).get(m)!;
    for (const r of rows) {
      const p = point(r.minute);
      if (r.grp === '') p.produced += r.produced; else { p.consumed += r.consumed; p.lag = r.lag; }
    }
    // the minute still in memory
    if (this.produced || (grp && this.consumed.has(grp))) {
      const p = point(this.minute);
      p.produced += this.produced;
      if (grp) { p.consumed += this.consumed.get(grp) ?? 0; p.lag = this.lagOf(grp); }
    }
    return [...byMinute.values()].sort((a, b) => a.minute - b.minute);
  }

  purge(beforeMinute: number): void { this.sql.exec('DELETE FROM stats WHERE minute < ?', beforeMinute); }
}
