/** edgemq message get|query|trace */
import type { Message, MessageQuery, TraceEvent } from '../client/types';
import { int, str, time, UsageError, type Command, type Context } from './args';
import { bodyCell, when } from './output';
import { admin } from './session';

const TOPIC_ARG = { name: 'topic', required: true, description: 'the topic' };
const ID_ARG = { name: 'messageId', required: true, description: 'the id send answered' };

export function messageRows(ms: Message[]) {
  return ms.map((m) => [m.messageId, m.queueId, m.queueOffset, when(m.storeTimestamp), m.tag, m.keys?.join(','), bodyCell(m)]);
}
export const MESSAGE_HEAD = ['MESSAGE ID', 'QUEUE', 'OFFSET', 'STORED', 'TAG', 'KEYS', 'BODY'];

function queryOf(ctx: Context): MessageQuery {
  const key = str(ctx, 'key');
  const queue = int(ctx, 'queue', 0, 63, ctx.help);
  const offset = int(ctx, 'offset', 0, Number.MAX_SAFE_INTEGER, ctx.help);
  const start = str(ctx, 'start');
  const end = str(ctx, 'end');
  const kinds = [key !== undefined, queue !== undefined || offset !== undefined, start !== undefined || end !== undefined].filter(Boolean).length;
  if (kinds !== 1) throw new UsageError('say what to look for: --key <key>, or --queue <id> [--offset <n>], or --start <time> [--end <time>]', ctx.help);
  if (key !== undefined) return { key };
  if (queue !== undefined || offset !== undefined) {
    if (queue === undefined) throw new UsageError('--offset needs --queue <id>', ctx.help);
    return { queueId: queue, offset: offset ?? 0 };
  }
  return { start: start === undefined ? 0 : time(start, 'start', ctx.help), end: end === undefined ? Date.now() : time(end, 'end', ctx.help) };
}

function detail(e: TraceEvent): string {
  return Object.entries(e).filter(([k, v]) => k !== 'type' && k !== 'at' && v !== null && v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ');
}

export const messageCommands: Command[] = [
  {
    path: ['message', 'get'],
    summary: 'Show one message: its body, attributes, state, and status in each group',
    args: [TOPIC_ARG, ID_ARG],
    options: {},
    examples: ['edgemq message get orders 0a1b2c3d...'],
    async run(ctx) {
      const m = await admin(ctx).getMessage(ctx.args[0], ctx.args[1]);
      if (ctx.json) return ctx.out.json(m);
      ctx.out.kv([
        ['message id', m.messageId], ['topic', m.topic], ['state', m.state], ['queue', m.queueId], ['offset', m.queueOffset],
        ['tag', m.tag], ['keys', m.keys?.join(', ')], ['message group', m.messageGroup],
        ['properties', m.properties && Object.keys(m.properties).length ? Object.entries(m.properties).map(([k, v]) => `${k}=${v}`).join(' ') : undefined],
        ['born', when(m.bornTimestamp)], ['stored', when(m.storeTimestamp)], ...(m.deliverAt ? [['deliver at', when(m.deliverAt)]] as [string, string][] : []),
        ['encoding', m.encoding], ['body', bodyCell(m, 10_000)],
      ]);
      if (m.groups?.length) {
        ctx.out.line();
        ctx.out.table(['GROUP', 'STATUS'], m.groups.map((g) => [g.group, g.status]));
      }
    },
  },
  {
    path: ['message', 'query'],
    summary: 'Find messages by key, by queue position, or by store time',
    description: 'Pages of --limit messages (default 64); --all follows every page. Times are ISO dates, epoch ms,\n'
      + 'now, or now-1h.',
    args: [TOPIC_ARG],
    options: {
      key: { type: 'string', short: 'k', value: '<key>', description: 'messages sent with this key' },
      queue: { type: 'string', value: '<id>', description: 'messages of this queue, from --offset' },
      offset: { type: 'string', value: '<n>', description: 'with --queue: the first offset (default 0)' },
      start: { type: 'string', value: '<time>', description: 'stored at or after this time' },
      end: { type: 'string', value: '<time>', description: 'stored at or before this time (default now)' },
      limit: { type: 'string', value: '<n>', description: 'messages per page, 1..1000 (default 64)' },
      cursor: { type: 'string', value: '<cursor>', description: 'the next page, as the previous one said' },
      all: { type: 'boolean', description: 'every page' },
    },
    examples: [
      'edgemq message query orders --key order-42',
      'edgemq message query orders --queue 0 --offset 100 --limit 10',
      'edgemq message query orders --start now-1h --all --json',
    ],
    async run(ctx) {
      const q = queryOf(ctx);
      const limit = int(ctx, 'limit', 1, 1000, ctx.help);
      const a = admin(ctx);
      let messages: Message[];
      let cursor: string | undefined;
      if (ctx.opts.all) {
        messages = [];
        const bar = ctx.out.progress('found');
        try {
          for await (const m of a.queryAll(ctx.args[0], q, { limit: limit ?? 1000, signal: ctx.signal })) {
            messages.push(m);
            bar.update(messages.length);
          }
        } finally { bar.done(); }
      } else {
        const page = await a.queryMessages(ctx.args[0], q, { limit, cursor: str(ctx, 'cursor'), signal: ctx.signal });
        messages = page.messages;
        cursor = page.cursor;
      }
      if (ctx.json) return ctx.out.json(cursor ? { messages, cursor } : { messages });
      ctx.out.table(MESSAGE_HEAD, messageRows(messages), { empty: 'no messages found' });
      if (cursor) ctx.out.note(`more: add --cursor ${cursor} (or --all)`);
    },
  },
  {
    path: ['message', 'trace'],
    summary: 'Show the life of a message: published, delivered, acked, retried, dead-lettered, ...',
    args: [TOPIC_ARG, ID_ARG],
    options: {},
    examples: ['edgemq message trace orders 0a1b2c3d...'],
    async run(ctx) {
      const events = await admin(ctx).trace(ctx.args[0], ctx.args[1]);
      if (ctx.json) return ctx.out.json({ events });
      ctx.out.table(['TIME', 'EVENT', 'DETAIL'], events.map((e) => [when(e.at), e.type, detail(e)]), { empty: 'no trace events' });
    },
  },
];
