/** Pull consumption: receive (long polling), ack, nack, change-invisibility, redelivery, retries, DLQ. */
import { beforeAll, describe, expect, it } from 'vitest';
import { Api, enc, expectError, sleep, uniq, type Json } from './client';
import { useServer } from './server';

const ctx = useServer();
let api: Api;
beforeAll(() => { api = ctx.api; });

const sub = (t: string, g: string, op: string) => `/v1/topics/${enc(t)}/subscriptions/${g}/${op}`;
const handles = (ms: Json[]) => ms.map((m) => m.receiptHandle as string);
/** A group that retries at once after a failure (the default CUSTOMIZED backoff waits 10 s). */
const FAST = { retryPolicy: { type: 'EXPONENTIAL', initialMs: 0, maxMs: 100, multiplier: 1 } };

async function topicWith(prefix: string, n: number, queues = 1): Promise<string> {
  const t = uniq(prefix);
  await api.createTopic(t, { queues });
  if (n) await api.produce(t, { messages: Array.from({ length: n }, (_, i) => ({ body: `m${i}` })) });
  return t;
}

describe('receive', () => {
  it('answers messages with receipt handles, at most maxMessages, 16 by default', async () => {
    const t = await topicWith('r-max', 40, 2);
    const g = uniq('g');
    const r = await api.post(sub(t, g, 'receive'), {});
    expect(r.status).toBe(200);
    expect(r.body.messages).toHaveLength(16);
    for (const m of r.body.messages) {
      expect(m).toMatchObject({ topic: t, deliveryAttempt: 1, encoding: 'text' });
      expect(typeof m.receiptHandle).toBe('string');
    }
    expect(await api.receive(t, g, { maxMessages: 3 })).toHaveLength(3);
    expect(await api.receive(t, g, { maxMessages: 1 })).toHaveLength(1);
    const rest = await api.receiveN(t, g, 20, 5000);
    expect(rest).toHaveLength(20);
    const all = [...r.body.messages, ...rest];
    expect(new Set(all.map((m: Json) => m.messageId)).size).toBe(36);
    expect(await api.receive(t, g)).toEqual([]);
    // a body may be left out entirely
    const empty = await api.req('POST', sub(t, g, 'receive'));
    expect(empty.status).toBe(200);
    expect(empty.body).toEqual({ messages: [] });
  });

  it('delivers a queue in offset order', async () => {
    const t = await topicWith('r-order', 30, 1);
    const got = await api.receive(t, uniq('g'), { maxMessages: 256 });
    expect(got.map((m) => m.queueOffset)).toEqual([...Array(30).keys()]);
    expect(got.map((m) => m.body)).toEqual(Array.from({ length: 30 }, (_, i) => `m${i}`));
  });

  it('each group gets every message; within a group a message goes to one receiver at a time', async () => {
    const t = await topicWith('r-groups', 20, 4);
    const [g1, g2] = [uniq('g1'), uniq('g2')];
    const parallel = await Promise.all(Array.from({ length: 4 }, () => api.receive(t, g1, { maxMessages: 8 })));
    const ids1 = parallel.flat().map((m) => m.messageId);
    expect(new Set(ids1).size).toBe(ids1.length);
    const more = await api.receiveN(t, g1, 20 - ids1.length, 5000);
    expect(new Set([...ids1, ...more.map((m) => m.messageId)]).size).toBe(20);
    const other = await api.receiveN(t, g2, 20, 5000);
    expect(other).toHaveLength(20);
  });

  it('bad requests are 400 naming the field, 404 for an unknown topic, and lease nothing', async () => {
    const t = await topicWith('r-bad', 3, 1);
    const g = uniq('g');
    const cases: [unknown, string, string][] = [
      [{ maxMessages: 0 }, 'maxMessages', 'BAD_REQUEST'], [{ maxMessages: 257 }, 'maxMessages', 'BAD_REQUEST'],
      [{ maxMessages: '5' }, 'maxMessages', 'BAD_REQUEST'], [{ maxMessages: 1.5 }, 'maxMessages', 'BAD_REQUEST'],
      [{ invisibleMs: 999 }, 'invisibleMs', 'BAD_REQUEST'], [{ invisibleMs: 43_200_001 }, 'invisibleMs', 'BAD_REQUEST'],
      [{ waitMs: -1 }, 'waitMs', 'BAD_REQUEST'], [{ waitMs: 20_001 }, 'waitMs', 'BAD_REQUEST'],
      [{ consumerId: 'bad id' }, 'consumerId', 'BAD_REQUEST'], [{ consumerId: 'c'.repeat(121) }, 'consumerId', 'BAD_REQUEST'],
      [{ filter: 5 }, 'filter', 'BAD_REQUEST'], [{ filter: { sql: 'a = 1', tag: 'x' } }, 'filter', 'BAD_REQUEST'],
      [{ filter: 'a || || b' }, '', 'INVALID_FILTER'], [{ filter: { sql: 'a = = 1' } }, '', 'INVALID_FILTER'],
      [{ maxMessages: 1, group: 'x' }, 'group', 'BAD_REQUEST'],
    ];
    for (const [body, field, code] of cases) {
      const msg = expectError(await api.post(sub(t, g, 'receive'), body), 400, code);
      expect(msg, JSON.stringify(body)).toContain(field);
    }
    expectError(await api.post(sub(t, g, 'receive'), undefined, { raw: '{"maxMessages": 1' }), 400, 'BAD_REQUEST');
    expectError(await api.post(sub(uniq('nope'), g, 'receive'), {}), 404, 'TOPIC_NOT_FOUND');
    expectError(await api.post(sub('bad.topic', g, 'receive'), {}), 400, 'INVALID_NAME');
    expectError(await api.post(sub(t, 'bad.group', 'receive'), {}), 400, 'INVALID_NAME');
    // nothing was leased by any of them
    const got = await api.receive(t, g);
    expect(got.map((m) => m.body)).toEqual(['m0', 'm1', 'm2']);
    expect(got.every((m) => m.deliveryAttempt === 1)).toBe(true);
  });

  it('a tag filter passes over the other messages, which count as consumed', async () => {
    const t = uniq('r-filter');
    await api.createTopic(t, { queues: 1 });
    await api.produce(t, { messages: [{ body: 1, tag: 'a' }, { body: 2, tag: 'b' }, { body: 3, tag: 'c' }, { body: 4 }, { body: 5, tag: 'a' }] });
    const g = uniq('g');
    const got = await api.receive(t, g, { filter: 'a || c' });
    expect(got.map((m) => m.body)).toEqual([1, 3, 5]);
    await api.ack(t, g, handles(got));
    expect((await api.group(g)).lag).toBe(0);
    expect(await api.receive(t, g, { filter: '*' })).toEqual([]);
  });
});

