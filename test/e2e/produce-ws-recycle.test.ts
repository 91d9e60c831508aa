/**
 * A produce connection is recycled after CHANNEL_APPENDS_MAX appends (LIMITS.channelAppendsMax in
 * production; 20 here): later sends are answered OVERLOADED (nothing stored), the server closes
 * with 1012 once the earlier ones are answered, and the SDK's ProducerStream reconnects and sends
 * again, losing nothing and storing nothing twice, also without dedupIds. Both where a produce
 * socket ends: at the Broker (a topic of one queue) and in the Worker (several queues).
 */
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Producer } from '../../src/client/index';
import { sleep, uniq } from './client';
import { Channel } from './produce-client';
import { useServer } from './server';

const ctx = useServer({ vars: { ALLOW_ANONYMOUS: 'true', CHANNEL_APPENDS_MAX: '20' } });

async function topic(queues: number): Promise<string> {
  const t = uniq('recycle');
  await ctx.api.createTopic(t, { queues });
  return t;
}

describe.each([[1, 'at its Broker'], [2, 'in the Worker']])('recycling a produce connection (%i queues: the socket ends %s)', (queues) => {
  it('answers sends past the limit OVERLOADED, then closes with 1012 once the rest are answered', async () => {
    const t = await topic(queues);
    const ch = await Channel.open(ctx.server.url, t);
    // one at a time: each send is one append (a send the closing socket took is not waited for)
    for (let i = 0; i < 25 && ch.ws.readyState === WebSocket.OPEN; i++) {
      ch.send({ type: 'send', id: i, messages: [{ body: `m${i}` }] });
      await ch.answer(i, 5000).catch(() => null);
    }
    expect(await Promise.race([ch.closed.then(() => ch.closeCode), sleep(10_000).then(() => -1)])).toBe(1012);
    const answers = [...ch.answers.values()];
    const sent = answers.filter((a) => a.type === 'sent');
    expect(sent).toHaveLength(20);
    expect(answers.filter((a) => a.type === 'error').every((a) => a.code === 'OVERLOADED')).toBe(true);
    expect(ch.unmatched).toEqual([]); // every answer names its send
    expect(await ctx.api.stored(t)).toBe(20);
  });

  it('ProducerStream reconnects through recycling: every message stored once, with or without dedupIds', async () => {
    for (const idempotent of [false, true]) {
      const t = await topic(queues);
      const stream = await new Producer({ url: ctx.server.url, idempotent }).openStream(t);
      const results = [];
      for (let round = 0; round < 60; round++) {
        results.push(...await Promise.all(Array.from({ length: 10 }, (_, i) => stream.send({ body: `${round}.${i}` }))));
      }
      await stream.close();
      expect(stream.stats.reconnects).toBeGreaterThanOrEqual(2); // one append or two per round
      expect(new Set(results.map((r) => r.messageId)).size).toBe(600);
      const got = await ctx.api.drain(t, uniq('g'), { maxMessages: 256 });
      const bodies = got.map((m) => m.body as string).sort();
      expect(bodies).toEqual(Array.from({ length: 600 }, (_, k) => `${Math.floor(k / 10)}.${k % 10}`).sort());
    }
  });
});
