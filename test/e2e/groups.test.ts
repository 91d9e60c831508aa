/** Consumer groups: create/update, list, detail with lag, delete, consumeFrom, reset-offset. */
import { beforeAll, describe, expect, it } from 'vitest';
import { Api, enc, expectError, sleep, uniq, type Json } from './client';
import { useServer } from './server';

const ctx = useServer();
let api: Api;
beforeAll(() => { api = ctx.api; });

const DEFAULTS = { mode: 'CLUSTERING', consumeFrom: 'FIRST', maxRetries: 16, retryPolicy: { type: 'CUSTOMIZED' }, invisibleMs: 30_000 };
const bodies = (ms: Json[]) => ms.map((m) => m.body);
const handles = (ms: Json[]) => ms.map((m) => m.receiptHandle as string);
const reset = (group: string, body: unknown) => api.post(`/v1/groups/${group}/reset-offset`, body);

/** Receives and acks everything available. */
const drain = (topic: string, group: string) => api.drain(topic, group);

describe('PUT /v1/groups/{group}', () => {
  it('creates with defaults (201), then updates only what is given (200)', async () => {
    const g = uniq('g-put');
    const before = Date.now();
    const c = await api.put(`/v1/groups/${g}`, {});
    expect(c.status).toBe(201);
    expect(c.body).toMatchObject({ name: g, ...DEFAULTS });
    expect(c.body.createdAt).toBeGreaterThanOrEqual(before - 5000);

    const u = await api.put(`/v1/groups/${g}`, { maxRetries: 3, retryPolicy: { type: 'EXPONENTIAL', initialMs: 500, maxMs: 8000, multiplier: 3 } });
    expect(u.status).toBe(200);
    expect(u.body).toMatchObject({
      name: g, mode: 'CLUSTERING', consumeFrom: 'FIRST', maxRetries: 3, invisibleMs: 30_000, createdAt: c.body.createdAt,
      retryPolicy: { type: 'EXPONENTIAL', initialMs: 500, maxMs: 8000, multiplier: 3 },
    });
    const u2 = await api.put(`/v1/groups/${g}`, { invisibleMs: 1000, consumeFrom: { timestamp: 12345 }, mode: 'BROADCASTING' });
    expect(u2.status).toBe(200);
    expect(await api.group(g)).toMatchObject({
      name: g, mode: 'BROADCASTING', consumeFrom: { timestamp: 12345 }, maxRetries: 3, invisibleMs: 1000,
      retryPolicy: { type: 'EXPONENTIAL', initialMs: 500 },
    });
    // a body may be left out entirely
    const g2 = uniq('g-nobody');
    const n = await api.req('PUT', `/v1/groups/${g2}`);
    expect(n.status).toBe(201);
    expect(n.body).toMatchObject({ name: g2, ...DEFAULTS });
  });

  it('EXPONENTIAL fills in initialMs, maxMs and multiplier', async () => {
    const g = uniq('g-exp');
    const r = await api.putGroup(g, { retryPolicy: { type: 'EXPONENTIAL' } });
    expect(r.retryPolicy).toEqual({ type: 'EXPONENTIAL', initialMs: 1000, maxMs: 7_200_000, multiplier: 2 });
  });

  it('accepts the edges of every range', async () => {
    const g = uniq('g-edges');
    await api.putGroup(g, { maxRetries: 0, invisibleMs: 1000 });
    await api.putGroup(g, { maxRetries: 32, invisibleMs: 43_200_000, consumeFrom: 'LAST' });
    expect(await api.group(g)).toMatchObject({ maxRetries: 32, invisibleMs: 43_200_000, consumeFrom: 'LAST' });
  });

  it('bad configs are 400 naming the field, and change nothing (nor create the group)', async () => {
    const g = uniq('g-bad');
    await api.putGroup(g, { maxRetries: 5 });
    const fresh = uniq('g-never');
    const cases: [unknown, string][] = [
      [{ mode: 'CLUSTER' }, 'mode'], [{ mode: 1 }, 'mode'],
      [{ consumeFrom: 'MIDDLE' }, 'consumeFrom'], [{ consumeFrom: { timestamp: -1 } }, 'consumeFrom'],
      [{ consumeFrom: { timestamp: 'now' } }, 'consumeFrom'], [{ consumeFrom: { offset: 3 } }, 'consumeFrom'],
      [{ maxRetries: 33 }, 'maxRetries'], [{ maxRetries: -1 }, 'maxRetries'], [{ maxRetries: 1.5 }, 'maxRetries'], [{ maxRetries: '3' }, 'maxRetries'],
      [{ retryPolicy: { type: 'LINEAR' } }, 'retryPolicy'], [{ retryPolicy: 'CUSTOMIZED' }, 'retryPolicy'],
      [{ retryPolicy: { type: 'EXPONENTIAL', multiplier: 0.5 } }, 'retryPolicy'],
      [{ retryPolicy: { type: 'EXPONENTIAL', initialMs: -1 } }, 'retryPolicy'],
      [{ retryPolicy: { type: 'CUSTOMIZED', initialMs: 5 } }, 'retryPolicy'],
      [{ invisibleMs: 999 }, 'invisibleMs'], [{ invisibleMs: 43_200_001 }, 'invisibleMs'],
      [{ maxRetries: 1, colour: 'blue' }, 'colour'], [{ name: 'other' }, 'name'],
    ];
    for (const [body, field] of cases) {
      const msg = expectError(await api.put(`/v1/groups/${g}`, body), 400, 'BAD_REQUEST');
      expect(msg, JSON.stringify(body)).toContain(field);
      expectError(await api.put(`/v1/groups/${fresh}`, body), 400, 'BAD_REQUEST');
    }
    for (const raw of ['{', '[]', '"x"', '{"maxRetries": 1,}']) {
      expectError(await api.put(`/v1/groups/${g}`, undefined, { raw }), 400, 'BAD_REQUEST');
    }
    expect(await api.group(g)).toMatchObject({ ...DEFAULTS, maxRetries: 5 });
    expectError(await api.get(`/v1/groups/${fresh}`), 404, 'GROUP_NOT_FOUND');
  });

  it('bad group names are 400 INVALID_NAME', async () => {
    for (const name of ['a.b', 'sp%20ace', 'x'.repeat(121), '%25DLQ%25x', 'ü']) {
      expectError(await api.put(`/v1/groups/${name}`, {}), 400, 'INVALID_NAME');
      expectError(await api.get(`/v1/groups/${name}`), 400, 'INVALID_NAME');
      expectError(await api.del(`/v1/groups/${name}`), 400, 'INVALID_NAME');
    }
    await api.putGroup('y'.repeat(120));
  });
});

