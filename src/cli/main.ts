/**
 * The `edgemq` command line: topics, sending and consuming, groups and offsets, message query and
 * trace, dead letters, tokens. `edgemq --help` lists it all; every command has `--help`.
 */
import { closest, commandHelp, usageLine, GLOBAL_OPTIONS, groupHelp, parseCommand, scan, UsageError, type Command, type Context, type OptionSpec } from './args';
import { consumeCommand } from './consume';
import { dlqCommands } from './dlq';
import { EXIT, EXIT_HELP, report } from './exit';
import { groupCommands } from './group';
import { messageCommands } from './message';
import { Output, type Stream } from './output';
import { sendCommand } from './send';
import { tokenCommands } from './token';
import { topicCommands } from './topic';

declare const __EDGEMQ_VERSION__: string | undefined;
export const VERSION = typeof __EDGEMQ_VERSION__ === 'string' ? __EDGEMQ_VERSION__ : 'dev';
export const DEFAULT_URL = 'http://127.0.0.1:8787';

export const COMMANDS: Command[] = [...topicCommands, sendCommand, consumeCommand, ...groupCommands, ...messageCommands, ...dlqCommands, ...tokenCommands];

const WORDS: Record<string, string> = {
  topic: 'create, list, show, update and delete topics',
  group: 'consumer groups: list, show, create, delete, reset-offset',
  message: 'find messages and follow their life: get, query, trace',
  dlq: "a group's dead letters: list, resend",
  token: 'issue, list and revoke access tokens',
};

function rootHelp(): string {
  const section = (title: string, cmds: Command[]) => {
    const rows = cmds.map((c) => [usageLine(c).replace(/^edgemq /, '').replace(/ \[options\]$/, ''), c.summary]);
    return [`${title}:`, ...rows.map(([p, s]) => `  ${p.padEnd(34)}  ${s}`)];
  };
  const by = (w: string) => COMMANDS.filter((c) => c.path[0] === w);
  return [
    `edgemq ${VERSION}: the command line of edgemq, a RocketMQ-style message queue on Cloudflare Workers`,
    '',
    'Usage: edgemq <command> [arguments] [options]',
    '',
    ...section('Messages', [sendCommand, consumeCommand, ...by('message')]),
    '',
    ...section('Topics', by('topic')),
    '',
    ...section('Consumer groups', [...by('group'), ...by('dlq')]),
    '',
    ...section('Access', by('token')),
    '',
    'Global options:',
    ...Object.entries(GLOBAL_OPTIONS).map(([n, o]) => `  ${`${o.short ? `-${o.short}, ` : ''}--${n}${o.type === 'string' ? ` ${o.value}` : ''}`.padEnd(34)}  ${o.description}`),
    '',
    'Getting started (a local server: `npm start` in the edgemq project):',
    '  edgemq topic create orders',
    '  edgemq send orders "hello" --tag greeting',
    '  edgemq consume orders --group billing',
    '',
    'Run `edgemq <command> --help` for its arguments, options and examples. Full guide: docs/cli.md.',
    EXIT_HELP,
    '',
  ].join('\n');
}

export interface Io {
  stdout: Stream;
  stderr: Stream;
  stdin: NodeJS.ReadStream;
  env: Record<string, string | undefined>;
  /** aborted on Ctrl-C */
  signal: AbortSignal;
}

/** Runs one command line; answers the exit code. */
export async function run(argv: string[], io: Io): Promise<number> {
  const allOptions: Record<string, OptionSpec> = { ...GLOBAL_OPTIONS };
  for (const c of COMMANDS) Object.assign(allOptions, c.options);
  let first: { positionals: string[]; values: Record<string, unknown> };
  try {
    first = scan(argv, allOptions);
  } catch {
    first = { positionals: argv.filter((a) => !a.startsWith('-')), values: {} };
  }
  const json = first.values.json === true;
  const out = new Output(io.stdout, io.stderr, first.values.quiet === true);
  const url = (typeof first.values.url === 'string' ? first.values.url : undefined) ?? io.env.EDGEMQ_URL ?? DEFAULT_URL;
  try {
    let words = first.positionals;
    let wantHelp = first.values.help === true;
    if (words[0] === 'help') { words = words.slice(1); wantHelp = true; }
    if (!words.length) {
      if (first.values.version === true) { out.line(VERSION); return EXIT.OK; }
      out.stdout.write(rootHelp());
      return wantHelp || argv.length === 0 ? EXIT.OK : EXIT.USAGE;
    }
    const [w0, w1] = words;
    let cmd = COMMANDS.find((c) => c.path.length === 1 && c.path[0] === w0)
      ?? COMMANDS.find((c) => c.path.length === 2 && c.path[0] === w0 && c.path[1] === w1);
    if (!cmd) {
      if (WORDS[w0]) {
        const subs = COMMANDS.filter((c) => c.path[0] === w0);
        if (w1 === undefined) {
          out.stdout.write(groupHelp(w0, subs, WORDS[w0]));
          return wantHelp ? EXIT.OK : EXIT.USAGE;
        }
        const guess = closest(w1, subs.map((c) => c.path[1]));
        throw new UsageError(`unknown command \`edgemq ${w0} ${w1}\`${guess ? `; did you mean \`edgemq ${w0} ${guess}\`?` : ''}`,
          `\`edgemq ${w0} --help\` lists its commands.`);
      }
      const guess = closest(w0, [...new Set(COMMANDS.map((c) => c.path[0]))]);
      throw new UsageError(`unknown command '${w0}'${guess ? `; did you mean \`edgemq ${guess}\`?` : ''}`, '`edgemq --help` lists the commands.');
    }
    if (wantHelp) { out.stdout.write(commandHelp(cmd)); return EXIT.OK; }
    const parsed = parseCommand(cmd, argv);
    const help = `See \`edgemq ${cmd.path.join(' ')} --help\`.`;
    const token = (typeof parsed.opts.token === 'string' ? parsed.opts.token : undefined) ?? io.env.EDGEMQ_TOKEN;
    const ctx: Context = {
      args: parsed.args, opts: parsed.opts, url, token: token || undefined, json, quiet: !!parsed.opts.quiet, out,
      stdin: io.stdin, signal: io.signal, help,
    };
    if (!/^https?:\/\/[^/]/i.test(url)) throw new UsageError(`--url must be an http(s) address like ${DEFAULT_URL} (got '${url}')`, help);
    const code = await cmd.run(ctx);
    return typeof code === 'number' ? code : EXIT.OK;
  } catch (e) {
    return report(e, out, { json, url });
  }
}