describe('long polling', () => {
  it('answers as soon as a message is produced, well before waitMs', async () => {
    const t = await topicWith('lp-wake', 0, 4);
    const g = uniq('g');
    expect(await api.receive(t, g)).toEqual([]); // the group exists and is at the end
    const t0 = Date.now();
    const pending = api.post(sub(t, g, 'receive'), { waitMs: 5000 });
    await sleep(700);
    const [p] = await api.produce(t, { body: 'wake up' });
    const r = await pending;
    const elapsed = Date.now() - t0;
    expect(r.status).toBe(200);
    expect(r.body.messages.map((m: Json) => m.messageId)).toEqual([p.messageId]);
    expect(elapsed).toBeGreaterThanOrEqual(600);
    expect(elapsed).toBeLessThan(3500);
  });

  it('answers [] after about waitMs when nothing comes', async () => {
    const t = await topicWith('lp-empty', 0, 2);
    const g = uniq('g');
    const r = await api.post(sub(t, g, 'receive'), { waitMs: 2000 });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ messages: [] });
    expect(r.ms).toBeGreaterThanOrEqual(1900);
    expect(r.ms).toBeLessThan(4500);
  });

  it('a long poll on a topic that is deleted meanwhile ends at once', async () => {
    const t = await topicWith('lp-del', 0, 2);
    const g = uniq('g');
    await api.receive(t, g);
    const poll = api.post(sub(t, g, 'receive'), { waitMs: 8000 });
    await sleep(500);
    expect((await api.del(`/v1/topics/${t}`)).status).toBe(204);
    const r = await poll;
    expect(r.ms).toBeLessThan(4000);
    if (r.status === 200) expect(r.body).toEqual({ messages: [] });
    else expectError(r, 404, 'TOPIC_NOT_FOUND');
  });

  it('several long polls of one group share the messages, each message once', async () => {
    const t = await topicWith('lp-many', 0, 2);
    const g = uniq('g');
    await api.receive(t, g);
    const polls = Array.from({ length: 3 }, () => api.post(sub(t, g, 'receive'), { waitMs: 4000, maxMessages: 1 }));
    await sleep(500);
    await api.produce(t, { body: 'one' });
    await api.produce(t, { body: 'two' });
    await api.produce(t, { body: 'three' });
    const answers = await Promise.all(polls);
    const ids = answers.flatMap((a) => a.body.messages.map((m: Json) => m.messageId));
    expect(new Set(ids).size).toBe(ids.length);
    const rest = await api.receive(t, g);
    expect(ids.length + rest.length).toBe(3);
  });
});