describe('GET and DELETE', () => {
  it('unknown groups are 404 GROUP_NOT_FOUND', async () => {
    expectError(await api.get(`/v1/groups/${uniq('nope')}`), 404, 'GROUP_NOT_FOUND');
    expectError(await api.del(`/v1/groups/${uniq('nope')}`), 404, 'GROUP_NOT_FOUND');
  });

  it('a group used before it is created is created with the defaults', async () => {
    const t = uniq('t-auto');
    const g = uniq('g-auto');
    await api.createTopic(t, { queues: 1 });
    await api.produce(t, { body: 'x' });
    expect(await api.receive(t, g)).toHaveLength(1);
    const d = await api.group(g);
    expect(d).toMatchObject({ name: g, ...DEFAULTS });
    expect(d.subscriptions).toEqual([{ topic: t, filter: null }]);
  });

  it('detail shows subscriptions, pull consumers, and per-queue offsets, lag, inflight and retrying', async () => {
    const t = uniq('t-lag');
    const g = uniq('g-lag');
    await api.createTopic(t, { queues: 1 });
    await api.putGroup(g, {});
    await api.produce(t, { messages: [1, 2, 3, 4, 5].map((i) => ({ body: i })) });
    let d = await api.group(g);
    expect(d.subscriptions).toEqual([]);
    expect(d.queues).toEqual([]);
    expect(d.lag).toBe(0);

    const two = await api.receive(t, g, { maxMessages: 2, consumerId: 'worker-1' });
    expect(bodies(two)).toEqual([1, 2]);
    d = await api.group(g);
    expect(d.subscriptions).toEqual([{ topic: t, filter: null }]);
    expect(d.queues).toEqual([{ topic: t, queueId: 0, brokerOffset: 5, consumerOffset: 0, lag: 5, inflight: 2, retrying: 0 }]);
    expect(d.consumers).toEqual([{ consumerId: 'worker-1', transport: 'pull', topic: t, lastSeen: expect.any(Number) }]);
    expect(Math.abs(d.consumers[0].lastSeen - Date.now())).toBeLessThan(60_000);

    await api.ack(t, g, two.map((m) => m.receiptHandle));
    d = await api.group(g);
    expect(d.queues[0]).toMatchObject({ consumerOffset: 2, lag: 3, inflight: 0, retrying: 0 });
    expect(d.lag).toBe(3);

    const [third] = await api.receive(t, g, { maxMessages: 1 });
    expect(await api.nack(t, g, [third.receiptHandle], 60_000)).toEqual(['OK']);
    d = await api.group(g);
    expect(d.queues[0]).toMatchObject({ consumerOffset: 2, lag: 3, inflight: 0, retrying: 1 });

    const list = await api.get('/v1/groups');
    expect(list.status).toBe(200);
    const mine = list.body.groups.find((x: Json) => x.name === g);
    expect(mine).toEqual({ name: g, mode: 'CLUSTERING', lag: 3, consumers: 1 });
  });

  it('lag sums over all queues of all subscribed topics', async () => {
    const a = uniq('t-suma');
    const b = uniq('t-sumb');
    const g = uniq('g-sum');
    await api.createTopic(a, { queues: 3 });
    await api.createTopic(b, { queues: 2 });
    for (let i = 0; i < 6; i++) await api.produce(a, { body: i });
    await api.produce(b, { messages: [{ body: 'x' }, { body: 'y' }] });
    await api.receive(a, g, { maxMessages: 1 });
    await api.receive(b, g, { maxMessages: 1 });
    const d = await api.group(g);
    expect(d.queues).toHaveLength(5);
    expect(d.subscriptions.map((s: Json) => s.topic).sort()).toEqual([a, b].sort());
    expect(d.lag).toBe(8);
    expect(d.queues.reduce((n: number, q: Json) => n + q.brokerOffset, 0)).toBe(8);
  });

  it('DELETE removes the group and its offsets', async () => {
    const t = uniq('t-gdel');
    const g = uniq('g-del');
    await api.createTopic(t, { queues: 2 });
    await api.produce(t, { messages: [{ body: 'a' }, { body: 'b' }] });
    await api.putGroup(g, { maxRetries: 2 });
    expect(await drain(t, g)).toHaveLength(2);
    expect(await api.receive(t, g)).toEqual([]);
    await api.produce(t, { body: 'c' });
    const inflight = await api.receive(t, g);
    expect(bodies(inflight)).toEqual(['c']);

    const r = await api.del(`/v1/groups/${g}`);
    expect(r.status).toBe(204);
    expect(r.text).toBe('');
    expectError(await api.get(`/v1/groups/${g}`), 404, 'GROUP_NOT_FOUND');
    expect((await api.get('/v1/groups')).body.groups.map((x: Json) => x.name)).not.toContain(g);
    expectError(await api.del(`/v1/groups/${g}`), 404, 'GROUP_NOT_FOUND');
    // used again, it is a new group with default config and no offsets: FIRST again
    const again = await api.receive(t, g);
    expect(bodies(again).sort()).toEqual(['a', 'b', 'c']);
    expect(again.every((m) => m.deliveryAttempt === 1)).toBe(true);
    expect(await api.group(g)).toMatchObject({ maxRetries: 16 });
    // a handle from before the delete is stale
    expect(await api.ack(t, g, handles(inflight))).toEqual(['EXPIRED']);
  });
});

