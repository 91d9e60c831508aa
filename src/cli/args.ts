/**
 * Commands and their options, parsed with node:util parseArgs: a declaration per command (its
 * arguments, options, examples) from which both the parsing and the help are made.
 */
import { parseArgs } from 'node:util';
import type { Output } from './output';

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  /** placeholder in help, e.g. `<n>` */
  value?: string;
  description: string;
}

export interface ArgSpec { name: string; required?: boolean; variadic?: boolean; description: string }

export interface Context {
  args: string[];
  opts: Record<string, string | boolean | string[] | undefined>;
  url: string;
  token?: string;
  json: boolean;
  quiet: boolean;
  out: Output;
  stdin: NodeJS.ReadStream;
  /** aborted on Ctrl-C */
  signal: AbortSignal;
  /** "See `edgemq topic create --help`." for usage errors */
  help: string;
}

export interface Command {
  path: string[];
  summary: string;
  description?: string;
  args: ArgSpec[];
  options: Record<string, OptionSpec>;
  examples: string[];
  run(ctx: Context): Promise<number | void>;
}

/** A mistake in how the command was called: exit 2 with the message and where to read more. */
export class UsageError extends Error {
  constructor(message: string, readonly help: string) { super(message); }
}

export const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  url: { type: 'string', value: '<url>', description: 'the server (default: $EDGEMQ_URL, else http://127.0.0.1:8787)' },
  token: { type: 'string', value: '<token>', description: 'bearer token (default: $EDGEMQ_TOKEN)' },
  json: { type: 'boolean', description: 'print JSON for scripts (consume prints one message per line)' },
  quiet: { type: 'boolean', short: 'q', description: 'no progress on stderr' },
  help: { type: 'boolean', short: 'h', description: 'show help' },
  version: { type: 'boolean', short: 'V', description: 'print the version' },
};

const flag = (name: string, o: OptionSpec) => `${o.short ? `-${o.short}, ` : ''}--${name}${o.type === 'string' ? ` ${o.value ?? '<value>'}` : ''}`;

export const commandName = (c: Command) => `edgemq ${c.path.join(' ')}`;

export function usageLine(c: Command): string {
  const args = c.args.map((a) => {
    const s = `<${a.name}>${a.variadic ? '...' : ''}`;
    return a.required ? s : `[${s}]`;
  });
  return [commandName(c), ...args, Object.keys(c.options).length ? '[options]' : ''].filter(Boolean).join(' ');
}

function optionRows(opts: Record<string, OptionSpec>): string[] {
  const rows = Object.entries(opts).map(([n, o]) => [flag(n, o), o.description + (o.multiple ? ' (repeatable)' : '')]);
  const w = Math.max(...rows.map((r) => r[0].length));
  return rows.map(([f, d]) => `  ${f.padEnd(w)}  ${d}`);
}

export function commandHelp(c: Command): string {
  const lines = [`${commandName(c)}: ${c.summary}`, '', `Usage: ${usageLine(c)}`];
  if (c.description) lines.push('', ...c.description.split('\n'));
  if (c.args.length) {
    const w = Math.max(...c.args.map((a) => a.name.length + 2));
    lines.push('', 'Arguments:', ...c.args.map((a) => `  ${`<${a.name}>`.padEnd(w)}  ${a.description}`));
  }
  if (Object.keys(c.options).length) lines.push('', 'Options:', ...optionRows(c.options));
  lines.push('', 'Global options:', ...optionRows(GLOBAL_OPTIONS));
  if (c.examples.length) lines.push('', 'Examples:', ...c.examples.map((e) => `  ${e}`));
  return lines.join('\n') + '\n';
}

/** Help for a word with subcommands (`edgemq topic`). */
export function groupHelp(word: string, cmds: Command[], about: string): string {
  const rows = cmds.map((c) => [usageLine(c).replace(/ \[options\]$/, ''), c.summary]);
  const w = Math.max(...rows.map((r) => r[0].length));
  return [`edgemq ${word}: ${about}`, '', 'Commands:', ...rows.map(([u, s]) => `  ${u.padEnd(w)}  ${s}`), '',
    `Run \`edgemq ${word} <command> --help\` for a command's arguments, options and examples.`].join('\n') + '\n';
}

/** Levenshtein distance, for "did you mean". */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return d[a.length][b.length];
}

export function closest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const dd = distance(word, c);
    if (dd < bestD) { bestD = dd; best = c; }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

type ParseOpts = Parameters<typeof parseArgs>[0] & object;
type Options = NonNullable<ParseOpts['options']>;