describe('ack', () => {
  it('OK once; a repeat, or a handle of another group or topic, changes nothing', async () => {
    const t = await topicWith('a-ok', 3, 1);
    const t2 = await topicWith('a-other', 1, 1);
    const [g, g2] = [uniq('g'), uniq('g2')];
    const got = await api.receive(t, g, { maxMessages: 2 });
    const theirs = await api.receive(t, g2, { maxMessages: 1 });
    const elsewhere = await api.receive(t2, g, { maxMessages: 1 });
    const r = await api.post(sub(t, g, 'ack'), { receiptHandles: [got[0].receiptHandle, 'garbage-handle', theirs[0].receiptHandle, elsewhere[0].receiptHandle, got[1].receiptHandle] });
    expect(r.status).toBe(200);
    expect(r.body.results).toEqual([
      { receiptHandle: got[0].receiptHandle, status: 'OK' },
      { receiptHandle: 'garbage-handle', status: 'INVALID' },
      { receiptHandle: theirs[0].receiptHandle, status: 'INVALID' },
      { receiptHandle: elsewhere[0].receiptHandle, status: 'INVALID' },
      { receiptHandle: got[1].receiptHandle, status: 'OK' },
    ]);
    expect(await api.ack(t, g, handles(got))).toEqual(['EXPIRED', 'EXPIRED']);
    // g2's delivery is still in flight for g2: acking it there works
    expect(await api.ack(t, g2, handles(theirs))).toEqual(['OK']);
    const d = await api.group(g);
    expect(d.queues.find((q: Json) => q.topic === t)).toMatchObject({ consumerOffset: 2, lag: 1, inflight: 0 });
  });

  it('bad ack requests are 400', async () => {
    const t = await topicWith('a-bad', 0, 1);
    const g = uniq('g');
    for (const body of [{}, { receiptHandles: [] }, { receiptHandles: 'x' }, { receiptHandles: [1] }, { receiptHandles: [''] },
      { receiptHandles: Array(1001).fill('x') }, { receiptHandles: ['x'], extra: 1 }]) {
      const msg = expectError(await api.post(sub(t, g, 'ack'), body), 400, 'BAD_REQUEST');
      expect(msg, JSON.stringify(body).slice(0, 80)).toMatch(/receiptHandles|extra/);
    }
    expectError(await api.post(sub(t, g, 'ack'), undefined, { raw: '{"receiptHandles": [' }), 400, 'BAD_REQUEST');
    expectError(await api.post(sub(uniq('nope'), g, 'ack'), { receiptHandles: ['x'] }), 404, 'TOPIC_NOT_FOUND');
    expectError(await api.post(sub(t, 'bad.g', 'ack'), { receiptHandles: ['x'] }), 400, 'INVALID_NAME');
  });

  it('acks many handles from many queues in one request', async () => {
    const t = await topicWith('a-many', 0, 4);
    for (let i = 0; i < 12; i++) await api.produce(t, { body: i });
    const g = uniq('g');
    const got = await api.receiveN(t, g, 12, 5000);
    expect(new Set(got.map((m) => m.queueId)).size).toBeGreaterThan(1);
    expect(await api.ack(t, g, handles(got))).toEqual(got.map(() => 'OK'));
    expect((await api.group(g)).lag).toBe(0);
  });
});

