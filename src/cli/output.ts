/** What the CLI prints: tables and key/value blocks for people, JSON for scripts, progress on stderr. */

export interface Stream { write(s: string): unknown; isTTY?: boolean; columns?: number }

export type Cell = string | number | boolean | null | undefined;

export class Output {
  constructor(readonly stdout: Stream, readonly stderr: Stream, private readonly quiet: boolean) {}

  line(s = ''): void { this.stdout.write(`${s}\n`); }
  note(s: string): void { this.stderr.write(`${s}\n`); }

  json(v: unknown): void { this.stdout.write(`${JSON.stringify(v, null, 2)}\n`); }
  /** One JSON value per line (NDJSON), for streams. */
  ndjson(v: unknown): void { this.stdout.write(`${JSON.stringify(v)}\n`); }

  table(head: string[], rows: Cell[][], opts: { empty?: string } = {}): void {
    if (!rows.length) { this.note(opts.empty ?? '(none)'); return; }
    const cells = rows.map((r) => r.map(cell));
    const w = head.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
    const fmt = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]))).join('  ').trimEnd();
    this.line(fmt(head));
    for (const r of cells) this.line(fmt(r));
  }

  kv(pairs: [string, Cell][]): void {
    const w = Math.max(...pairs.map(([k]) => k.length));
    for (const [k, v] of pairs) this.line(`${`${k}:`.padEnd(w + 1)} ${cell(v)}`);
  }

  /** A progress line on stderr, rewritten in place; only on a terminal, and never with --quiet. */
  progress(label: string): { update(n: number, total?: number): void; done(): void } {
    const on = !this.quiet && !!this.stderr.isTTY;
    let last = 0;
    let shown = false;
    return {
      update: (n, total) => {
        if (!on || (Date.now() - last < 100 && n !== total)) return;
        last = Date.now();
        shown = true;
        this.stderr.write(`\r${label} ${n}${total !== undefined ? `/${total}` : ''}\x1b[K`);
      },
      done: () => { if (shown) this.stderr.write('\r\x1b[K'); },
    };
  }
}

function cell(v: Cell): string {
  if (v === null || v === undefined || v === '') return '-';
  return String(v).replace(/\s*\n\s*/g, ' ');
}

/** `2025-06-01 12:00:00Z` (UTC), or '-' */
export function when(ms: number | null | undefined): string {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms <= 0) return '-';
  return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

export function bytes(n: number | null | undefined): string {
  if (typeof n !== 'number') return '-';
  if (n < 1024) return `${n} B`;
  const u = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${u[i]}`;
}

export function ms(n: number | null | undefined): string {
  if (typeof n !== 'number') return '-';
  if (n % 86_400_000 === 0 && n) return `${n / 86_400_000}d`;
  if (n % 3_600_000 === 0 && n) return `${n / 3_600_000}h`;
  if (n % 60_000 === 0 && n) return `${n / 60_000}m`;
  if (n % 1000 === 0 && n) return `${n / 1000}s`;
  return `${n}ms`;
}

/** A body for a table cell: text, JSON text, or `<N bytes base64>`, cut to `max` characters. */
export function bodyCell(m: { body?: unknown; encoding?: string }, max = 60): string {
  const s = m.encoding === 'base64' ? `<${Math.floor((String(m.body).length * 3) / 4)} bytes, base64>`
    : typeof m.body === 'string' && m.encoding !== 'json' ? m.body : JSON.stringify(m.body);
  const flat = (s ?? '').replace(/\s*\n\s*/g, ' ');
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
