/** edgemq consume: receive messages as a consumer group, print them, ack them. */
import { EdgeMQError } from '../client/errors';
import { sleep } from '../client/http';
import type { Filter, ReceivedMessage } from '../client/types';
import { duration, int, str, UsageError, type Command } from './args';
import { bodyCell, when } from './output';
import { simpleConsumer } from './session';

const row = (m: ReceivedMessage) => [m.messageId, m.queueId, m.queueOffset, m.deliveryAttempt, m.tag, m.keys?.join(','), bodyCell(m)];

export const consumeCommand: Command = {
  path: ['consume'],
  summary: 'Receive messages as a consumer group, print them and ack them',
  description: 'Without --follow: takes what is there now (up to --count, default 10), waiting up to --wait\n'
    + 'for the first message, then exits. With --follow: keeps receiving until Ctrl-C (or --count).\n'
    + 'Each printed message is acked, so the group does not get it again (--no-ack leaves it to come\n'
    + 'back after its invisibility). The group is created on first use, starting at the oldest message.',
  args: [{ name: 'topic', required: true, description: 'the topic to consume' }],
  options: {
    group: { type: 'string', short: 'g', value: '<group>', description: 'the consumer group (required)' },
    count: { type: 'string', short: 'n', value: '<n>', description: 'stop after this many messages (default 10; unlimited with --follow)' },
    follow: { type: 'boolean', short: 'f', description: 'keep receiving until Ctrl-C' },
    wait: { type: 'string', value: '<duration>', description: 'without --follow: how long to wait for the first message (default 2s)' },
    filter: { type: 'string', value: '<tags>', description: 'a tag expression: "created || paid"' },
    sql: { type: 'string', value: '<expr>', description: "an SQL92 filter over properties and tag: \"region = 'eu' AND amount > 10\"" },
    'no-ack': { type: 'boolean', description: 'print without acking (they come back after the invisibility)' },
    invisible: { type: 'string', value: '<duration>', description: 'invisibility of received messages (default: the group\'s, 30s)' },
    'consumer-id': { type: 'string', value: '<id>', description: 'this consumer\'s name (required for BROADCASTING groups)' },
  },
  examples: [
    'edgemq consume orders --group billing',
    'edgemq consume orders --group billing --follow',
    'edgemq consume orders -g billing --count 100 --json > out.ndjson',
    'edgemq consume orders -g audit --filter "created || paid" --no-ack',
  ],
  async run(ctx) {
    const topic = ctx.args[0];
    const group = str(ctx, 'group');
    if (!group) throw new UsageError('consume needs --group <group>: the consumer group to receive as', ctx.help);
    const follow = !!ctx.opts.follow;
    const count = int(ctx, 'count', 1, Number.MAX_SAFE_INTEGER, ctx.help) ?? (follow ? Infinity : 10);
    const firstWait = Math.min(duration(str(ctx, 'wait') ?? '2s', 'wait', ctx.help), 3_600_000);
    const invisible = str(ctx, 'invisible');
    const invisibleMs = invisible === undefined ? undefined : duration(invisible, 'invisible', ctx.help);
    const tags = str(ctx, 'filter');
    const sql = str(ctx, 'sql');
    if (tags !== undefined && sql !== undefined) throw new UsageError('give --filter or --sql, not both', ctx.help);
    const filter: Filter | undefined = sql !== undefined ? { sql } : tags;
    const ack = !ctx.opts['no-ack'];
    const c = simpleConsumer(ctx, { topic, group, filter, consumerId: str(ctx, 'consumer-id') });

    const rows: ReceivedMessage[] = [];
    let got = 0;
    let lost = false;
    const deadline = Date.now() + firstWait;
    const bar = ctx.out.stdout.isTTY ? { update() {}, done() {} } : ctx.out.progress('received');
    try {
      while (got < count && !ctx.signal.aborted) {
        const waitMs = follow ? 20_000 : got === 0 ? Math.max(0, Math.min(20_000, deadline - Date.now())) : 0;
        let msgs: ReceivedMessage[];
        try {
          msgs = await c.receive({ maxMessages: Math.min(256, count - got), waitMs, invisibleMs, signal: ctx.signal });
        } catch (e) {
          if (e instanceof EdgeMQError && e.code === 'ABORTED') break;
          // following: a server that restarts or is busy is waited for, as `tail -f` waits for its file
          if (follow && e instanceof EdgeMQError && e.retryable) {
            if (!lost) ctx.out.note(`edgemq: ${e.message}; retrying (Ctrl-C to stop)`);
            lost = true;
            await sleep(2000, ctx.signal).catch(() => undefined);
            continue;
          }
          throw e;
        }
        if (lost) { ctx.out.note('edgemq: receiving again'); lost = false; }
        if (!msgs.length) {
          if (follow || (got === 0 && Date.now() < deadline)) continue;
          break;
        }
        for (const m of msgs) {
          if (ctx.json) ctx.out.ndjson(m);
          else if (follow) {
            ctx.out.line(`${when(m.storeTimestamp)}  ${m.messageId}  q${m.queueId}@${m.queueOffset}  attempt ${m.deliveryAttempt}`
              + `${m.tag ? `  tag=${m.tag}` : ''}${m.keys?.length ? `  keys=${m.keys.join(',')}` : ''}  ${bodyCell(m, 200)}`);
          } else rows.push(m);
        }
        if (ack) {
          const results = await c.ack(msgs);
          const late = results.filter((r) => r.status !== 'OK').length;
          if (late) ctx.out.note(`${late} message(s) could not be acked (their invisibility ran out): the group gets them again`);
        }
        got += msgs.length;
        bar.update(got, Number.isFinite(count) ? count : undefined);
      }
    } finally {
      bar.done();
    }
    if (!ctx.json && !follow) {
      ctx.out.table(['MESSAGE ID', 'QUEUE', 'OFFSET', 'ATTEMPT', 'TAG', 'KEYS', 'BODY'], rows.map(row),
        { empty: `no messages for group ${group} on ${topic} (waited ${firstWait} ms)` });
    }
    if (got) ctx.out.note(`received ${got} message${got === 1 ? '' : 's'}${ack ? ', acked' : ' (not acked)'}`);
  },
};
