/** edgemq send: messages from arguments or stdin, with tag, keys, properties, delay, message group. */
import type { Encoding, MessageInput, SendResult } from '../client/types';
import { duration, list, oneOf, str, time, UsageError, type Command, type Context } from './args';
import { producer } from './session';

const ENCODINGS: readonly Encoding[] = ['text', 'json', 'base64'];

async function readStdin(stdin: NodeJS.ReadStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stdin) chunks.push(typeof c === 'string' ? Buffer.from(c) : c as Buffer);
  return Buffer.concat(chunks);
}

/** The bodies to send: the arguments, else stdin (one per line, or all of it with --whole). */
async function bodies(ctx: Context, encoding: Encoding | undefined): Promise<{ body: string; where: string }[]> {
  const args = ctx.args.slice(1);
  if (args.length) {
    if (ctx.opts.whole) throw new UsageError('--whole reads stdin: give bodies as arguments or on stdin, not both', ctx.help);
    return args.map((body, i) => ({ body, where: `argument ${i + 2}` }));
  }
  if (ctx.stdin.isTTY) {
    throw new UsageError('nothing to send: give message bodies as arguments, or pipe them on stdin (one per line)', ctx.help);
  }
  const data = await readStdin(ctx.stdin);
  if (ctx.opts.whole) return [{ body: encoding === 'base64' ? data.toString('base64') : data.toString('utf8'), where: 'stdin' }];
  return data.toString('utf8').split(/\r?\n/).map((body, i) => ({ body, where: `stdin line ${i + 1}` })).filter((b) => b.body.trim() !== '');
}

export const sendCommand: Command = {
  path: ['send'],
  summary: 'Send messages: each argument, or each line of stdin, is one message',
  description: 'A message is stored durably before this answers. Bodies are text unless --encoding says otherwise;\n'
    + 'many messages go in as few requests as the server allows (1000 messages or 8 MiB each).',
  args: [
    { name: 'topic', required: true, description: 'the topic to send to' },
    { name: 'body', variadic: true, description: 'message bodies; without any, stdin is read (one message per line)' },
  ],
  options: {
    tag: { type: 'string', value: '<tag>', description: 'the tag consumers filter on (no "|")' },
    key: { type: 'string', multiple: true, value: '<key>', description: 'a key to find the message by (`edgemq message query --key`)' },
    property: { type: 'string', short: 'p', multiple: true, value: '<name=value>', description: 'a property (SQL filters see these)' },
    delay: { type: 'string', value: '<duration>', description: 'deliver after this long: 30s, 5m, 2h (a scheduled message)' },
    'deliver-at': { type: 'string', value: '<time>', description: 'deliver at this time: ISO date, epoch ms, or now+1h' },
    group: { type: 'string', short: 'g', value: '<group>', description: 'message group: FIFO order within it' },
    'dedup-id': { type: 'string', value: '<id>', description: 'idempotency key: a repeat within the dedup window stores nothing (one message only)' },
    encoding: { type: 'string', short: 'e', value: '<enc>', description: 'text (default), json (parse each body as JSON) or base64' },
    whole: { type: 'boolean', description: 'all of stdin is one message (with --encoding base64: its raw bytes)' },
  },
  examples: [
    'edgemq send orders "hello" "world"',
    'edgemq send orders \'{"id":42}\' --encoding json --tag created --key order-42',
    'edgemq send orders "remind me" --delay 10m',
    'edgemq send payments "debit 10" --group account-7',
    'cat events.ndjson | edgemq send orders --encoding json',
    'edgemq send files --whole --encoding base64 < photo.jpg',
  ],
  async run(ctx) {
    const topic = ctx.args[0];
    const encoding = oneOf(ctx, 'encoding', ENCODINGS, ctx.help);
    const delay = str(ctx, 'delay');
    const at = str(ctx, 'deliver-at');
    if (delay !== undefined && at !== undefined) throw new UsageError('give --delay or --deliver-at, not both', ctx.help);
    const properties: Record<string, string> = {};
    for (const p of list(ctx, 'property')) {
      const i = p.indexOf('=');
      if (i <= 0) throw new UsageError(`--property must be name=value (got '${p}')`, ctx.help);
      properties[p.slice(0, i)] = p.slice(i + 1);
    }
    const base: Omit<MessageInput, 'body'> = {};
    if (encoding) base.encoding = encoding;
    if (str(ctx, 'tag') !== undefined) base.tag = str(ctx, 'tag');
    if (list(ctx, 'key').length) base.keys = list(ctx, 'key');
    if (Object.keys(properties).length) base.properties = properties;
    if (delay !== undefined) base.delayMs = duration(delay, 'delay', ctx.help);
    if (at !== undefined) base.deliverAt = time(at, 'deliver-at', ctx.help);
    if (str(ctx, 'group') !== undefined) base.messageGroup = str(ctx, 'group');

    const input = await bodies(ctx, encoding);
    if (!input.length) throw new UsageError('nothing to send: stdin had no lines', ctx.help);
    const dedupId = str(ctx, 'dedup-id');
    if (dedupId !== undefined && input.length > 1) throw new UsageError(`--dedup-id names one message; there are ${input.length}`, ctx.help);
    const messages: MessageInput[] = input.map(({ body, where }) => {
      let b: unknown = body;
      if (encoding === 'json') {
        try { b = JSON.parse(body); } catch (e) { throw new UsageError(`${where} is not JSON (--encoding json): ${(e as Error).message}`, ctx.help); }
      }
      return { body: b, ...base, ...(dedupId !== undefined ? { dedupId } : {}) };
    });

    const p = producer(ctx);
    let results: SendResult[];
    if (messages.length === 1) results = [await p.send(topic, messages[0], { signal: ctx.signal })];
    else {
      const bar = ctx.out.progress(`sending to ${topic}:`);
      try {
        results = await p.sendBatch(topic, messages, { signal: ctx.signal, onProgress: (n, total) => bar.update(n, total) });
      } finally { bar.done(); }
    }
    if (ctx.json) return ctx.out.json({ messages: results });
    if (results.length <= 20) {
      ctx.out.table(['MESSAGE ID', 'QUEUE', 'OFFSET', 'NOTE'], results.map((r) => [
        r.messageId, r.queueId, r.queueOffset ?? 'scheduled', r.duplicate ? 'duplicate: stored before' : '',
      ]));
    }
    const dups = results.filter((r) => r.duplicate).length;
    ctx.out.note(`sent ${results.length} message${results.length === 1 ? '' : 's'} to ${topic}${dups ? ` (${dups} duplicate${dups === 1 ? '' : 's'})` : ''}`);
  },
};