const toParse = (specs: Record<string, OptionSpec>): Options =>
  Object.fromEntries(Object.entries(specs).map(([n, o]) => [n, { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) }]));

/** Lenient pass over every option any command knows: where the command words are, and --help. */
export function scan(argv: string[], all: Record<string, OptionSpec>): { positionals: string[]; values: Record<string, unknown> } {
  const r = parseArgs({ args: argv, options: toParse(all), strict: false, allowPositionals: true });
  return { positionals: r.positionals, values: r.values };
}

/** The strict parse of one command's options; positionals after the command words. */
export function parseCommand(c: Command, argv: string[]): { args: string[]; opts: Context['opts'] } {
  const specs = { ...GLOBAL_OPTIONS, ...c.options };
  const see = `See \`${commandName(c)} --help\`.`;
  let r: { values: Record<string, unknown>; positionals: string[] };
  try {
    r = parseArgs({ args: argv, options: toParse(specs), strict: true, allowPositionals: true });
  } catch (e) {
    const err = e as { code?: string; message: string };
    const opt = /'([^']+)'/.exec(err.message)?.[1] ?? '';
    if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const name = opt.replace(/^-+/, '').split('=')[0];
      const guess = closest(name, Object.keys(specs));
      throw new UsageError(`unknown option '${opt}' for \`${commandName(c)}\`${guess ? `; did you mean --${guess}?` : ''}`, see);
    }
    if (err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      const name = opt.replace(/^-+/, '').split(/[ ,]/)[0];
      const spec = specs[name];
      throw new UsageError(spec?.type === 'boolean' ? `option --${name} takes no value` : `option --${name} needs a value${spec?.value ? ` ${spec.value}` : ''}`, see);
    }
    throw new UsageError(err.message, see);
  }
  const args = r.positionals.slice(c.path.length);
  const required = c.args.filter((a) => a.required);
  if (args.length < required.length) {
    const missing = required.slice(args.length).map((a) => `<${a.name}>`).join(' ');
    throw new UsageError(`missing ${missing}: usage: ${usageLine(c)}`, see);
  }
  if (!c.args.some((a) => a.variadic) && args.length > c.args.length) {
    throw new UsageError(`unexpected argument '${args[c.args.length]}': usage: ${usageLine(c)}`, see);
  }
  return { args, opts: r.values as Context['opts'] };
}

// ---- values ----

export function str(ctx: Context, name: string): string | undefined {
  const v = ctx.opts[name];
  return typeof v === 'string' ? v : undefined;
}

export function list(ctx: Context, name: string): string[] {
  const v = ctx.opts[name];
  return Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
}

export function int(ctx: Context, name: string, min: number, max: number, help: string): number | undefined {
  const v = str(ctx, name);
  if (v === undefined) return undefined;
  if (!/^-?\d+$/.test(v.trim()) || Number(v) < min || Number(v) > max) {
    throw new UsageError(`--${name} must be a whole number from ${min} to ${max} (got '${v}')`, help);
  }
  return Number(v);
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `1500` (ms), `500ms`, `10s`, `5m`, `2h`, `1d`. */
export function duration(v: string, name: string, help: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(v.trim());
  if (!m) throw new UsageError(`--${name} must be a duration like 1500 (ms), 500ms, 10s, 5m, 2h or 1d (got '${v}')`, help);
  return Math.round(Number(m[1]) * UNITS[m[2] ?? 'ms']);
}

/** Epoch ms, an ISO date (`2025-06-01T12:00:00Z`), `now`, or `now-1h` / `now+10m`. */
export function time(v: string, name: string, help: string): number {
  const s = v.trim();
  if (/^\d{10,}$/.test(s)) return Number(s);
  const rel = /^now(?:([+-])(.+))?$/.exec(s);
  if (rel) {
    if (!rel[1]) return Date.now();
    const d = duration(rel[2], name, help);
    return rel[1] === '+' ? Date.now() + d : Date.now() - d;
  }
  const t = Date.parse(s);
  if (Number.isNaN(t)) throw new UsageError(`--${name} must be a time: epoch ms, an ISO date like 2025-06-01T12:00:00Z, now, or now-1h (got '${v}')`, help);
  return t;
}

export function oneOf<T extends string>(ctx: Context, name: string, values: readonly T[], help: string): T | undefined {
  const v = str(ctx, name);
  if (v === undefined) return undefined;
  const hit = values.find((x) => x.toLowerCase() === v.toLowerCase());
  if (!hit) throw new UsageError(`--${name} must be one of ${values.join(', ')} (got '${v}')`, help);
  return hit;
}