describe('redelivery', () => {
  it('an unacked message comes back after invisibleMs with deliveryAttempt 2; the old handle is EXPIRED', async () => {
    const t = await topicWith('rd-inv', 1, 2);
    const g = uniq('g');
    await api.putGroup(g, FAST);
    const [first] = await api.receive(t, g, { invisibleMs: 1000 });
    expect(first.deliveryAttempt).toBe(1);
    expect(await api.receive(t, g)).toEqual([]); // invisible meanwhile
    await sleep(1100);
    const again = await api.receiveN(t, g, 1, 5000);
    expect(again).toHaveLength(1);
    expect(again[0]).toMatchObject({ messageId: first.messageId, body: 'm0', deliveryAttempt: 2, queueOffset: first.queueOffset });
    expect(again[0].receiptHandle).not.toBe(first.receiptHandle);
    expect(await api.ack(t, g, [first.receiptHandle])).toEqual(['EXPIRED']);
    expect(await api.ack(t, g, [again[0].receiptHandle])).toEqual(['OK']);
    await sleep(300);
    expect(await api.receive(t, g, { waitMs: 1200 })).toEqual([]);
  });

  it('the group invisibleMs applies when receive gives none', async () => {
    const t = await topicWith('rd-ginv', 1, 1);
    const g = uniq('g');
    await api.putGroup(g, { ...FAST, invisibleMs: 1000 });
    const [first] = await api.receive(t, g);
    const again = await api.receiveN(t, g, 1, 5000);
    expect(again[0]).toMatchObject({ messageId: first.messageId, deliveryAttempt: 2 });
    const elapsed = again[0].storeTimestamp; // unchanged by redelivery
    expect(elapsed).toBe(first.storeTimestamp);
  });

  it('the default backoff (CUSTOMIZED: 10 s before the first retry) holds a failed message back', async () => {
    const t = await topicWith('rd-backoff', 1, 1);
    const g = uniq('g');
    const [m] = await api.receive(t, g);
    expect(await api.nack(t, g, [m.receiptHandle])).toEqual(['OK']);
    expect(await api.receive(t, g, { waitMs: 1500 })).toEqual([]);
    const d = await api.group(g);
    expect(d.queues[0]).toMatchObject({ inflight: 0, retrying: 1, lag: 1, consumerOffset: 0 });
  });
});

describe('nack', () => {
  it('with delayMs: redelivered no earlier than the delay, with deliveryAttempt + 1', async () => {
    const t = await topicWith('n-delay', 1, 1);
    const g = uniq('g');
    const [m] = await api.receive(t, g);
    const t0 = Date.now();
    expect(await api.nack(t, g, [m.receiptHandle], 1500)).toEqual(['OK']);
    expect(await api.receive(t, g)).toEqual([]);
    const again = await api.receive(t, g, { waitMs: 6000 });
    const elapsed = Date.now() - t0;
    expect(again).toHaveLength(1);
    expect(again[0]).toMatchObject({ messageId: m.messageId, deliveryAttempt: 2 });
    expect(elapsed).toBeGreaterThanOrEqual(1400);
    expect(elapsed).toBeLessThan(5000);
    // the handle was used up by the nack
    expect(await api.ack(t, g, [m.receiptHandle])).toEqual(['EXPIRED']);
    expect(await api.nack(t, g, [m.receiptHandle])).toEqual(['EXPIRED']);
  });

  it('with delayMs 0: redelivered at once; attempts keep counting', async () => {
    const t = await topicWith('n-zero', 1, 1);
    const g = uniq('g');
    let [m] = await api.receive(t, g);
    for (let attempt = 1; attempt <= 4; attempt++) {
      expect(m.deliveryAttempt).toBe(attempt);
      expect(await api.nack(t, g, [m.receiptHandle], 0)).toEqual(['OK']);
      [m] = await api.receiveN(t, g, 1, 3000);
      expect(m).toBeDefined();
    }
    expect(m.deliveryAttempt).toBe(5);
    expect(await api.ack(t, g, [m.receiptHandle])).toEqual(['OK']);
  });

  it('without delayMs it follows the group retryPolicy', async () => {
    const t = await topicWith('n-policy', 1, 1);
    const g = uniq('g');
    await api.putGroup(g, { retryPolicy: { type: 'EXPONENTIAL', initialMs: 800, maxMs: 10_000, multiplier: 2 } });
    const [m] = await api.receive(t, g);
    const t0 = Date.now();
    await api.nack(t, g, [m.receiptHandle]);
    const [again] = await api.receiveN(t, g, 1, 5000);
    expect(again.deliveryAttempt).toBe(2);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(700);
  });

  it('bad nack requests are 400 and change nothing', async () => {
    const t = await topicWith('n-bad', 1, 1);
    const g = uniq('g');
    const [m] = await api.receive(t, g);
    for (const body of [{ receiptHandles: [m.receiptHandle], delayMs: -1 }, { receiptHandles: [m.receiptHandle], delayMs: 43_200_001 },
      { receiptHandles: [m.receiptHandle], delayMs: 'soon' }, { receiptHandles: [] }, { receiptHandles: [m.receiptHandle], extra: true }]) {
      expectError(await api.post(sub(t, g, 'nack'), body), 400, 'BAD_REQUEST');
    }
    expect(await api.nack(t, g, ['not-a-handle'])).toEqual(['INVALID']);
    // still in flight under the same handle
    expect(await api.ack(t, g, [m.receiptHandle])).toEqual(['OK']);
  });
});

