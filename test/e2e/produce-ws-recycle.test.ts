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
import { enc, sleep, uniq } from './client';
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
    const ws = new WebSocket(`${ctx.server.url.replace(/^http/, 'ws')}/v1/topics/${enc(t)}/messages/ws`);
    await new Promise((r) => ws.once('open', r));
    const answers: { id: number; type: string; code?: string }[] = [];
    ws.on('message', (d) => answers.push(JSON.parse(d.toString())));
    const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
    // one at a time: each send is one append
    for (let i = 0; i < 25 && ws.readyState === WebSocket.OPEN; i++) {
      ws.send(JSON.stringify({ type: 'send', id: i, messages: [{ body: `m${i}` }] }));
      const until = Date.now() + 5000;
      while (answers.length <= i && Date.now() < until) await sleep(5);
    }
    expect(await Promise.race([closed, sleep(10_000).then(() => -1)])).toBe(1012);
    const sent = answers.filter((a) => a.type === 'sent');
    expect(sent).toHaveLength(20);
    expect(answers.filter((a) => a.type === 'error').every((a) => a.code === 'OVERLOADED')).toBe(true);
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
