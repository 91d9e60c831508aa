/**
 * The WebSocket produce channel (GET /v1/topics/{topic}/messages/ws, docs/api.md) against a real
 * `wrangler dev`: pipelined sends answered by id once stored, order per queue, message groups,
 * bad frames, refusals, a deleted topic; and the SDK's ProducerStream, including a server restart
 * in the middle of a stream (resent, stored once).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { EdgeMQError, Producer } from '../../src/client/index';
import { Api, enc, expectError, sleep, uniq, type Json } from './client';
import { Channel } from './produce-client';
import { useServer } from './server';

const ctx = useServer();
let api: Api;
beforeAll(() => { api = ctx.api; });

async function topic(prefix: string, cfg: Record<string, unknown> = {}): Promise<string> {
  const t = uniq(prefix);
  await api.createTopic(t, { queues: 1, ...cfg });
  return t;
}

describe('the produce channel', () => {
  it('answers pipelined sends by id once stored; one queue keeps the order they were sent in', async () => {
    const t = await topic('pws-order');
    const ch = await Channel.open(ctx.server.url, t);
    for (let i = 0; i < 300; i++) ch.send({ type: 'send', id: i, messages: [{ body: `b${i}`, tag: 'T', keys: [`k${i}`] }] });
    const answers = await Promise.all(Array.from({ length: 300 }, (_, i) => ch.answer(i)));
    const offsets = answers.map((a) => {
      expect(a.type).toBe('sent');
      expect(a.messages).toHaveLength(1);
      return a.messages[0].queueOffset as number;
    });
    for (let i = 1; i < 300; i++) expect(offsets[i]).toBeGreaterThan(offsets[i - 1]);
    expect(new Set(answers.map((a) => a.messages[0].messageId)).size).toBe(300);
    const got = await api.drain(t, uniq('g'), { maxMessages: 256 });
    expect(got.map((m) => m.body)).toEqual(Array.from({ length: 300 }, (_, i) => `b${i}`));
    // what a send answered is what query finds
    const one = await api.get(`/v1/topics/${enc(t)}/messages/${answers[7].messages[0].messageId}`);
    expect(one.body).toMatchObject({ body: 'b7', tag: 'T', keys: ['k7'], queueOffset: offsets[7] });
    ch.ws.close();
  });

  it('a socket its Broker holds (a topic of one queue) goes on when the topic grows: sends spread to the new queue, each stored once', async () => {
    const t = await topic('pws-grow');
    const ch = await Channel.open(ctx.server.url, t);
    ch.send({ type: 'send', id: 0, messages: [{ body: 'before' }] });
    expect((await ch.answer(0)).messages[0].queueId).toBe(0);
    expect((await api.patch(`/v1/topics/${enc(t)}`, { queues: 2 })).status).toBe(200);
    await sleep(5_500); // the channel looks the route up again after 5 s (ROUTE_REFRESH_MS)
    const queues: number[] = [];
    for (let i = 1; i <= 6; i++) {
      ch.send({ type: 'send', id: i, messages: [{ body: `after ${i}` }] });
      const a = await ch.answer(i);
      expect(a.type).toBe('sent');
      queues.push(a.messages[0].queueId);
    }
    // queue 0 stored in place by the Broker holding the socket, queue 1 by a call to its Broker
    expect(new Set(queues)).toEqual(new Set([0, 1]));
    expect(await api.stored(t)).toBe(7);
    const got = await api.drain(t, uniq('g'), { maxMessages: 256 });
    expect(got.map((m) => m.body).sort()).toEqual(['before', ...Array.from({ length: 6 }, (_, i) => `after ${i + 1}`)].sort());
    ch.ws.close();
  }, 30_000);

  it('a batch frame answers one result per message in order; a message group stays in one queue, in order', async () => {
    const t = await topic('pws-groups', { queues: 4 });
    const ch = await Channel.open(ctx.server.url, t);
    for (let f = 0; f < 40; f++) {
      ch.send({ type: 'send', id: `f${f}`, messages: Array.from({ length: 10 }, (_, i) => ({ body: `${f}.${i}`, messageGroup: `g${i % 3}` })) });
    }
    const perGroup = new Map<string, { q: number; off: number }[]>();
    for (let f = 0; f < 40; f++) {
      const a = await ch.answer(`f${f}`);
      expect(a.type).toBe('sent');
      expect(a.messages).toHaveLength(10);
      a.messages.forEach((m: Json, i: number) => {
        const l = perGroup.get(`g${i % 3}`) ?? [];
        l.push({ q: m.queueId, off: m.queueOffset });
        perGroup.set(`g${i % 3}`, l);
      });
    }
    for (const [, l] of perGroup) {
      expect(new Set(l.map((x) => x.q)).size).toBe(1);
      for (let i = 1; i < l.length; i++) expect(l[i].off).toBeGreaterThan(l[i - 1].off);
    }
    expect(await api.stored(t)).toBe(400);
    ch.ws.close();
  });

  // 1 queue: the socket ends at the Broker; 2: in the Worker
  it.each([1, 2])('a bad frame gets an error (with the send id when it has one), stores nothing, and the connection stays open (%i queues)', async (queues) => {
    const t = await topic('pws-bad', { maxMessageBytes: 1024, queues });
    const ch = await Channel.open(ctx.server.url, t);
    ch.send('not json');
    expect(await ch.next()).toMatchObject({ type: 'error', code: 'BAD_REQUEST' });
    ch.ws.send(new Uint8Array([1, 2, 3]), { binary: true });
    expect((await ch.next()).message).toMatch(/JSON text/);
    ch.send({ type: 'send', messages: [{ body: 'no id' }] });
    expect((await ch.next()).message).toMatch(/id/);
    ch.send({ type: 'send', id: 7, messages: [{ body: 'x', bogus: 1 }] });
    expect(await ch.answer(7)).toMatchObject({ type: 'error', code: 'BAD_REQUEST', message: expect.stringMatching(/bogus/) });
    ch.send({ type: 'send', id: 8, messages: [{ body: 'fine' }, { body: 'y'.repeat(2000) }] });
    expect(await ch.answer(8)).toMatchObject({ type: 'error', code: 'MESSAGE_TOO_LARGE', message: expect.stringMatching(/messages\[1\]/) });
    ch.send({ type: 'send', id: 9, messages: [] });
    expect(await ch.answer(9)).toMatchObject({ type: 'error', code: 'BAD_REQUEST' });
    ch.send({ type: 'ack', id: 10, receiptHandles: ['x'] });
    expect(await ch.answer(10)).toMatchObject({ type: 'error', code: 'BAD_REQUEST' });
    expect(await api.stored(t)).toBe(0);
    ch.send({ type: 'send', id: 11, messages: [{ body: 'after all that' }] });
    expect(await ch.answer(11)).toMatchObject({ type: 'sent', messages: [{ queueOffset: 0 }] });
    expect(await api.stored(t)).toBe(1);
    ch.ws.close();
  });

  it("checks the topic's type as the REST produce does, and dedupId makes a repeat a duplicate", async () => {
    const fifo = await topic('pws-fifo', { type: 'FIFO' });
    const ch = await Channel.open(ctx.server.url, fifo);
    ch.send({ type: 'send', id: 1, messages: [{ body: 'no group' }] });
    expect(await ch.answer(1)).toMatchObject({ type: 'error', code: 'MESSAGE_TYPE_MISMATCH' });
    ch.send({ type: 'send', id: 2, messages: [{ body: 'a', messageGroup: 'o1', dedupId: 'd1' }] });
    ch.send({ type: 'send', id: 3, messages: [{ body: 'a', messageGroup: 'o1', dedupId: 'd1' }] });
    const [a, b] = [await ch.answer(2), await ch.answer(3)];
    expect(a.messages[0].duplicate).toBeUndefined();
    expect(b.messages[0]).toMatchObject({ messageId: a.messages[0].messageId, duplicate: true });
    expect(await api.stored(fifo)).toBe(1);
    ch.ws.close();
  });

  it('refuses a plain GET (426) and an unknown topic (404); /messages/ws is not a message lookup', async () => {
    const t = await topic('pws-426');
    expectError(await api.get(`/v1/topics/${enc(t)}/messages/ws`), 426, 'BAD_REQUEST');
    await expect(Channel.open(ctx.server.url, uniq('missing'))).rejects.toThrow(/404/);
  });

  it.each([1, 2])('a deleted topic: sends fail with TOPIC_NOT_FOUND and the connection closes (%i queues)', async (queues) => {
    const t = await topic('pws-del', { queues });
    const ch = await Channel.open(ctx.server.url, t);
    ch.send({ type: 'send', id: 1, messages: [{ body: 'before' }] });
    expect((await ch.answer(1)).type).toBe('sent');
    expect((await api.req('DELETE', `/v1/topics/${enc(t)}`)).status).toBe(204);
    ch.send({ type: 'send', id: 2, messages: [{ body: 'after' }] });
    expect(await ch.answer(2)).toMatchObject({ type: 'error', code: 'TOPIC_NOT_FOUND' });
    await Promise.race([ch.closed, sleep(10_000)]);
    expect(ch.closeCode).toBe(1008);
  });
});

describe('ProducerStream (SDK)', () => {
  const producer = () => new Producer({ url: ctx.server.url });

  it('stores 5,000 sends made without awaiting each, once each, in order', async () => {
    const t = await topic('pws-sdk');
    const stream = await producer().openStream(t);
    const results = await Promise.all(Array.from({ length: 5000 }, (_, i) => stream.send({ body: `m${i}` })));
    expect(new Set(results.map((r) => r.messageId)).size).toBe(5000);
    expect(stream.stats.frames).toBe(20); // sends of one turn share frames (of 256: a burst goes as several)
    for (let i = 1; i < 5000; i++) expect(results[i].queueOffset).toBe(results[i - 1].queueOffset! + 1);
    expect(await stream.sendBatch([{ body: 'x' }, { body: 'y' }])).toHaveLength(2);
    await stream.close();
    expect(stream.pendingMessages).toBe(0);
    const got = await api.drain(t, uniq('g'), { maxMessages: 256 });
    expect(got.map((m) => m.body)).toEqual([...Array.from({ length: 5000 }, (_, i) => `m${i}`), 'x', 'y']);
  });

  it("a message the topic refuses fails its own send only; a message too big for a frame goes over HTTP", async () => {
    const t = await topic('pws-sdk-bad', { maxMessageBytes: 2 * 1024 * 1024 });
    const small = await topic('pws-sdk-small', { maxMessageBytes: 1024 });
    const s1 = await producer().openStream(small);
    const r = await Promise.allSettled([s1.send({ body: 'ok1' }), s1.send({ body: 'z'.repeat(5000) }), s1.send({ body: 'ok2' })]);
    expect(r.map((x) => x.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((r[1] as PromiseRejectedResult).reason).toBeInstanceOf(EdgeMQError);
    expect((r[1] as PromiseRejectedResult).reason.code).toBe('MESSAGE_TOO_LARGE');
    await s1.close();
    expect((await api.drain(small, uniq('g'))).map((m) => m.body)).toEqual(['ok1', 'ok2']);
    const s2 = await producer().openStream(t);
    const big = 'b'.repeat(1_500_000);
    const res = await s2.send({ body: big });
    expect(res.queueOffset).toBe(0);
    await s2.close();
    const got = await api.get(`/v1/topics/${enc(t)}/messages/${res.messageId}`);
    expect(got.body.body).toHaveLength(big.length);
  });

  it('lingerMs: sends made one at a time share frames; close() sends what lingers at once', async () => {
    const t = await topic('pws-linger');
    const spaced = async (stream: Awaited<ReturnType<Producer['openStream']>>, n: number) => {
      const sends: Promise<{ queueOffset: number | null }>[] = [];
      for (let i = 0; i < n; i++) { sends.push(stream.send({ body: `l${i}` })); await sleep(1); } // each in its own turn
      return Promise.all(sends);
    };
    const plain = await producer().openStream(t);
    await spaced(plain, 30);
    expect(plain.stats.frames).toBe(30); // no linger: one frame per turn
    await plain.close();
    const lingering = await producer().openStream(t, { lingerMs: 500 });
    const results = await spaced(lingering, 30);
    expect(lingering.stats.frames).toBeLessThanOrEqual(3); // 30 sends over well under 3 × 500 ms
    for (let i = 1; i < 30; i++) expect(results[i].queueOffset).toBe(results[i - 1].queueOffset! + 1);
    const last = await producer().openStream(t, { lingerMs: 1000 });
    const t0 = Date.now();
    const tail = [last.send({ body: 'tail1' }), last.send({ body: 'tail2' })];
    await last.close();
    expect(Date.now() - t0).toBeLessThan(1000); // close did not wait out the linger
    expect((await Promise.all(tail)).map((r) => r.queueOffset)).toEqual([60, 61]);
    expect(last.stats.frames).toBe(1);
    const got = await api.drain(t, uniq('g'), { maxMessages: 256 });
    expect(got.map((m) => m.body)).toEqual([...Array.from({ length: 30 }, (_, i) => `l${i}`), ...Array.from({ length: 30 }, (_, i) => `l${i}`), 'tail1', 'tail2']);
    await expect(producer().openStream(t, { lingerMs: -1 })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(producer().openStream(t, { lingerMs: 5000 })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });

  it('refuses to open on an unknown topic', async () => {
    await expect(producer().openStream(uniq('nope'))).rejects.toMatchObject({ code: 'TOPIC_NOT_FOUND' });
  });

  it('a server restart in the middle: unanswered sends are resent after reconnecting, and each message is stored once', async () => {
    const t = await topic('pws-restart');
    const stream = await producer().openStream(t, { reconnect: { initialMs: 100, maxMs: 500 } });
    const sends: Promise<unknown>[] = [];
    let stop = false;
    const loop = (async () => {
      for (let i = 0; !stop && i < 100_000; i++) {
        sends.push(stream.send({ body: `r${i}` }));
        if (i % 50 === 49) await sleep(5);
      }
    })();
    await sleep(500);
    await ctx.server.restart('SIGKILL');
    await sleep(500);
    stop = true;
    await loop;
    const results = await Promise.all(sends);
    expect(results.length).toBeGreaterThan(100);
    expect(stream.stats.reconnects).toBeGreaterThanOrEqual(1);
    await stream.close();
    const got = await api.drain(t, uniq('g'), { maxMessages: 256 });
    const bodies = got.map((m) => m.body as string);
    expect(new Set(bodies).size).toBe(bodies.length);
    expect(bodies.sort()).toEqual(Array.from({ length: sends.length }, (_, i) => `r${i}`).sort());
  }, 120_000);
});