describe('change-invisibility', () => {
  it('answers a new handle and moves the deadline; the old handle is then EXPIRED', async () => {
    const t = await topicWith('ci', 1, 1);
    const g = uniq('g');
    await api.putGroup(g, FAST);
    const [m] = await api.receive(t, g, { invisibleMs: 1000 });
    const r = await api.post(sub(t, g, 'change-invisibility'), { receiptHandle: m.receiptHandle, invisibleMs: 20_000 });
    expect(r.status).toBe(200);
    expect(Object.keys(r.body)).toEqual(['receiptHandle']);
    expect(r.body.receiptHandle).not.toBe(m.receiptHandle);
    await sleep(1600);
    // past the first deadline, still invisible
    expect(await api.receive(t, g, { waitMs: 500 })).toEqual([]);
    expect(await api.ack(t, g, [m.receiptHandle])).toEqual(['EXPIRED']);
    expectError(await api.post(sub(t, g, 'change-invisibility'), { receiptHandle: m.receiptHandle, invisibleMs: 5000 }), 400, 'RECEIPT_HANDLE_EXPIRED');
    expect(await api.ack(t, g, [r.body.receiptHandle])).toEqual(['OK']);
    expectError(await api.post(sub(t, g, 'change-invisibility'), { receiptHandle: r.body.receiptHandle, invisibleMs: 5000 }), 400, 'RECEIPT_HANDLE_EXPIRED');
  });

  it('shortening it redelivers sooner', async () => {
    const t = await topicWith('ci-short', 1, 1);
    const g = uniq('g');
    await api.putGroup(g, FAST);
    const [m] = await api.receive(t, g, { invisibleMs: 60_000 });
    const r = await api.post(sub(t, g, 'change-invisibility'), { receiptHandle: m.receiptHandle, invisibleMs: 1000 });
    expect(r.status).toBe(200);
    const [again] = await api.receiveN(t, g, 1, 5000);
    expect(again).toMatchObject({ messageId: m.messageId, deliveryAttempt: 2 });
  });

  it('bad requests: 400 BAD_REQUEST, INVALID_RECEIPT_HANDLE', async () => {
    const t = await topicWith('ci-bad', 1, 1);
    const t2 = await topicWith('ci-bad2', 1, 1);
    const g = uniq('g');
    const [m] = await api.receive(t, g);
    const [other] = await api.receive(t2, g);
    const [otherGroup] = await api.receive(t, uniq('g2'));
    for (const body of [{ receiptHandle: m.receiptHandle }, { receiptHandle: m.receiptHandle, invisibleMs: 999 },
      { receiptHandle: m.receiptHandle, invisibleMs: 43_200_001 }, { invisibleMs: 5000 }, { receiptHandle: '', invisibleMs: 5000 },
      { receiptHandle: m.receiptHandle, invisibleMs: 5000, extra: 1 }]) {
      expectError(await api.post(sub(t, g, 'change-invisibility'), body), 400, 'BAD_REQUEST');
    }
    for (const h of ['garbage', other.receiptHandle, otherGroup.receiptHandle]) {
      expectError(await api.post(sub(t, g, 'change-invisibility'), { receiptHandle: h, invisibleMs: 5000 }), 400, 'INVALID_RECEIPT_HANDLE');
    }
    // nothing changed: the original handle still acks
    expect(await api.ack(t, g, [m.receiptHandle])).toEqual(['OK']);
  });
});

