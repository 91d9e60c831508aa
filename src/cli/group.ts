/** edgemq group list|show|create|delete|reset-offset */
import type { ConsumeFrom, GroupConfigInput, GroupMode, ResetTarget } from '../client/types';
import { duration, int, oneOf, str, time, UsageError, type Command, type Context } from './args';
import { ms, when } from './output';
import { admin } from './session';

const GROUP_ARG = { name: 'group', required: true, description: 'consumer group name: 1-120 of A-Z a-z 0-9 _ -' };
const MODES: readonly GroupMode[] = ['CLUSTERING', 'BROADCASTING'];

function consumeFrom(v: string, help: string): ConsumeFrom {
  const u = v.toUpperCase();
  if (u === 'FIRST' || u === 'LAST') return u;
  return { timestamp: time(v, 'consume-from', help) };
}

function filterText(f: unknown): string {
  if (f === null || f === undefined) return '*';
  if (typeof f === 'string') return f;
  if (typeof f === 'object' && f && 'sql' in f) return `sql: ${(f as { sql: string }).sql}`;
  return JSON.stringify(f);
}

function printConfig(ctx: Context, g: { name: string; mode: string; consumeFrom: unknown; maxRetries: number; retryPolicy: { type: string }; invisibleMs: number; createdAt: number }) {
  const rp = g.retryPolicy as { type: string; initialMs?: number; maxMs?: number; multiplier?: number };
  ctx.out.kv([
    ['name', g.name], ['mode', g.mode],
    ['consume from', typeof g.consumeFrom === 'string' ? g.consumeFrom : `timestamp ${when((g.consumeFrom as { timestamp: number }).timestamp)}`],
    ['max retries', g.maxRetries],
    ['retry policy', rp.type === 'EXPONENTIAL' ? `EXPONENTIAL ${ms(rp.initialMs)} x${rp.multiplier} up to ${ms(rp.maxMs)}` : `${rp.type} (10s 30s 1m 2m ... 2h)`],
    ['invisible', ms(g.invisibleMs)], ['created', when(g.createdAt)],
  ]);
}

