/** edgemq topic create|list|show|update|delete */
import type { TopicCreateInput, TopicPatch, TopicType } from '../client/types';
import { duration, int, oneOf, str, UsageError, type Command, type Context } from './args';
import { bytes, ms, when } from './output';
import { admin } from './session';

const TYPES: readonly TopicType[] = ['NORMAL', 'FIFO', 'DELAY', 'TRANSACTION', 'MIXED'];
const TOPIC_ARG = { name: 'topic', required: true, description: 'topic name: 1-127 of A-Z a-z 0-9 _ -' };

const configOptions = {
  queues: { type: 'string', value: '<n>', description: 'message queues, 1..64 (default 4; can only grow)' },
  'retention-hours': { type: 'string', value: '<h>', description: 'keep messages this long, 1..8760 (default 72)' },
  'max-message-bytes': { type: 'string', value: '<n>', description: 'largest message: body + tag + keys + properties (default 1048576, at most 4194304)' },
  'dedup-window': { type: 'string', value: '<duration>', description: 'how long a dedupId is remembered, e.g. 10m (default 10m, at most 7d)' },
} as const;

function config(ctx: Context, help: string): TopicPatch {
  const c: TopicPatch = {};
  const queues = int(ctx, 'queues', 1, 64, help);
  const retention = int(ctx, 'retention-hours', 1, 24 * 365, help);
  const maxBytes = int(ctx, 'max-message-bytes', 1, 4_194_304, help);
  const dedup = str(ctx, 'dedup-window');
  if (queues !== undefined) c.queues = queues;
  if (retention !== undefined) c.retentionHours = retention;
  if (maxBytes !== undefined) c.maxMessageBytes = maxBytes;
  if (dedup !== undefined) c.dedupWindowMs = duration(dedup, 'dedup-window', help);
  return c;
}

function printTopic(ctx: Context, t: { name: string; type: string; queues: number; retentionHours: number; maxMessageBytes: number; dedupWindowMs: number; createdAt: number; messages?: number; bytes?: number }) {
  ctx.out.kv([
    ['name', t.name], ['type', t.type], ['queues', t.queues], ['retention', `${t.retentionHours}h`],
    ['max message', bytes(t.maxMessageBytes)], ['dedup window', ms(t.dedupWindowMs)], ['created', when(t.createdAt)],
    ...(t.messages !== undefined ? [['messages', t.messages], ['size', bytes(t.bytes)]] as [string, number | string][] : []),
  ]);
}

export const topicCommands: Command[] = [
  {
    path: ['topic', 'create'],
    summary: 'Create a topic',
    description: 'A topic is split into queues (more queues: more throughput; FIFO order holds per message group).\n'
      + 'Its type restricts what it takes: NORMAL, FIFO (needs --group on send), DELAY (needs --delay),\n'
      + 'TRANSACTION, or MIXED (default: anything).',
    args: [TOPIC_ARG],
    options: {
      ...configOptions,
      type: { type: 'string', value: '<type>', description: 'NORMAL, FIFO, DELAY, TRANSACTION or MIXED (default MIXED)' },
    },
    examples: ['edgemq topic create orders', 'edgemq topic create payments --queues 8 --type FIFO --retention-hours 168'],
    async run(ctx) {
      const help = ctx.help;
      const input: TopicCreateInput = { name: ctx.args[0], ...config(ctx, help) };
      const type = oneOf(ctx, 'type', TYPES, help);
      if (type) input.type = type;
      const t = await admin(ctx).createTopic(input);
      if (ctx.json) return ctx.out.json(t);
      ctx.out.note(`created topic ${t.name}`);
      printTopic(ctx, t);
    },
  },
  {
    path: ['topic', 'list'],
    summary: 'List topics with their message counts and sizes',
    args: [],
    options: {},
    examples: ['edgemq topic list', 'edgemq topic list --json | jq -r ".topics[].name"'],
    async run(ctx) {
      const topics = await admin(ctx).listTopics();
      if (ctx.json) return ctx.out.json({ topics });
      ctx.out.table(['NAME', 'TYPE', 'QUEUES', 'MESSAGES', 'SIZE'],
        topics.map((t) => [t.name, t.type, t.queues, t.messages, bytes(t.bytes)]), { empty: 'no topics yet: create one with `edgemq topic create <name>`' });
    },
  },
  {
    path: ['topic', 'show'],
    summary: "Show a topic's config and each queue's offsets",
    args: [TOPIC_ARG],
    options: {},
    examples: ['edgemq topic show orders', "edgemq topic show '%DLQ%billing'"],
    async run(ctx) {
      const t = await admin(ctx).getTopic(ctx.args[0]);
      if (ctx.json) return ctx.out.json(t);
      printTopic(ctx, t);
      ctx.out.line();
      ctx.out.table(['QUEUE', 'MIN OFFSET', 'MAX OFFSET', 'MESSAGES', 'SIZE', 'LAST STORED'],
        t.queueStatus.map((q) => [q.queueId, q.minOffset, q.maxOffset, q.messages, bytes(q.bytes), when(q.lastStoreTimestamp)]));
    },
  },
  {
    path: ['topic', 'update'],
    summary: "Change a topic's retention, size limit or dedup window, or grow its queues",
    args: [TOPIC_ARG],
    options: configOptions,
    examples: ['edgemq topic update orders --queues 8', 'edgemq topic update orders --retention-hours 24'],
    async run(ctx) {
      const help = ctx.help;
      const patch = config(ctx, help);
      if (!Object.keys(patch).length) throw new UsageError('nothing to change: give --queues, --retention-hours, --max-message-bytes or --dedup-window', help);
      const t = await admin(ctx).updateTopic(ctx.args[0], patch);
      if (ctx.json) return ctx.out.json(t);
      ctx.out.note(`updated topic ${t.name}`);
      printTopic(ctx, t);
    },
  },
  {
    path: ['topic', 'delete'],
    summary: 'Delete a topic and all of its messages',
    args: [TOPIC_ARG],
    options: {},
    examples: ['edgemq topic delete orders'],
    async run(ctx) {
      await admin(ctx).deleteTopic(ctx.args[0]);
      if (ctx.json) return ctx.out.json({ deleted: ctx.args[0] });
      ctx.out.note(`deleted topic ${ctx.args[0]}`);
    },
  },
];