describe('FIFO message groups', () => {
  it('message n+1 of a group waits until n is acked; other groups are not held back', async () => {
    const t = uniq('fifo');
    const g = uniq('g');
    await api.createTopic(t, { queues: 1, type: 'FIFO' });
    await api.putGroup(g, FAST);
    await api.produce(t, { messages: [
      { body: 'a1', messageGroup: 'a' }, { body: 'b1', messageGroup: 'b' }, { body: 'a2', messageGroup: 'a' },
      { body: 'b2', messageGroup: 'b' }, { body: 'a3', messageGroup: 'a' },
    ] });
    const heads = await api.receive(t, g);
    expect(heads.map((m) => m.body)).toEqual(['a1', 'b1']);
    expect(await api.receive(t, g)).toEqual([]);
    // acking a1 releases a2, and a long poll that waits for it answers at once
    const poll = api.post(sub(t, g, 'receive'), { waitMs: 8000 });
    await sleep(300);
    expect(await api.ack(t, g, [heads[0].receiptHandle])).toEqual(['OK']);
    const p = await poll;
    expect(p.body.messages.map((m: Json) => m.body)).toEqual(['a2']);
    expect(p.ms).toBeLessThan(4000);
    // a failed b1 comes back before b2
    expect(await api.nack(t, g, [heads[1].receiptHandle], 0)).toEqual(['OK']);
    const [b1] = await api.receiveN(t, g, 1, 3000);
    expect(b1).toMatchObject({ body: 'b1', deliveryAttempt: 2 });
    expect(await api.receive(t, g)).toEqual([]);
    await api.ack(t, g, [b1.receiptHandle, p.body.messages[0].receiptHandle]);
    const next = await api.receive(t, g);
    expect(next.map((m) => m.body).sort()).toEqual(['a3', 'b2']);
    await api.ack(t, g, handles(next));
    expect((await api.group(g)).lag).toBe(0);
  });

  it('a dead-lettered head releases the next message of its group', async () => {
    const t = uniq('fifo-dlq');
    const g = uniq('g');
    await api.createTopic(t, { queues: 1, type: 'FIFO' });
    await api.putGroup(g, { ...FAST, maxRetries: 0 });
    await api.produce(t, { messages: [{ body: 'x1', messageGroup: 'x' }, { body: 'x2', messageGroup: 'x' }] });
    const [x1] = await api.receive(t, g);
    expect(x1.body).toBe('x1');
    expect(await api.nack(t, g, [x1.receiptHandle], 0)).toEqual(['OK']);
    const [x2] = await api.receiveN(t, g, 1, 5000);
    expect(x2).toMatchObject({ body: 'x2', deliveryAttempt: 1 });
  });
});