export const groupCommands: Command[] = [
  {
    path: ['group', 'list'],
    summary: 'List consumer groups with their lag and live consumers',
    args: [],
    options: {},
    examples: ['edgemq group list'],
    async run(ctx) {
      const groups = await admin(ctx).listGroups();
      if (ctx.json) return ctx.out.json({ groups });
      ctx.out.table(['NAME', 'MODE', 'LAG', 'CONSUMERS'], groups.map((g) => [g.name, g.mode, g.lag, g.consumers]),
        { empty: 'no groups yet: a group is created when it first consumes (or with `edgemq group create`)' });
    },
  },
  {
    path: ['group', 'show'],
    summary: "Show a group's config, subscriptions, consumers and per-queue offsets and lag",
    args: [GROUP_ARG],
    options: {},
    examples: ['edgemq group show billing', 'edgemq group show billing --json | jq .lag'],
    async run(ctx) {
      const g = await admin(ctx).getGroup(ctx.args[0]);
      if (ctx.json) return ctx.out.json(g);
      printConfig(ctx, g);
      ctx.out.line(`lag:          ${g.lag}`);
      ctx.out.line();
      ctx.out.table(['TOPIC', 'FILTER'], g.subscriptions.map((s) => [s.topic, filterText(s.filter)]), { empty: 'no subscriptions' });
      ctx.out.line();
      ctx.out.table(['CONSUMER', 'TRANSPORT', 'TOPIC', 'SINCE / LAST SEEN'],
        g.consumers.map((c) => [c.consumerId, c.transport, c.topic, when(c.connectedAt ?? c.lastSeen)]), { empty: 'no live consumers' });
      ctx.out.line();
      ctx.out.table(['TOPIC', 'QUEUE', 'BROKER OFFSET', 'CONSUMER OFFSET', 'LAG', 'INFLIGHT', 'RETRYING'],
        g.queues.map((q) => [q.topic, q.queueId, q.brokerOffset, q.consumerOffset, q.lag, q.inflight, q.retrying]));
    },
  },
  {
    path: ['group', 'create'],
    summary: 'Create or update a consumer group',
    description: 'Groups are also created on first use with the defaults: CLUSTERING, from the oldest message,\n'
      + '16 retries with backoff 10s 30s 1m 2m ... 2h, 30s invisibility; then the dead-letter topic %DLQ%<group>.',
    args: [GROUP_ARG],
    options: {
      mode: { type: 'string', value: '<mode>', description: 'CLUSTERING (each message to one consumer) or BROADCASTING (to every consumer)' },
      'consume-from': { type: 'string', value: '<where>', description: 'first, last, or a time: where a new group starts' },
      'max-retries': { type: 'string', value: '<n>', description: 'deliveries after the first before dead-lettering, 0..32 (default 16)' },
      invisible: { type: 'string', value: '<duration>', description: 'how long a delivered message stays invisible, 1s..12h (default 30s)' },
      backoff: { type: 'string', value: '<spec>', description: 'customized (RocketMQ levels) or exponential:<initial>:<max>[:<multiplier>], e.g. exponential:1s:5m:2' },
    },
    examples: ['edgemq group create billing --max-retries 3 --invisible 1m', 'edgemq group create audit --mode BROADCASTING --consume-from last'],
    async run(ctx) {
      const cfg: GroupConfigInput = {};
      const mode = oneOf(ctx, 'mode', MODES, ctx.help);
      if (mode) cfg.mode = mode;
      const from = str(ctx, 'consume-from');
      if (from !== undefined) cfg.consumeFrom = consumeFrom(from, ctx.help);
      const retries = int(ctx, 'max-retries', 0, 32, ctx.help);
      if (retries !== undefined) cfg.maxRetries = retries;
      const inv = str(ctx, 'invisible');
      if (inv !== undefined) cfg.invisibleMs = duration(inv, 'invisible', ctx.help);
      const b = str(ctx, 'backoff');
      if (b !== undefined) {
        const [kind, initial, max, mult] = b.split(':');
        if (kind.toLowerCase() === 'customized' && initial === undefined) cfg.retryPolicy = { type: 'CUSTOMIZED' };
        else if (kind.toLowerCase() === 'exponential' && initial && max) {
          cfg.retryPolicy = { type: 'EXPONENTIAL', initialMs: duration(initial, 'backoff', ctx.help), maxMs: duration(max, 'backoff', ctx.help), multiplier: mult ? Number(mult) : 2 };
        } else throw new UsageError(`--backoff must be customized or exponential:<initial>:<max>[:<multiplier>] (got '${b}')`, ctx.help);
      }
      const g = await admin(ctx).putGroup(ctx.args[0], cfg);
      if (ctx.json) return ctx.out.json(g);
      printConfig(ctx, g);
    },
  },
  {
    path: ['group', 'delete'],
    summary: 'Delete a consumer group and its offsets',
    args: [GROUP_ARG],
    options: {},
    examples: ['edgemq group delete billing'],
    async run(ctx) {
      await admin(ctx).deleteGroup(ctx.args[0]);
      if (ctx.json) return ctx.out.json({ deleted: ctx.args[0] });
      ctx.out.note(`deleted group ${ctx.args[0]}`);
    },
  },
  {
    path: ['group', 'reset-offset'],
    summary: 'Move a group on a topic to the earliest or latest message, a time, or a queue offset',
    description: 'Consumers of the group continue from the new position; what it had in flight or retrying on\n'
      + 'that topic is dropped.',
    args: [GROUP_ARG],
    options: {
      topic: { type: 'string', short: 't', value: '<topic>', description: 'the topic (required)' },
      to: { type: 'string', value: '<where>', description: 'earliest, latest, or a time (ISO date, epoch ms, now-1h)' },
      queue: { type: 'string', value: '<id>', description: 'with --offset: one queue to move' },
      offset: { type: 'string', value: '<n>', description: 'with --queue: the queue offset to continue from' },
    },
    examples: [
      'edgemq group reset-offset billing --topic orders --to earliest',
      'edgemq group reset-offset billing --topic orders --to now-1h',
      'edgemq group reset-offset billing --topic orders --queue 2 --offset 1500',
    ],
    async run(ctx) {
      const topic = str(ctx, 'topic');
      if (!topic) throw new UsageError('reset-offset needs --topic <topic>', ctx.help);
      const to = str(ctx, 'to');
      const queue = int(ctx, 'queue', 0, 63, ctx.help);
      const offset = int(ctx, 'offset', 0, Number.MAX_SAFE_INTEGER, ctx.help);
      let target: ResetTarget;
      if (queue !== undefined || offset !== undefined) {
        if (to !== undefined) throw new UsageError('give --to, or --queue with --offset, not both', ctx.help);
        if (queue === undefined || offset === undefined) throw new UsageError('--queue and --offset go together', ctx.help);
        target = { queueId: queue, offset };
      } else if (to === undefined) {
        throw new UsageError('say where to: --to earliest|latest|<time>, or --queue <id> --offset <n>', ctx.help);
      } else if (/^(earliest|latest)$/i.test(to)) target = to.toUpperCase() as 'EARLIEST' | 'LATEST';
      else target = { timestamp: time(to, 'to', ctx.help) };
      const r = await admin(ctx).resetOffset(ctx.args[0], topic, target);
      if (ctx.json) return ctx.out.json(r);
      ctx.out.note(`group ${r.group} on ${r.topic} continues from:`);
      ctx.out.table(['QUEUE', 'OFFSET'], r.offsets.map((o) => [o.queueId, o.offset]));
    },
  },
];
