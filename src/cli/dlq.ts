/** edgemq dlq list|resend: a group's dead letters (topic %DLQ%<group>). */
import { int, str, UsageError, type Command } from './args';
import { bodyCell, when } from './output';
import { admin } from './session';

const GROUP_ARG = { name: 'group', required: true, description: 'the consumer group' };

export const dlqCommands: Command[] = [
  {
    path: ['dlq', 'list'],
    summary: "List a group's dead-lettered messages",
    description: 'A message is dead-lettered when its last delivery (1 + the group\'s maxRetries) fails. Its\n'
      + 'properties ORIGIN_TOPIC and ORIGIN_MESSAGE_ID say where it came from.',
    args: [GROUP_ARG],
    options: {
      limit: { type: 'string', value: '<n>', description: 'messages per page, 1..1000 (default 64)' },
      cursor: { type: 'string', value: '<cursor>', description: 'the next page, as the previous one said' },
    },
    examples: ['edgemq dlq list billing', 'edgemq dlq list billing --json | jq -r ".messages[].messageId"'],
    async run(ctx) {
      const page = await admin(ctx).listDeadLetters(ctx.args[0], { limit: int(ctx, 'limit', 1, 1000, ctx.help), cursor: str(ctx, 'cursor'), signal: ctx.signal });
      if (ctx.json) return ctx.out.json(page);
      ctx.out.table(['MESSAGE ID', 'ORIGIN TOPIC', 'ORIGIN MESSAGE ID', 'DEAD-LETTERED', 'RESENT', 'BODY'],
        page.messages.map((m) => [m.messageId, m.properties?.ORIGIN_TOPIC, m.properties?.ORIGIN_MESSAGE_ID, when(m.storeTimestamp), m.resent ? 'yes' : 'no', bodyCell(m, 40)]),
        { empty: `no dead letters for group ${ctx.args[0]}` });
      if (page.cursor) ctx.out.note(`more: add --cursor ${page.cursor}`);
    },
  },
  {
    path: ['dlq', 'resend'],
    summary: 'Put dead letters back on their origin topic for the group (these ids, or --all)',
    args: [GROUP_ARG, { name: 'messageId', variadic: true, description: 'dead-letter message ids (as `dlq list` shows)' }],
    options: { all: { type: 'boolean', description: 'resend every dead letter of the group' } },
    examples: ['edgemq dlq resend billing 0a1b2c... 0a1b2d...', 'edgemq dlq resend billing --all'],
    async run(ctx) {
      const ids = ctx.args.slice(1);
      if (!ids.length && !ctx.opts.all) throw new UsageError('say which: give message ids, or --all for every dead letter of the group', ctx.help);
      if (ids.length && ctx.opts.all) throw new UsageError('give message ids or --all, not both', ctx.help);
      const r = await admin(ctx).resendDeadLetters(ctx.args[0], ids.length ? ids : undefined);
      if (ctx.json) return ctx.out.json(r);
      const n = r.resent?.length ?? 0;
      if (n) ctx.out.table(['DEAD LETTER', 'TO TOPIC', 'NEW MESSAGE ID'], r.resent.map((x) => [x.messageId, x.topic, x.newMessageId]));
      for (const f of r.failed ?? []) ctx.out.note(`not resent: ${f.messageId}: ${f.reason}`);
      ctx.out.note(`resent ${n} dead letter${n === 1 ? '' : 's'} of ${ctx.args[0]}`);
      if (r.failed?.length) return 1;
    },
  },
];