describe('consumeFrom', () => {
  it('FIRST (default) starts at the oldest retained message', async () => {
    const t = uniq('t-first');
    await api.createTopic(t, { queues: 1 });
    await api.produce(t, { messages: [{ body: 1 }, { body: 2 }] });
    const g = uniq('g-first');
    await api.putGroup(g, { consumeFrom: 'FIRST' });
    expect(bodies(await api.receive(t, g))).toEqual([1, 2]);
  });

  it('LAST skips what was there when the group first consumed', async () => {
    const t = uniq('t-last');
    await api.createTopic(t, { queues: 2 });
    await api.produce(t, { messages: [{ body: 1 }, { body: 2 }, { body: 3 }] });
    const g = uniq('g-last');
    await api.putGroup(g, { consumeFrom: 'LAST' });
    expect(await api.receive(t, g)).toEqual([]);
    await api.produce(t, { body: 4 });
    await api.produce(t, { body: 5 });
    expect(bodies(await api.receiveN(t, g, 2, 5000)).sort()).toEqual([4, 5]);
    const d = await api.group(g);
    expect(d.queues.map((q: Json) => q.brokerOffset).reduce((a: number, b: number) => a + b)).toBe(5);
  });

  it('{timestamp} starts at the first message stored at or after it', async () => {
    const t = uniq('t-ts');
    await api.createTopic(t, { queues: 1 });
    await api.produce(t, { body: 'old-1' });
    await api.produce(t, { body: 'old-2' });
    await sleep(30);
    const ts = Date.now();
    await sleep(30);
    await api.produce(t, { body: 'new-1' });
    await api.produce(t, { body: 'new-2' });
    const g = uniq('g-ts');
    await api.putGroup(g, { consumeFrom: { timestamp: ts } });
    expect(bodies(await api.receive(t, g))).toEqual(['new-1', 'new-2']);
    const future = uniq('g-tsf');
    await api.putGroup(future, { consumeFrom: { timestamp: Date.now() + 3_600_000 } });
    expect(await api.receive(t, future)).toEqual([]);
    const past = uniq('g-tsp');
    await api.putGroup(past, { consumeFrom: { timestamp: 0 } });
    expect(bodies(await api.receive(t, past))).toEqual(['old-1', 'old-2', 'new-1', 'new-2']);
  });

  it('applies only where the group has no offset yet', async () => {
    const t = uniq('t-cf');
    const g = uniq('g-cf');
    await api.createTopic(t, { queues: 1 });
    await api.produce(t, { messages: [{ body: 1 }, { body: 2 }] });
    expect(await drain(t, g)).toHaveLength(2);
    await api.putGroup(g, { consumeFrom: 'LAST' });
    await api.produce(t, { body: 3 });
    expect(bodies(await api.receive(t, g))).toEqual([3]);
    await api.putGroup(g, { consumeFrom: 'FIRST' });
    expect(await api.receive(t, g, { maxMessages: 10 })).toEqual([]);
  });
});