describe('dead-letter queue', () => {
  async function dlqMessages(group: string, n: number): Promise<Json[]> {
    const dlq = `%DLQ%${group}`;
    // the transfer runs in the broker's alarm: wait for the topic to appear
    const until = Date.now() + 10_000;
    for (;;) {
      const r = await api.get(`/v1/topics/${enc(dlq)}`);
      if (r.status === 200 && r.body.messages >= n) break;
      if (Date.now() > until) throw new Error(`${dlq} did not get ${n} messages: ${r.text}`);
      await sleep(200);
    }
    return api.receiveN(dlq, uniq('inspect'), n, 5000);
  }

  it('after 1 + maxRetries failed deliveries the message moves to %DLQ%{group} with ORIGIN_* properties', async () => {
    const t = uniq('dlq');
    const g = uniq('g');
    await api.createTopic(t, { queues: 2 });
    await api.putGroup(g, { ...FAST, maxRetries: 1 });
    const [p] = await api.produce(t, { body: { order: 7 }, tag: 'pay', keys: ['o-7'], properties: { region: 'eu' } });
    await api.produce(t, { body: 'survivor' });

    const both = await api.receiveN(t, g, 2, 5000);
    const first = both.find((m) => m.messageId === p.messageId);
    expect(first.deliveryAttempt).toBe(1);
    expect(await api.ack(t, g, handles(both.filter((m) => m !== first)))).toEqual(['OK']);
    expect(await api.nack(t, g, [first.receiptHandle], 0)).toEqual(['OK']);
    const [second] = await api.receiveN(t, g, 1, 5000);
    expect(second).toMatchObject({ messageId: p.messageId, deliveryAttempt: 2 });
    expectError(await api.get(`/v1/topics/${enc(`%DLQ%${g}`)}`), 404, 'TOPIC_NOT_FOUND');
    expect(await api.nack(t, g, [second.receiptHandle], 0)).toEqual(['OK']);

    const [dead] = await dlqMessages(g, 1);
    const dlqTopic = await api.topic(`%DLQ%${g}`);
    expect(dlqTopic).toMatchObject({ name: `%DLQ%${g}`, queues: 1, messages: 1 });
    expect(dead).toMatchObject({
      topic: `%DLQ%${g}`, body: { order: 7 }, encoding: 'json', tag: 'pay', keys: ['o-7'],
      properties: { region: 'eu', ORIGIN_TOPIC: t, ORIGIN_MESSAGE_ID: p.messageId, ORIGIN_QUEUE_ID: String(p.queueId) },
    });
    // done for the group: never delivered again, nothing in flight or retrying
    await sleep(300);
    expect(await api.receive(t, g, { waitMs: 1000 })).toEqual([]);
    const d = await api.group(g);
    for (const q of d.queues.filter((x: Json) => x.topic === t)) expect(q).toMatchObject({ inflight: 0, retrying: 0 });
    // only once in the DLQ
    await sleep(500);
    expect((await api.topic(`%DLQ%${g}`)).messages).toBe(1);
  });

  it('maxRetries 0: the first failure, by running out of invisibility, dead-letters', async () => {
    const t = await topicWith('dlq0', 1, 1);
    const g = uniq('g');
    await api.putGroup(g, { ...FAST, maxRetries: 0 });
    const [m] = await api.receive(t, g, { invisibleMs: 1000 });
    const [dead] = await dlqMessages(g, 1);
    expect(dead.properties).toMatchObject({ ORIGIN_TOPIC: t, ORIGIN_MESSAGE_ID: m.messageId, ORIGIN_QUEUE_ID: '0' });
    expect(await api.receive(t, g)).toEqual([]);
    expect(await api.ack(t, g, [m.receiptHandle])).toEqual(['EXPIRED']);
  });

  it('the DLQ topic can be consumed, acked and reset like any topic, but not created by hand', async () => {
    const t = await topicWith('dlq-use', 2, 1);
    const g = uniq('g');
    await api.putGroup(g, { ...FAST, maxRetries: 0 });
    const got = await api.receive(t, g);
    await api.nack(t, g, handles(got), 0);
    const dlq = `%DLQ%${g}`;
    const reader = uniq('reader');
    await dlqMessages(g, 2);
    const msgs = await api.receive(dlq, reader);
    expect(msgs.map((m) => m.body).sort()).toEqual(['m0', 'm1']);
    expect(await api.ack(dlq, reader, handles(msgs))).toEqual(['OK', 'OK']);
    const r = await api.post(`/v1/groups/${reader}/reset-offset`, { topic: dlq, to: 'EARLIEST' });
    expect(r.status).toBe(200);
    expect(await api.receive(dlq, reader)).toHaveLength(2);
    expectError(await api.post('/v1/topics', { name: dlq }), 400, 'INVALID_NAME');
    expectError(await api.post(`/v1/topics/${enc(dlq)}/messages`, { body: 'forged' }), 400, 'INVALID_NAME');
    // deleted, it is created again on demand by the next dead letter
    expect((await api.del(`/v1/topics/${enc(dlq)}`)).status).toBe(204);
    expectError(await api.get(`/v1/topics/${enc(dlq)}`), 404, 'TOPIC_NOT_FOUND');
    await api.produce(t, { body: 'm2' });
    const [m2] = await api.receiveN(t, g, 1, 5000);
    await api.nack(t, g, [m2.receiptHandle], 0);
    const [dead] = await dlqMessages(g, 1);
    expect(dead).toMatchObject({ body: 'm2', properties: { ORIGIN_MESSAGE_ID: m2.messageId } });
    expect((await api.topic(dlq)).messages).toBe(1);
  });
});