describe('reset-offset', () => {
  let t: string;
  beforeAll(async () => {
    t = uniq('t-reset');
    await api.createTopic(t, { queues: 2 });
    for (let i = 0; i < 3; i++) await api.produce(t, { messages: [{ body: `a${i}`, messageGroup: 'A' }, { body: `b${i}`, messageGroup: 'B' }] });
  });

  async function queuesOf(): Promise<{ A: number; B: number }> {
    const [a] = await api.produce(t, { body: 'probe', messageGroup: 'A' });
    const [b] = await api.produce(t, { body: 'probe', messageGroup: 'B' });
    return { A: a.queueId, B: b.queueId };
  }

  it('EARLIEST re-delivers everything retained; LATEST skips everything', async () => {
    const g = uniq('g-rs');
    expect(await drain(t, g)).toHaveLength(6);
    const total = await api.stored(t);

    const e = await reset(g, { topic: t, to: 'EARLIEST' });
    expect(e.status).toBe(200);
    expect(e.body).toEqual({ group: g, topic: t, offsets: [{ queueId: 0, offset: 0 }, { queueId: 1, offset: 0 }] });
    // message groups A and B (one per queue) are FIFO: one message of each is out at a time
    const again = await api.receive(t, g);
    expect(again.map((m) => m.queueOffset)).toEqual([0, 0]);
    expect(again.every((m) => m.deliveryAttempt === 1)).toBe(true);
    expect((await api.group(g)).lag).toBe(total);
    expect(await api.receive(t, g)).toEqual([]);
    expect(await api.ack(t, g, handles(again))).toEqual(['OK', 'OK']);
    const rest = await drain(t, g);
    expect(rest).toHaveLength(total - 2);
    expect(rest.every((m) => m.deliveryAttempt === 1)).toBe(true);
    // back to the start once more, and leave the heads in flight
    expect((await reset(g, { topic: t, to: 'EARLIEST' })).status).toBe(200);
    const heads = await api.receive(t, g);
    expect(heads).toHaveLength(2);

    const l = await reset(g, { topic: t, to: 'LATEST' });
    expect(l.status).toBe(200);
    const detail = await api.topic(t);
    expect(l.body.offsets).toEqual(detail.queueStatus.map((q: Json) => ({ queueId: q.queueId, offset: q.maxOffset })));
    expect(await api.receive(t, g)).toEqual([]);
    // the leases of the re-delivered messages were dropped with the reset
    expect(await api.ack(t, g, handles(heads))).toEqual(['EXPIRED', 'EXPIRED']);
    const d = await api.group(g);
    expect(d.lag).toBe(0);
    expect(d.queues.every((q: Json) => q.inflight === 0 && q.retrying === 0)).toBe(true);
  });

  it('{timestamp} moves every queue to the first message stored at or after it', async () => {
    const g = uniq('g-rts');
    const topic = uniq('t-rts');
    await api.createTopic(topic, { queues: 2 });
    await api.produce(topic, { messages: [{ body: 'old', messageGroup: 'A' }, { body: 'old', messageGroup: 'B' }] });
    await sleep(30);
    const ts = Date.now();
    await sleep(30);
    await api.produce(topic, { body: 'new-a', messageGroup: 'A' });
    await api.produce(topic, { body: 'new-b', messageGroup: 'B' });
    expect(await drain(topic, g)).toHaveLength(4);
    const r = await reset(g, { topic, to: { timestamp: ts } });
    expect(r.status).toBe(200);
    expect(r.body.offsets).toHaveLength(2);
    expect(bodies(await drain(topic, g)).sort()).toEqual(['new-a', 'new-b']);
    // a time after everything is the end of the log
    const end = await reset(g, { topic, to: { timestamp: Date.now() + 60_000 } });
    const detail = await api.topic(topic);
    expect(end.body.offsets).toEqual(detail.queueStatus.map((q: Json) => ({ queueId: q.queueId, offset: q.maxOffset })));
    expect(await api.receive(topic, g)).toEqual([]);
  });

  it('{queueId, offset} moves one queue only; offsets past the end are clamped', async () => {
    const g = uniq('g-rq');
    await drain(t, g);
    const { A, B } = await queuesOf();
    await drain(t, g);
    const r = await reset(g, { topic: t, to: { queueId: A, offset: 1 } });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ group: g, topic: t, offsets: [{ queueId: A, offset: 1 }] });
    const got = await drain(t, g);
    expect(got.length).toBeGreaterThan(1);
    expect(got.every((m) => m.queueId === A)).toBe(true);
    expect(got.map((m) => m.queueOffset)).toEqual(got.map((_, i) => i + 1));
    expect(got.some((m) => m.queueId === B)).toBe(false);

    const max = (await api.topic(t)).queueStatus[A].maxOffset;
    const c = await reset(g, { topic: t, to: { queueId: A, offset: 10_000 } });
    expect(c.body.offsets).toEqual([{ queueId: A, offset: max }]);
  });

  it('bad requests are refused and move nothing', async () => {
    const g = uniq('g-rbad');
    await drain(t, g);
    const cases: [unknown, number, string][] = [
      [{ topic: t, to: 'MIDDLE' }, 400, 'BAD_REQUEST'],
      [{ topic: t, to: { queueId: 0 } }, 400, 'BAD_REQUEST'],
      [{ topic: t, to: { offset: 0 } }, 400, 'BAD_REQUEST'],
      [{ topic: t, to: { queueId: 0, offset: -1 } }, 400, 'BAD_REQUEST'],
      [{ topic: t, to: { queueId: 2, offset: 0 } }, 400, 'BAD_REQUEST'],
      [{ topic: t, to: { queueId: 64, offset: 0 } }, 400, 'BAD_REQUEST'],
      [{ topic: t, to: { timestamp: -5 } }, 400, 'BAD_REQUEST'],
      [{ topic: t, to: { timestamp: 1, offset: 2 } }, 400, 'BAD_REQUEST'],
      [{ topic: t }, 400, 'BAD_REQUEST'],
      [{ to: 'EARLIEST' }, 400, 'BAD_REQUEST'],
      [{ topic: t, to: 'EARLIEST', extra: 1 }, 400, 'BAD_REQUEST'],
      [{ topic: 5, to: 'EARLIEST' }, 400, 'BAD_REQUEST'],
      [{ topic: 'bad.name', to: 'EARLIEST' }, 400, 'INVALID_NAME'],
      [{ topic: uniq('nope'), to: 'EARLIEST' }, 404, 'TOPIC_NOT_FOUND'],
    ];
    for (const [body, status, code] of cases) expectError(await reset(g, body), status, code);
    expectError(await api.post(`/v1/groups/${g}/reset-offset`, undefined, { raw: '{"topic":' }), 400, 'BAD_REQUEST');
    expectError(await reset('bad.group', { topic: t, to: 'EARLIEST' }), 400, 'INVALID_NAME');
    // the group is where it was: everything consumed
    expect(await api.receive(t, g)).toEqual([]);
    expect((await api.group(g)).lag).toBe(0);
  });

  it('works for a group that has not consumed yet', async () => {
    const g = uniq('g-rnew');
    const r = await reset(g, { topic: t, to: 'LATEST' });
    expect(r.status).toBe(200);
    expect(await api.receive(t, g)).toEqual([]);
    await api.produce(t, { body: 'after', messageGroup: 'A' });
    expect(bodies(await api.receive(t, g))).toEqual(['after']);
  });
});

describe('BROADCASTING', () => {
  it('every consumer gets every message with its own offsets; consumerId is required', async () => {
    const t = uniq('t-bc');
    const g = uniq('g-bc');
    await api.createTopic(t, { queues: 2 });
    await api.putGroup(g, { mode: 'BROADCASTING' });
    await api.produce(t, { messages: [{ body: 1 }, { body: 2 }, { body: 3 }] });
    expectError(await api.post(`/v1/topics/${t}/subscriptions/${g}/receive`, {}), 400, 'BAD_REQUEST');
    const a = await api.receive(t, g, { consumerId: 'a' });
    const b = await api.receive(t, g, { consumerId: 'b' });
    expect(bodies(a).sort()).toEqual([1, 2, 3]);
    expect(bodies(b).sort()).toEqual([1, 2, 3]);
    await api.ack(t, g, a.map((m) => m.receiptHandle));
    expect(await api.receive(t, g, { consumerId: 'a' })).toEqual([]);
    const list = (await api.get('/v1/groups')).body.groups.find((x: Json) => x.name === g);
    expect(list).toMatchObject({ mode: 'BROADCASTING', consumers: 2 });
    void enc;
  });
});
