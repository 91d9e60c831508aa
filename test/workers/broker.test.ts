/**
 * The Broker object through its RPC methods, with its alarm run by hand (runDurableObjectAlarm)
 * and time made to pass by backdating rows in its SQLite.
 */
import { env, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { decodeMessageId, hash32, IdKind, logMessageId } from '../../src/model/ids';
import { packRecords, slicePacked, splitRecords } from '../../src/model/message';
import type { GroupConfig } from '../../src/model/schemas';
import type { Broker, ConsumerRef, Stored } from '../../src/objects/Broker';
import { broker, dlqTopicName, type QueueRoute } from '../../src/objects/names';
import {
  alarmAt, brokerOf, brokerSql, consumer, groupConfig, handleOf, HOUR, ok, outgoing, queueRoute, received, sleep,
} from './helpers';

type Stub = DurableObjectStub<Broker>;
interface Delivered {
  messageId: string; topic: string; queueId: number; queueOffset: number; body: unknown; encoding: string;
  tag?: string; keys?: string[]; properties?: Record<string, string>; bornTimestamp: number; storeTimestamp: number;
  deliverAt?: number; deliveryAttempt: number; receiptHandle: string;
}

async function setup(over: Partial<QueueRoute['topic']> = {}, name = 'orders') {
  const route = queueRoute(name, over);
  const stub = brokerOf(route);
  return { route, stub };
}

/** A packed append's first offset (it stored a run of offsets, not message by message). */
function baseOf(r: Stored): number {
  const s = ok(r);
  if (!('base' in s)) throw new Error(`expected a run of offsets: ${JSON.stringify(s)}`);
  return s.base;
}

async function produce(stub: Stub, route: QueueRoute, inputs: Parameters<typeof outgoing>[1]) {
  return ok(await stub.produce(route, outgoing(route, inputs))).messages;
}

async function receive(stub: Stub, route: QueueRoute, c: ConsumerRef, max = 16, invisibleMs?: number, filter?: string | null) {
  return received(await stub.receive(route, c, { max, invisibleMs, filter })) as unknown as Delivered[];
}

async function ack(stub: Stub, route: QueueRoute, g: GroupConfig, ms: Delivered[]) {
  return ok(await stub.ack(route, g, ms.map((m) => handleOf(m.receiptHandle)))).results;
}

async function gstatus(stub: Stub, route: QueueRoute, g: GroupConfig | string) {
  const { consumers: _c, pushConsumers: _p, ...s } = ok(await stub.groupStatus(route, [typeof g === 'string' ? g : g.name]));
  return s;
}

/** Runs the alarm until `done` holds (an alarm due now may also fire on its own meanwhile). */
async function alarmUntil(stub: Stub, done: () => Promise<boolean>, tries = 40) {
  for (let i = 0; i < tries; i++) {
    await runDurableObjectAlarm(stub);
    if (await done()) return;
    await sleep(25);
  }
  throw new Error('the alarm did not get the work done');
}

/** Rows the Broker wrote so far, as billed (its costCounters: the test pool sets COST_COUNTERS). */
async function rowsWritten(b: { costCounters(): Promise<{ rowsWritten: number | null }> }): Promise<number> {
  const n = (await b.costCounters()).rowsWritten;
  if (n === null) throw new Error('the Broker does not count SQL rows: vitest.config.ts sets COST_COUNTERS');
  return n;
}

describe('produce and receive', () => {
  it('stores a batch in order and hands it out once per group', async () => {
    const { route, stub } = await setup();
    const res = await produce(stub, route, [
      { body: 'one', tag: 'a', keys: ['k1'], properties: { p: '1' } },
      { body: { n: 2 } },
      { body: 'AAEC', encoding: 'base64' },
    ]);
    expect(res.map((r) => r.queueOffset)).toEqual([0, 1, 2]);
    expect(res.map((r) => r.queueId)).toEqual([0, 0, 0]);
    for (const [i, r] of res.entries()) {
      expect(decodeMessageId(r.messageId)).toEqual({ incarnation: 'ABCDEF01', queueId: 0, kind: IdKind.Log, seq: i });
      expect(r.duplicate).toBeUndefined();
    }
    expect(ok(await stub.status(route))).toMatchObject({ queueId: 0, minOffset: 0, maxOffset: 3, messages: 3, scheduled: 0 });

    const g = groupConfig('g');
    const got = await receive(stub, route, consumer(g), 2);
    expect(got.map((m) => m.messageId)).toEqual(res.slice(0, 2).map((r) => r.messageId));
    expect(got[0]).toMatchObject({
      topic: 'orders', queueId: 0, queueOffset: 0, body: 'one', encoding: 'text', tag: 'a', keys: ['k1'],
      properties: { p: '1' }, deliveryAttempt: 1,
    });
    expect(got[1]).toMatchObject({ body: { n: 2 }, encoding: 'json', deliveryAttempt: 1 });
    expect(got[0].storeTimestamp).toBeGreaterThanOrEqual(got[0].bornTimestamp);
    const h = handleOf(got[0].receiptHandle);
    expect(h).toMatchObject({ offset: 0, attempt: 1, groupHash: hash32('g') });
    expect(handleOf(got[1].receiptHandle).leaseId).toBe(h.leaseId); // one lease per receive
    expect(await gstatus(stub, route, g)).toEqual({ queueId: 0, brokerOffset: 3, consumerOffset: 0, lag: 3, inflight: 2, retrying: 0 });

    // in flight messages are not handed out again
    const rest = await receive(stub, route, consumer(g));
    expect(rest.map((m) => [m.queueOffset, m.body, m.encoding])).toEqual([[2, 'AAEC', 'base64']]);
    expect(await receive(stub, route, consumer(g))).toEqual([]);

    // another group gets everything
    expect((await receive(stub, route, consumer(groupConfig('other')))).map((m) => m.queueOffset)).toEqual([0, 1, 2]);

    expect(await ack(stub, route, g, [...got, ...rest])).toEqual(['OK', 'OK', 'OK']);
    expect(await ack(stub, route, g, got)).toEqual(['EXPIRED', 'EXPIRED']);
    expect(await gstatus(stub, route, g)).toEqual({ queueId: 0, brokerOffset: 3, consumerOffset: 3, lag: 0, inflight: 0, retrying: 0 });
  });

  it('keeps 3 x 500 KB and a 3 MiB non-ASCII body intact through the broker', async () => {
    const { route, stub } = await setup();
    const small = ['a', 'b', 'c'].map((ch) => ch.repeat(500 * 1024));
    const unit = 'Grüße, 世界 🌍 ';
    const big = unit.repeat(Math.ceil((3 << 20) / new TextEncoder().encode(unit).length));
    await produce(stub, route, [...small, big]);
    const segs = await brokerSql<{ n: number }>(stub, 'SELECT n FROM segments');
    expect(segs.length).toBeGreaterThanOrEqual(3);
    expect((await brokerSql<{ n: number }>(stub, 'SELECT COUNT(DISTINCT off) AS n FROM bigbodies'))[0].n).toBe(1);
    const g = groupConfig('g');
    const got = [...await receive(stub, route, consumer(g), 2), ...await receive(stub, route, consumer(g), 2)];
    expect(got.map((m) => m.queueOffset)).toEqual([0, 1, 2, 3]);
    got.slice(0, 3).forEach((m, i) => expect(m.body === small[i]).toBe(true));
    expect((got[3].body as string).length).toBe(big.length);
    expect(got[3].body === big).toBe(true);
  });

  it('stores packed records (the produce path) as it stores message objects: same messages, ids, keys', async () => {
    const a = await setup({}, 'packed-a');
    const b = await setup({}, 'packed-b');
    const unit = 'Grüße, 世界 🌍 ';
    const inputs = [
      { body: 'plain' }, { body: { json: [1, 2] } }, { body: 'aGk=', encoding: 'base64' as const },
      { body: 't', tag: 'x', keys: ['k1', 'k2'], properties: { p: 'v' } }, { body: 'g', messageGroup: 'm' },
      { body: unit.repeat(Math.ceil(700_000 / unit.length)) }, // over a segment: kept in parts
      { body: 'last', keys: ['k1'] },
    ];
    const now = Date.now();
    const objects = ok(await a.stub.produce(a.route, outgoing(a.route, inputs, now))).messages;
    const packed = packRecords(outgoing(b.route, inputs, now))!;
    expect(packed.keys).toEqual([[3, ['k1', 'k2']], [6, ['k1']]]);
    const base = baseOf(await b.stub.producePacked(b.route, packed));
    expect(base).toBe(0);
    expect(objects.map((m) => m.queueOffset)).toEqual(inputs.map((_, k) => base + k));
    const ids = inputs.map((_, k) => logMessageId(b.route.topic.incarnation, 0, base + k));
    for (let k = 0; k < inputs.length; k++) {
      expect(decodeMessageId(objects[k].messageId)).toMatchObject({ kind: IdKind.Log, seq: k });
      const [x, y] = [await a.stub.getMessage(a.route, { off: k }), await b.stub.getMessage(b.route, { off: k })] as (Record<string, unknown> | null)[];
      const strip = (m: Record<string, unknown> | null) => { const { messageId: _i, topic: _t, storeTimestamp: _s, groups: _g, ...rest } = m!; return rest; };
      expect(strip(y)).toEqual(strip(x));
      expect(y!.messageId).toBe(ids[k]);
    }
    const byKey = async (x: typeof a) => ((await x.stub.query(x.route, { key: 'k1' }, null, 10)) as unknown as { messages: { queueOffset: number }[] }).messages.map((m) => m.queueOffset);
    expect(await byKey(b)).toEqual(await byKey(a));
    expect(await byKey(b)).toEqual([3, 6]);
    expect(packRecords(outgoing(b.route, [{ body: 'd', dedupId: 'x' }]))).toBeNull();
    expect(packRecords(outgoing(b.route, [{ body: 's', delayMs: 60_000 }]))).toBeNull();
  });

  it('group commit: packed appends that arrive together share one transaction and one segment row, in arrival order', async () => {
    const { route, stub } = await setup({}, 'group-commit');
    const now = Date.now();
    const parts = [['a0'], ['b0', 'b1', 'b2'], ['c0'], ['d0', 'd1']].map((bodies, r) =>
      packRecords(outgoing(route, bodies.map((body) => ({ body, keys: [`r${r}`] })), now))!);
    // called in one turn of the object (as RPCs that arrive together are)
    const answers = (await runInDurableObject(stub, (b: Broker) => Promise.all(parts.map((p) => b.producePacked(route, p))))).map(baseOf);
    expect(answers).toEqual([0, 1, 4, 5]);
    expect(await brokerSql(stub, 'SELECT base, n FROM segments ORDER BY base')).toEqual([{ base: 0, n: 7 }]);
    for (const [r, p] of parts.entries()) {
      for (const [k, json] of splitRecords(p.text, p.lens).entries()) {
        expect(await stub.getMessage(route, { off: answers[r] + k })).toMatchObject({ body: JSON.parse(json).b });
      }
    }
    // each part's keys point at its own offsets
    const byKey = async (key: string) => ((await stub.query(route, { key }, null, 10)) as unknown as { messages: { queueOffset: number }[] }).messages.map((m) => m.queueOffset);
    expect(await byKey('r1')).toEqual([1, 2, 3]);
    expect(await byKey('r3')).toEqual([5, 6]);
    // one at a time, each is its own
    expect(baseOf(await stub.producePacked(route, packRecords(outgoing(route, [{ body: 'e0' }], now))!))).toBe(7);
    expect(await brokerSql(stub, 'SELECT base, n FROM segments ORDER BY base')).toEqual([{ base: 0, n: 7 }, { base: 7, n: 1 }]);
  });

  it('idempotency keys over runs of one packed append: each keyed run stored once, a repeated run answered as before, the rest stored anew', async () => {
    const { route, stub } = await setup({}, 'key-runs');
    const now = Date.now();
    const packed = packRecords(outgoing(route, ['a0', 'a1', 'x', 'b0', 'b1'].map((body) => ({ body, keys: [body] })), now))!;
    // slicing a packed part gives the same records, keys included
    expect(slicePacked(packed, 1, 4)).toEqual(packRecords(outgoing(route, ['a1', 'x', 'b0'].map((body) => ({ body, keys: [body] })), now)));
    const keys = [{ key: 'ka', n: 2 }, { n: 1 }, { key: 'kb', n: 2 }];
    expect(baseOf(await stub.producePacked(route, packed, keys))).toBe(0); // all new: one run of offsets
    const again = ok(await stub.producePacked(route, packed, keys));
    expect('messages' in again && again.messages.map((m) => [m.queueOffset, m.duplicate ?? false])).toEqual([
      [0, true], [1, true], [5, false], [3, true], [4, true]]);
    expect(await brokerSql(stub, 'SELECT base, n FROM segments ORDER BY base')).toEqual([{ base: 0, n: 5 }, { base: 5, n: 1 }]);
    expect(await stub.getMessage(route, { off: 5 })).toMatchObject({ body: 'x' });
    // ranges that do not cover the records are refused, and nothing is stored
    expect(await stub.producePacked(route, packed, [{ key: 'kc', n: 4 }])).toMatchObject({ failure: { code: 'BAD_REQUEST' } });
    expect(await brokerSql(stub, 'SELECT COUNT(*) AS n FROM segments')).toEqual([{ n: 2 }]);
  });

  it('group commit: appends that together pass 100,000 characters of records go in more than one segment row, still one commit, offsets in order', async () => {
    const { route, stub } = await setup({}, 'group-commit-split');
    const now = Date.now();
    // five requests of 40 records of ~1 KB: ~41,000 characters each, so two fit a segment row, not three
    const parts = [0, 1, 2, 3, 4].map((r) => packRecords(outgoing(route, Array.from({ length: 40 }, (_, i) => ({ body: `${r}.${i}:${'x'.repeat(1000)}`, keys: [`r${r}`] })), now))!);
    expect(parts[0].text.length).toBeGreaterThan(40_000);
    const answers = (await runInDurableObject(stub, (b: Broker) => Promise.all(parts.map((p) => b.producePacked(route, p))))).map(baseOf);
    expect(answers).toEqual([0, 40, 80, 120, 160]);
    expect(await brokerSql(stub, 'SELECT base, n FROM segments ORDER BY base')).toEqual([{ base: 0, n: 80 }, { base: 80, n: 80 }, { base: 160, n: 40 }]);
    for (const off of [0, 39, 40, 79, 80, 159, 160, 199]) {
      expect(await stub.getMessage(route, { off })).toMatchObject({ body: `${Math.floor(off / 40)}.${off % 40}:${'x'.repeat(1000)}` });
    }
    const byKey = async (key: string) => ((await stub.query(route, { key }, null, 100)) as unknown as { messages: { queueOffset: number }[] }).messages.map((m) => m.queueOffset);
    expect(await byKey('r2')).toEqual(Array.from({ length: 40 }, (_, i) => 80 + i));
    expect(ok(await stub.status(route))).toMatchObject({ minOffset: 0, maxOffset: 200, messages: 200 });
  });

  it('group commit: an append queued when the topic is dropped answers TOPIC_NOT_FOUND and stores nothing', async () => {
    const { route, stub } = await setup({}, 'group-commit-drop');
    const p = packRecords(outgoing(route, [{ body: 'x' }]))!;
    const [a, , b] = await runInDurableObject(stub, (o: Broker) => Promise.all([o.producePacked(route, p), o.drop(), o.producePacked(route, p)]));
    expect(a).toMatchObject({ failure: { code: 'TOPIC_NOT_FOUND' } });
    expect(b).toMatchObject({ failure: { code: 'TOPIC_NOT_FOUND' } });
    expect(await brokerSql(stub, 'SELECT * FROM segments')).toEqual([]);
  });

  it('skips filtered-out messages and counts them as consumed', async () => {
    const { route, stub } = await setup();
    await produce(stub, route, [{ body: '1', tag: 'a' }, { body: '2', tag: 'b' }, { body: '3', tag: 'a' }, { body: '4' }]);
    const g = groupConfig('g');
    const got = await receive(stub, route, consumer(g), 16, undefined, 'a');
    expect(got.map((m) => m.body)).toEqual(['1', '3']);
    await ack(stub, route, g, got);
    expect(await gstatus(stub, route, g)).toMatchObject({ consumerOffset: 4, lag: 0, inflight: 0 });
  });

  it('starts a new group at LAST or at a timestamp when asked', async () => {
    const { route, stub } = await setup();
    await produce(stub, route, ['old1', 'old2']);
    const last = groupConfig('last', { consumeFrom: 'LAST' });
    expect(await receive(stub, route, consumer(last))).toEqual([]);
    const later = groupConfig('later', { consumeFrom: { timestamp: Date.now() + HOUR } });
    expect(await receive(stub, route, consumer(later))).toEqual([]);
    const early = groupConfig('early', { consumeFrom: { timestamp: 0 } });
    expect((await receive(stub, route, consumer(early))).map((m) => m.body)).toEqual(['old1', 'old2']);
    await produce(stub, route, ['new']);
    expect((await receive(stub, route, consumer(last))).map((m) => [m.body, m.queueOffset])).toEqual([['new', 2]]);
    expect((await receive(stub, route, consumer(later))).map((m) => m.body)).toEqual(['new']);
  });

  it('gives every broadcasting consumer every message, with its own handles', async () => {
    const { route, stub } = await setup();
    await produce(stub, route, ['x', 'y']);
    const g = groupConfig('b', { mode: 'BROADCASTING' });
    const c1 = await receive(stub, route, consumer(g, 'c1'));
    const c2 = await receive(stub, route, consumer(g, 'c2'));
    expect(c1.map((m) => m.body)).toEqual(['x', 'y']);
    expect(c2.map((m) => m.body)).toEqual(['x', 'y']);
    expect(handleOf(c1[0].receiptHandle).groupHash).toBe(hash32('b\u001fc1'));
    await ack(stub, route, g, c1);
    const s = ok(await stub.groupStatus(route, { prefix: 'b\u001f' }));
    expect(s).toMatchObject({ brokerOffset: 2, consumerOffset: 0, inflight: 2 });
    expect(s.consumers.map((c) => c.consumerId).sort()).toEqual(['c1', 'c2']);
    expect(await ack(stub, route, g, c2)).toEqual(['OK', 'OK']);
    expect(ok(await stub.groupStatus(route, { prefix: 'b\u001f' }))).toMatchObject({ consumerOffset: 2, lag: 0, inflight: 0 });
  });

  it('refuses everything once the topic was dropped', async () => {
    const { route, stub } = await setup();
    await produce(stub, route, ['x']);
    await stub.drop();
    const f = await stub.produce(route, outgoing(route, ['y']));
    expect(f).toMatchObject({ failure: { code: 'TOPIC_NOT_FOUND' } });
    expect(await stub.status(route)).toMatchObject({ failure: { code: 'TOPIC_NOT_FOUND' } });
    expect(await stub.receive(route, consumer(groupConfig('g')), { max: 1 })).toMatchObject({ failure: { code: 'TOPIC_NOT_FOUND' } });
    expect(await brokerSql(stub, 'SELECT * FROM segments')).toEqual([]);
  });
});

describe('ack, nack and invisibility', () => {
  it("answers INVALID for another group's handle and leaves the message in flight", async () => {
    const { route, stub } = await setup();
    await produce(stub, route, ['x']);
    const a = groupConfig('a'), b = groupConfig('b');
    const got = await receive(stub, route, consumer(a));
    expect(await ack(stub, route, b, got)).toEqual(['INVALID']);
    expect(ok(await stub.nack(route, b, [handleOf(got[0].receiptHandle)])).results).toEqual(['INVALID']);
    expect(await gstatus(stub, route, a)).toMatchObject({ inflight: 1, retrying: 0 });
    expect(await ack(stub, route, a, got)).toEqual(['OK']);
  });

  it('answers INVALID for a handle with a forged group hash, and changes nothing', async () => {
    const { route, stub } = await setup();
    await produce(stub, route, ['x', 'y']);
    const g = groupConfig('b', { mode: 'BROADCASTING' });
    const [m1, m2] = await receive(stub, route, consumer(g, 'c1'));
    const forged = (m: Delivered) => ({ ...handleOf(m.receiptHandle), groupHash: hash32('b\u001fc2') });
    expect(ok(await stub.ack(route, g, [forged(m1)])).results).toEqual(['INVALID']);
    expect(ok(await stub.nack(route, g, [forged(m2)], 0)).results).toEqual(['INVALID']);
    const s = ok(await stub.groupStatus(route, ['b\u001fc1']));
    expect(s).toMatchObject({ inflight: 2, retrying: 0 });
    expect(await ack(stub, route, g, [m1, m2])).toEqual(['OK', 'OK']);
  });

  it('redelivers a nacked message after the backoff, with deliveryAttempt + 1', async () => {
    const { route, stub } = await setup();
    const [p] = await produce(stub, route, ['x']);
    const g = groupConfig('g', { retryPolicy: { type: 'EXPONENTIAL', initialMs: 5000, maxMs: 60_000, multiplier: 3 } });
    const [m] = await receive(stub, route, consumer(g));
    const before = Date.now();
    expect(ok(await stub.nack(route, g, [handleOf(m.receiptHandle)])).results).toEqual(['OK']);
    expect(ok(await stub.nack(route, g, [handleOf(m.receiptHandle)])).results).toEqual(['EXPIRED']);
    const [r] = await brokerSql<{ off: number; attempt: number; due: number; dlq: number }>(stub, 'SELECT off, attempt, due, dlq FROM retries');
    expect(r).toMatchObject({ off: 0, attempt: 2, dlq: 0 });
    expect(r.due - before).toBeGreaterThanOrEqual(4000);
    expect(r.due - before).toBeLessThanOrEqual(6000);
    expect(await gstatus(stub, route, g)).toMatchObject({ consumerOffset: 0, inflight: 0, retrying: 1, lag: 1 });
    expect(await receive(stub, route, consumer(g))).toEqual([]); // still backing off

    await brokerSql(stub, 'UPDATE retries SET due = ?', Date.now() - 1);
    const [again] = await receive(stub, route, consumer(g));
    expect(again).toMatchObject({ messageId: p.messageId, queueOffset: 0, body: 'x', deliveryAttempt: 2 });
    expect(ok(await stub.nack(route, g, [handleOf(again.receiptHandle)])).results).toEqual(['OK']);
    const [r2] = await brokerSql<{ attempt: number; due: number }>(stub, 'SELECT attempt, due FROM retries');
    expect(r2.attempt).toBe(3);
    expect(r2.due - Date.now()).toBeGreaterThan(10_000); // 5000 * 3
  });

  it('redelivers at once after a nack with delayMs 0, retries before new messages', async () => {
    const { route, stub } = await setup();
    await produce(stub, route, ['x', 'y']);
    const g = groupConfig('g');
    const [m] = await receive(stub, route, consumer(g), 1);
    await stub.nack(route, g, [handleOf(m.receiptHandle)], 0);
    const got = await receive(stub, route, consumer(g), 2);
    expect(got.map((x) => [x.body, x.deliveryAttempt])).toEqual([['x', 2], ['y', 1]]);
  });

  it('redelivers after the lease runs out, once the backoff has passed', async () => {
    const { route, stub } = await setup();
    const [p] = await produce(stub, route, ['x']);
    const g = groupConfig('g'); // CUSTOMIZED: 10 s before the first retry
    const [m] = await receive(stub, route, consumer(g));
    const [lease] = await brokerSql<{ deadline: number }>(stub, 'SELECT deadline FROM leases');
    expect(lease.deadline - Date.now()).toBeGreaterThan(25_000); // the group's invisibleMs, 30 s

    await brokerSql(stub, 'UPDATE leases SET deadline = ?', Date.now() - 1);
    expect(await ack(stub, route, g, [m])).toEqual(['EXPIRED']); // ran out, even before the sweep
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await brokerSql(stub, 'SELECT * FROM leases')).toEqual([]);
    const [r] = await brokerSql<{ attempt: number; due: number }>(stub, 'SELECT attempt, due FROM retries');
    expect(r.attempt).toBe(2);
    expect(r.due - Date.now()).toBeGreaterThan(8_000);
    expect(r.due - Date.now()).toBeLessThanOrEqual(10_000);
    expect(await gstatus(stub, route, g)).toMatchObject({ inflight: 0, retrying: 1, consumerOffset: 0 });
    expect(await receive(stub, route, consumer(g))).toEqual([]);

    await brokerSql(stub, 'UPDATE retries SET due = ?', Date.now() - 1);
    const [again] = await receive(stub, route, consumer(g));
    expect(again).toMatchObject({ messageId: p.messageId, deliveryAttempt: 2 });
    expect(await ack(stub, route, g, [m])).toEqual(['EXPIRED']); // superseded
    expect(await ack(stub, route, g, [again])).toEqual(['OK']);
    expect(await gstatus(stub, route, g)).toMatchObject({ inflight: 0, retrying: 0, consumerOffset: 1, lag: 0 });
  });

  it('redelivers after a short invisibility really runs out', async () => {
    const { route, stub } = await setup();
    await produce(stub, route, ['x']);
    const g = groupConfig('g', { retryPolicy: { type: 'EXPONENTIAL', initialMs: 0, maxMs: 0, multiplier: 1 } });
    const [m] = await receive(stub, route, consumer(g), 1, 1000);
    await sleep(1100);
    await alarmUntil(stub, async () => (await gstatus(stub, route, g)).inflight === 0);
    const [again] = await receive(stub, route, consumer(g));
    expect(again).toMatchObject({ body: 'x', deliveryAttempt: 2 });
    expect(await ack(stub, route, g, [m])).toEqual(['EXPIRED']);
  });

  it('changes invisibility with a new handle; the old one is superseded', async () => {
    const { route, stub } = await setup();
    await produce(stub, route, ['x']);
    const g = groupConfig('g');
    const [m] = await receive(stub, route, consumer(g));
    const h = handleOf(m.receiptHandle);
    const { receiptHandle } = ok(await stub.changeInvisibility(route, g, h, 600_000));
    const h2 = handleOf(receiptHandle);
    expect(h2).toMatchObject({ offset: h.offset, attempt: h.attempt, groupHash: h.groupHash });
    expect(h2.leaseId).toBeGreaterThan(h.leaseId);
    const [lease] = await brokerSql<{ id: number; deadline: number }>(stub, 'SELECT id, deadline FROM leases');
    expect(lease.id).toBe(h2.leaseId);
    expect(lease.deadline - Date.now()).toBeGreaterThan(590_000);
    expect(ok(await stub.ack(route, g, [h])).results).toEqual(['EXPIRED']);
    expect(await stub.changeInvisibility(route, g, h, 5000)).toMatchObject({ failure: { code: 'RECEIPT_HANDLE_EXPIRED' } });
    expect(await stub.changeInvisibility(route, groupConfig('other'), h2, 5000)).toMatchObject({ failure: { code: 'INVALID_RECEIPT_HANDLE' } });
    expect(ok(await stub.ack(route, g, [h2])).results).toEqual(['OK']);
  });
});

describe('dead letters', () => {
  async function dlqOf(group: string) {
    return env.NAMESERVER.get(env.NAMESERVER.idFromName('nameserver')).getTopic(dlqTopicName(group));
  }

  it('moves a message nacked on its last delivery to %DLQ%{group}', async () => {
    const { route, stub } = await setup();
    const [p] = await produce(stub, route, [{ body: { order: 7 }, tag: 'paid', keys: ['o-7'], properties: { region: 'eu' } }]);
    const g = groupConfig('g', { maxRetries: 1 });
    const [m1] = await receive(stub, route, consumer(g));
    expect(ok(await stub.nack(route, g, [handleOf(m1.receiptHandle)], 0)).results).toEqual(['OK']);
    const [m2] = await receive(stub, route, consumer(g));
    expect(m2.deliveryAttempt).toBe(2);
    expect(await dlqOf('g')).toBeNull();
    expect(ok(await stub.nack(route, g, [handleOf(m2.receiptHandle)])).results).toEqual(['OK']);

    await alarmUntil(stub, async () => (await gstatus(stub, route, g)).retrying === 0);
    expect(await gstatus(stub, route, g)).toEqual({ queueId: 0, brokerOffset: 1, consumerOffset: 1, lag: 0, inflight: 0, retrying: 0 });
    expect(await receive(stub, route, consumer(g))).toEqual([]);

    const dlq = await dlqOf('g');
    expect(dlq).toMatchObject({ name: '%DLQ%g', queues: 1, type: 'MIXED' });
    const dlqRoute = { topic: dlq!, queueId: 0 };
    const dstub = broker(env, dlq!, 0);
    expect(ok(await dstub.status(dlqRoute))).toMatchObject({ maxOffset: 1, messages: 1 });
    const [d] = (received(await dstub.receive(dlqRoute, consumer(groupConfig('inspect')), { max: 10 }))) as unknown as Delivered[];
    expect(d).toMatchObject({
      topic: '%DLQ%g', body: { order: 7 }, encoding: 'json', tag: 'paid', keys: ['o-7'],
      properties: { region: 'eu', ORIGIN_TOPIC: 'orders', ORIGIN_MESSAGE_ID: p.messageId, ORIGIN_QUEUE_ID: '0' },
    });
    expect(d.messageId).not.toBe(p.messageId);

    // running the alarm again moves nothing twice
    await runDurableObjectAlarm(stub);
    expect(ok(await dstub.status(dlqRoute))).toMatchObject({ maxOffset: 1 });
  });

  it('still moves dead letters after alarms that had none to move', async () => {
    const { route, stub } = await setup();
    await produce(stub, route, ['a', 'b']);
    const g = groupConfig('g', { maxRetries: 0 });
    const [a, b] = await receive(stub, route, consumer(g));
    await runDurableObjectAlarm(stub); // nothing due, nothing to move
    await runDurableObjectAlarm(stub);
    await stub.nack(route, g, [handleOf(a.receiptHandle)]);
    await alarmUntil(stub, async () => (await gstatus(stub, route, g)).retrying === 0, 10);
    await stub.nack(route, g, [handleOf(b.receiptHandle)]);
    await alarmUntil(stub, async () => (await gstatus(stub, route, g)).retrying === 0, 10);
    const dlq = (await dlqOf('g'))!;
    expect(ok(await broker(env, dlq, 0).status({ topic: dlq, queueId: 0 }))).toMatchObject({ maxOffset: 2 });
  });

  it('dead-letters a message whose only delivery ran out (maxRetries 0)', async () => {
    const { route, stub } = await setup({}, 'payments');
    const [, p] = await produce(stub, route, ['keep', 'drop']);
    const g = groupConfig('solo', { maxRetries: 0 });
    const [m0, m1] = await receive(stub, route, consumer(g));
    await ack(stub, route, g, [m0]);
    await brokerSql(stub, 'UPDATE leases SET deadline = ?', Date.now() - 1);
    await alarmUntil(stub, async () => (await dlqOf('solo')) !== null && (await gstatus(stub, route, g)).retrying === 0);
    expect(await ack(stub, route, g, [m1])).toEqual(['EXPIRED']);
    expect(await gstatus(stub, route, g)).toMatchObject({ consumerOffset: 2, inflight: 0, retrying: 0 });
    const dlq = (await dlqOf('solo'))!;
    const [d] = (received(await broker(env, dlq, 0).receive({ topic: dlq, queueId: 0 }, consumer(groupConfig('x')), { max: 10 }))) as unknown as Delivered[];
    expect(d).toMatchObject({ body: 'drop', properties: { ORIGIN_TOPIC: 'payments', ORIGIN_MESSAGE_ID: p.messageId, ORIGIN_QUEUE_ID: '0' } });
  });
});

describe('retention', () => {
  it('deletes segments older than retentionHours when the alarm runs', async () => {
    const { route, stub } = await setup({ retentionHours: 1 });
    await produce(stub, route, ['old1', 'old2']);
    await produce(stub, route, ['new']);
    const g = groupConfig('g');
    expect(ok(await stub.resetOffset(route, consumer(g), 'EARLIEST'))).toEqual({ queueId: 0, offset: 0 });
    const [m] = await receive(stub, route, consumer(g), 1);
    await stub.nack(route, g, [handleOf(m.receiptHandle)], HOUR); // a retry of a message about to go
    expect(await gstatus(stub, route, g)).toMatchObject({ consumerOffset: 0, retrying: 1 });

    await brokerSql(stub, 'UPDATE segments SET ts = ? WHERE base = 0', Date.now() - HOUR - 1000);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(ok(await stub.status(route))).toMatchObject({ minOffset: 2, maxOffset: 3, messages: 1 });
    expect(await gstatus(stub, route, g)).toMatchObject({ consumerOffset: 2, retrying: 0, lag: 1 });
    const got = await receive(stub, route, consumer(g));
    expect(got.map((x) => [x.body, x.queueOffset])).toEqual([['new', 2]]);
    // a group created afterwards starts at the oldest retained message
    expect((await receive(stub, route, consumer(groupConfig('late')))).map((x) => x.queueOffset)).toEqual([2]);
    // offsets go on from the end
    expect((await produce(stub, route, ['next']))[0].queueOffset).toBe(3);
  });

  it('does not count messages retention deleted in a lag, even while one is in flight', async () => {
    const { route, stub } = await setup({ retentionHours: 1 });
    await produce(stub, route, ['old1', 'old2']);
    await produce(stub, route, ['new']);
    const g = groupConfig('g');
    const [m] = await receive(stub, route, consumer(g), 1);
    await brokerSql(stub, 'UPDATE segments SET ts = ? WHERE base = 0', Date.now() - HOUR - 1000);
    await runDurableObjectAlarm(stub);
    expect(ok(await stub.status(route))).toMatchObject({ minOffset: 2, maxOffset: 3 });
    expect(await gstatus(stub, route, g)).toMatchObject({ brokerOffset: 3, consumerOffset: 2, lag: 1 });
    // its handle still acks, and the group goes on with what is left
    expect(await ack(stub, route, g, [m])).toEqual(['OK']);
    expect((await receive(stub, route, consumer(g))).map((x) => x.body)).toEqual(['new']);
  });

  it('skips a retry of a message retention deleted', async () => {
    const { route, stub } = await setup({ retentionHours: 1 });
    await produce(stub, route, ['old']);
    await produce(stub, route, ['new']);
    const g = groupConfig('g');
    const [m] = await receive(stub, route, consumer(g), 1);
    await brokerSql(stub, 'UPDATE segments SET ts = ? WHERE base = 0', Date.now() - HOUR - 1000);
    await brokerSql(stub, 'UPDATE leases SET deadline = ?', Date.now() - 1);
    await runDurableObjectAlarm(stub);
    await brokerSql(stub, 'UPDATE retries SET due = ?', Date.now() - 1);
    expect(await gstatus(stub, route, g)).toMatchObject({ consumerOffset: 1, lag: 1 });
    expect((await receive(stub, route, consumer(g))).map((x) => [x.body, x.deliveryAttempt])).toEqual([['new', 1]]);
    expect(await ack(stub, route, g, [m])).toEqual(['EXPIRED']);
  });

  it('keeps segments younger than retentionHours', async () => {
    const { route, stub } = await setup({ retentionHours: 1 });
    await produce(stub, route, ['a']);
    await brokerSql(stub, 'UPDATE segments SET ts = ?', Date.now() - HOUR + 60_000);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(ok(await stub.status(route))).toMatchObject({ minOffset: 0, messages: 1 });
    // and the alarm is set again for when it expires
    const alarm = await alarmAt(stub);
    expect(alarm).not.toBeNull();
    expect(alarm! - Date.now()).toBeLessThanOrEqual(60_000);
    expect(alarm! - Date.now()).toBeGreaterThan(50_000);
  });
});

describe('scheduled messages', () => {
  it('holds a message out of the log until due, keeping its id', async () => {
    const { route, stub } = await setup();
    const deliverAt = Date.now() + 60_000;
    const [later, now] = await produce(stub, route, [{ body: 'later', deliverAt }, 'now']);
    expect(later.queueOffset).toBeNull();
    expect(decodeMessageId(later.messageId)).toMatchObject({ kind: IdKind.Pending, queueId: 0 });
    expect(now.queueOffset).toBe(0);
    expect(ok(await stub.status(route))).toMatchObject({ maxOffset: 1, scheduled: 1 });
    const g = groupConfig('g');
    const first = await receive(stub, route, consumer(g));
    expect(first.map((m) => m.body)).toEqual(['now']);

    await runDurableObjectAlarm(stub); // not due yet: nothing moves
    expect(ok(await stub.status(route))).toMatchObject({ maxOffset: 1, scheduled: 1 });

    await brokerSql(stub, 'UPDATE scheduled SET due = ?', Date.now() - 1);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(ok(await stub.status(route))).toMatchObject({ maxOffset: 2, scheduled: 0 });
    const [m] = await receive(stub, route, consumer(g));
    expect(m).toMatchObject({ messageId: later.messageId, queueOffset: 1, body: 'later', deliverAt, deliveryAttempt: 1 });
  });

  it('treats a deliverAt in the past as an ordinary message', async () => {
    const { route, stub } = await setup();
    const [r] = await produce(stub, route, [{ body: 'x', deliverAt: Date.now() - 1000 }]);
    expect(r.queueOffset).toBe(0);
    expect(ok(await stub.status(route))).toMatchObject({ scheduled: 0, maxOffset: 1 });
  });

  it('wakes a long poll when a scheduled message comes due', async () => {
    const { route, stub } = await setup();
    await produce(stub, route, [{ body: 'soon', delayMs: 60_000 }]);
    const c = consumer(groupConfig('g'));
    const waiting = stub.waitAvailable(route, c, 10_000);
    await sleep(20);
    await brokerSql(stub, 'UPDATE scheduled SET due = ?', Date.now() - 1);
    await runDurableObjectAlarm(stub);
    expect(await waiting).toBe(true);
    expect((await receive(stub, route, c)).map((m) => m.body)).toEqual(['soon']);
  });
});

/** The Broker's dedup tables (`dedup_<end>`), by end. */
async function dedupTables(stub: DurableObjectStub<Broker>): Promise<{ name: string; end: number }[]> {
  const rows = await brokerSql<{ name: string }>(stub, "SELECT name FROM sqlite_master WHERE type = 'table' AND name GLOB 'dedup_[0-9]*'");
  return rows.map(({ name }) => ({ name, end: Number(name.slice(6)) })).sort((x, y) => x.end - y.end);
}

describe('dedup', () => {
  it('answers a repeat within the window with the first result and stores nothing', async () => {
    const { route, stub } = await setup();
    const [a] = await produce(stub, route, [{ body: 'x', dedupId: 'd1' }]);
    const [b, c, d] = await produce(stub, route, [{ body: 'x2', dedupId: 'd1' }, { body: 'y', dedupId: 'd2' }, { body: 'y2', dedupId: 'd2' }]);
    expect(a).toEqual({ messageId: a.messageId, queueId: 0, queueOffset: 0 });
    expect(b).toEqual({ ...a, duplicate: true });
    expect(c).toMatchObject({ queueOffset: 1 });
    expect(c.duplicate).toBeUndefined();
    expect(d).toEqual({ ...c, duplicate: true });
    expect(ok(await stub.status(route))).toMatchObject({ maxOffset: 2 });
    const got = await receive(stub, route, consumer(groupConfig('g')));
    expect(got.map((m) => m.body)).toEqual(['x', 'y']);
  });

  it('forgets a dedupId after the window, and drops the entries of a stretch of time together', async () => {
    const { route, stub } = await setup({ dedupWindowMs: 60_000 });
    await produce(stub, route, [{ body: 'x', dedupId: 'd1' }]);
    const [part] = await dedupTables(stub);
    // a table spans max(1 min, window / 8) of expiry times: this one ends at most two minutes on
    expect(part.end).toBeGreaterThan(Date.now() + 60_000 - 1000);
    expect(part.end).toBeLessThanOrEqual(Date.now() + 120_000);
    expect(await alarmAt(stub)).toBeLessThanOrEqual(part.end);
    await brokerSql(stub, `UPDATE ${part.name} SET expires = ?`, Date.now() - 1);
    const [again] = await produce(stub, route, [{ body: 'x', dedupId: 'd1' }]);
    expect(again).toMatchObject({ queueOffset: 1 });
    expect(again.duplicate).toBeUndefined();
    // once a table's end has passed the alarm drops it whole: made so by renaming it into the past
    const past = `dedup_${Date.now() - 1}`;
    await brokerSql(stub, `ALTER TABLE ${part.name} RENAME TO ${past}`);
    const before = await rowsWritten(stub);
    await runDurableObjectAlarm(stub);
    expect(await dedupTables(stub)).toEqual([]);
    // dropping a table deletes no entry one by one (two entries here: 0 rows written for them)
    expect(await rowsWritten(stub) - before).toBeLessThan(2);
  });

  it('takes a time already past as now when it arms the alarm (one at 0 never fired and held back the rest)', async () => {
    const { route, stub } = await setup();
    const t0 = Date.now();
    await runInDurableObject(stub, (b: Broker) => { (b as unknown as { armAlarm(at: number): void }).armAlarm(0); });
    const at = (await alarmAt(stub))!;
    expect(at).toBeGreaterThanOrEqual(t0);
    expect(at).toBeLessThanOrEqual(Date.now());
    await runDurableObjectAlarm(stub); // it runs, finds nothing due, and later work arms it again
    expect(await alarmAt(stub)).toBeNull();
    await produce(stub, route, [{ body: 'x' }]);
    const t1 = Date.now();
    expect(await receive(stub, route, consumer(groupConfig('g')), 16, 2000)).toHaveLength(1);
    const lease = (await alarmAt(stub))!; // the lease's deadline
    expect(lease).toBeGreaterThanOrEqual(t1 + 2000);
    expect(lease).toBeLessThanOrEqual(Date.now() + 2000);
  });

  it('arms the alarm for when its entries can go, and lets a receive lower it', async () => {
    const { route, stub } = await setup();
    await produce(stub, route, [{ body: 'x', dedupId: 'a1' }]);
    const [part] = await dedupTables(stub);
    expect(await alarmAt(stub)).toBe(part.end); // not before (an alarm set at 0 stopped every later one)
    const t0 = Date.now();
    const got = await receive(stub, route, consumer(groupConfig('g')), 16, 2000);
    expect(got).toHaveLength(1);
    const at = (await alarmAt(stub))!;
    expect(at).toBeGreaterThanOrEqual(t0 + 2000);
    expect(at).toBeLessThanOrEqual(Date.now() + 2000);
  });

  it('costs one row written per entry', async () => {
    const { route, stub } = await setup();
    await produce(stub, route, [{ body: 'warm', dedupId: 'w' }]); // creates the table of this stretch
    const before = await rowsWritten(stub);
    await produce(stub, route, Array.from({ length: 20 }, (_, i) => ({ body: `m${i}`, dedupId: `id-${i}` })));
    const after = await rowsWritten(stub);
    // one segment row and one row per entry (an index on expiry made it two per entry); a new
    // table, should this produce fall into the next stretch of expiry times, writes its schema row
    expect(after - before).toBeGreaterThanOrEqual(1 + 20);
    expect(after - before).toBeLessThanOrEqual(1 + 20 + 2);
  });

  it('reads entries of the one table of older versions until they expire, then drops it', async () => {
    const { route, stub } = await setup();
    const [a] = await produce(stub, route, [{ body: 'x' }]);
    // the migrations still create it: empty, it is gone once the object has started
    expect(await brokerSql(stub, "SELECT name FROM sqlite_master WHERE name = 'dedup'")).toEqual([]);
    // as an earlier version left it (in one call: the object reloads after each edit of storage)
    await brokerSql(stub, `CREATE TABLE dedup (id TEXT PRIMARY KEY, message_id TEXT NOT NULL, off INTEGER, expires INTEGER NOT NULL) WITHOUT ROWID;
      INSERT INTO dedup (id, message_id, off, expires) VALUES ('old', '${a.messageId}', 0, ${Date.now() + 600_000})`);
    const [dup] = await produce(stub, route, [{ body: 'x', dedupId: 'old' }]);
    expect(dup).toEqual({ ...a, duplicate: true });
    await brokerSql(stub, 'UPDATE dedup SET expires = ?', Date.now() - 1);
    const [fresh] = await produce(stub, route, [{ body: 'x', dedupId: 'old' }]);
    expect(fresh).toMatchObject({ queueOffset: 1 });
    await runDurableObjectAlarm(stub);
    expect(await brokerSql(stub, "SELECT name FROM sqlite_master WHERE name = 'dedup'")).toEqual([]);
    // the entry stored meanwhile lives in its own table, still answered
    const [again] = await produce(stub, route, [{ body: 'x', dedupId: 'old' }]);
    expect(again).toEqual({ ...fresh, duplicate: true });
  });

  it('does not dedup when the window is 0', async () => {
    const { route, stub } = await setup({ dedupWindowMs: 0 });
    const res = await produce(stub, route, [{ body: 'x', dedupId: 'd' }, { body: 'x', dedupId: 'd' }]);
    expect(res.map((r) => [r.queueOffset, r.duplicate])).toEqual([[0, undefined], [1, undefined]]);
  });

  it('dedups scheduled messages too', async () => {
    const { route, stub } = await setup();
    const [a] = await produce(stub, route, [{ body: 'x', delayMs: 60_000, dedupId: 's' }]);
    const [b] = await produce(stub, route, [{ body: 'x', delayMs: 60_000, dedupId: 's' }]);
    expect(a.queueOffset).toBeNull();
    expect(b).toEqual({ ...a, duplicate: true });
    expect(ok(await stub.status(route))).toMatchObject({ scheduled: 1 });
  });
});

describe('reset offset', () => {
  it('moves the group and drops its in-flight and retrying messages', async () => {
    const { route, stub } = await setup();
    await produce(stub, route, ['a', 'b', 'c']);
    const t = Date.now();
    await sleep(5);
    await produce(stub, route, ['d', 'e']);
    const g = groupConfig('g');
    const c = consumer(g);
    const got = await receive(stub, route, c, 2);
    await stub.nack(route, g, [handleOf(got[1].receiptHandle)], HOUR);
    expect(await gstatus(stub, route, g)).toMatchObject({ inflight: 1, retrying: 1 });

    expect(ok(await stub.resetOffset(route, c, 'LATEST'))).toEqual({ queueId: 0, offset: 5 });
    expect(await gstatus(stub, route, g)).toMatchObject({ consumerOffset: 5, inflight: 0, retrying: 0, lag: 0 });
    expect(await ack(stub, route, g, [got[0]])).toEqual(['EXPIRED']);
    expect(await receive(stub, route, c)).toEqual([]);

    expect(ok(await stub.resetOffset(route, c, { queueId: 0, offset: 3 }))).toEqual({ queueId: 0, offset: 3 });
    expect((await receive(stub, route, c)).map((m) => m.body)).toEqual(['d', 'e']);
    expect(ok(await stub.resetOffset(route, c, { queueId: 0, offset: 99 }))).toEqual({ queueId: 0, offset: 5 });
    expect(ok(await stub.resetOffset(route, c, { timestamp: t + 1 }))).toEqual({ queueId: 0, offset: 3 });
    expect(ok(await stub.resetOffset(route, c, 'EARLIEST'))).toEqual({ queueId: 0, offset: 0 });
    const all = await receive(stub, route, c);
    expect(all.map((m) => [m.body, m.deliveryAttempt])).toEqual([['a', 1], ['b', 1], ['c', 1], ['d', 1], ['e', 1]]);
  });

  it('resets every consumer of a broadcasting group', async () => {
    const { route, stub } = await setup();
    await produce(stub, route, ['a', 'b']);
    const g = groupConfig('b', { mode: 'BROADCASTING' });
    for (const id of ['c1', 'c2']) await ack(stub, route, g, await receive(stub, route, consumer(g, id)));
    expect(ok(await stub.resetOffset(route, { group: g, key: g.name, consumerId: null }, 'EARLIEST'))).toEqual({ queueId: 0, offset: 0 });
    expect((await receive(stub, route, consumer(g, 'c1'))).length).toBe(2);
    expect((await receive(stub, route, consumer(g, 'c2'))).length).toBe(2);
  });
});

describe('long polling (waitAvailable)', () => {
  it('answers at once when there is something, false with no wait when there is not', async () => {
    const { route, stub } = await setup();
    const c = consumer(groupConfig('g'));
    expect(await stub.waitAvailable(route, c, 0)).toBe(false);
    await produce(stub, route, ['x']);
    expect(await stub.waitAvailable(route, c, 0)).toBe(true);
  });

  it('answers true as soon as a message is produced', async () => {
    const { route, stub } = await setup();
    const c = consumer(groupConfig('g'));
    const t0 = Date.now();
    const waiting = stub.waitAvailable(route, c, 10_000);
    await sleep(50);
    await produce(stub, route, ['x']);
    expect(await waiting).toBe(true);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('answers false when nothing comes within waitMs', async () => {
    const { route, stub } = await setup();
    const t0 = Date.now();
    expect(await stub.waitAvailable(route, consumer(groupConfig('g')), 200)).toBe(false);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
  });

  it('answers true when a retry comes due within waitMs', async () => {
    const { route, stub } = await setup();
    await produce(stub, route, ['x']);
    const g = groupConfig('g');
    const [m] = await receive(stub, route, consumer(g));
    await stub.nack(route, g, [handleOf(m.receiptHandle)], 300);
    const t0 = Date.now();
    expect(await stub.waitAvailable(route, consumer(g), 10_000)).toBe(true);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect((await receive(stub, route, consumer(g)))[0]).toMatchObject({ body: 'x', deliveryAttempt: 2 });
  });
});

describe('trace, written behind', () => {
  type Ev = { type: string; at: number; [k: string]: unknown };
  const traceOf = async (stub: Stub, route: QueueRoute, off: number) =>
    ((ok(await stub.traceOf(route, { off })) as unknown as { events: Ev[] }).events);

  it('buffers the events of a request and writes none of them with it; a read sees them all, in order', async () => {
    const { route, stub } = await setup();
    const g = groupConfig('g', { retryPolicy: { type: 'EXPONENTIAL', initialMs: 0, maxMs: 0, multiplier: 1 } });
    // one synchronous stretch inside the object: no timer can fire (and flush) in between
    const out = await runInDurableObject(stub, async (i, state) => {
      const b = i as unknown as Broker;
      const count = () => state.storage.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM trace').one().n;
      ok(await b.produce(route, outgoing(route, ['a', 'b', 'c'])));
      const first = received(await b.receive(route, consumer(g), { max: 3 })) as unknown as Delivered[];
      ok(await b.nack(route, g, [handleOf(first[1].receiptHandle)], 0));
      const again = received(await b.receive(route, consumer(g), { max: 3 })) as unknown as Delivered[];
      ok(await b.ack(route, g, [first[0], first[2], ...again].map((m) => handleOf(m.receiptHandle))));
      const before = count();
      const events = (ok(await b.traceOf(route, { off: 1 })) as unknown as { events: Ev[] }).events;
      return { before, after: count(), events, again: again.map((m) => [m.queueOffset, m.deliveryAttempt]) };
    });
    expect(out.again).toEqual([[1, 2]]);
    expect(out.before).toBe(0); // 4 requests, 5 events: nothing written yet
    expect(out.after).toBe(1); // the read flushed them: one row for the bucket
    expect(out.events.map((e) => [e.type, e.group, e.deliveryAttempt])).toEqual([
      ['PUBLISHED', undefined, undefined], ['DELIVERED', 'g', 1], ['NACKED', 'g', 1], ['DELIVERED', 'g', 2], ['ACKED', 'g', undefined],
    ]);
    expect((await traceOf(stub, route, 0)).map((e) => e.type)).toEqual(['PUBLISHED', 'DELIVERED', 'ACKED']);
    expect(ok(await stub.messageStatus(route, 1, [{ name: 'g', mode: 'CLUSTERING', filter: null }]))).toEqual({ groups: [{ group: 'g', status: 'CONSUMED' }] });
  });

  it('flushes on its own within a few hundred ms, one row per bucket', async () => {
    const { route, stub } = await setup();
    const g = groupConfig('g');
    await produce(stub, route, Array.from({ length: 1030 }, (_, i) => `m${i}`)); // offsets in buckets 0 and 1
    // 10 requests in one stretch inside the object: their events wait for one flush
    const n = await runInDurableObject(stub, async (i) => {
      const b = i as unknown as Broker;
      let got = 0;
      for (let k = 0; k < 5; k++) {
        const ms = received(await b.receive(route, consumer(g), { max: 256 })) as unknown as Delivered[];
        ok(await b.ack(route, g, ms.map((m) => handleOf(m.receiptHandle))));
        got += ms.length;
      }
      return got;
    });
    expect(n).toBe(1030);
    expect(await brokerSql(stub, 'SELECT 1 FROM trace')).toEqual([]);
    await sleep(600); // no read: the timer writes them
    const rows = await brokerSql<{ bucket: number; events: string }>(stub, 'SELECT bucket, events FROM trace ORDER BY bucket, id');
    expect(rows.map((r) => r.bucket)).toEqual([0, 1]); // 10 events per bucket, one row each
    const evs = rows.map((r) => (JSON.parse(r.events) as [string, number, (number | [number, unknown])[]][]));
    const offs = (type: string) => evs.flatMap((e) => e.filter((x) => x[0] === type).flatMap((x) => x[2].map((o) => (typeof o === 'number' ? o : o[0]))));
    expect(offs('DELIVERED').sort((a, b) => a - b)).toEqual(Array.from({ length: 1030 }, (_, i) => i));
    expect(offs('ACKED').sort((a, b) => a - b)).toEqual(Array.from({ length: 1030 }, (_, i) => i));
    expect((await traceOf(stub, route, 1029)).map((e) => e.type)).toEqual(['PUBLISHED', 'DELIVERED', 'ACKED']);
  });

  it('retention deletes the trace of the messages it deleted, and keeps the rest', async () => {
    const { route, stub } = await setup({ retentionHours: 1 });
    const g = groupConfig('g');
    await produce(stub, route, Array.from({ length: 1024 }, (_, i) => `old${i}`)); // bucket 0, one segment
    await produce(stub, route, ['new']); // offset 1024: bucket 1
    for (let n = 0; n < 1025;) {
      const got = await receive(stub, route, consumer(g), 256);
      await ack(stub, route, g, got);
      n += got.length;
    }
    expect((await traceOf(stub, route, 5)).map((e) => e.type)).toEqual(['PUBLISHED', 'DELIVERED', 'ACKED']);
    await brokerSql(stub, 'UPDATE segments SET ts = ? WHERE base = 0', Date.now() - HOUR - 1000);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(ok(await stub.status(route))).toMatchObject({ minOffset: 1024, maxOffset: 1025 });
    expect((await brokerSql<{ bucket: number }>(stub, 'SELECT DISTINCT bucket FROM trace')).map((r) => r.bucket)).toEqual([1]);
    expect(await stub.traceOf(route, { off: 5 })).toBeNull();
    expect((await traceOf(stub, route, 1024)).map((e) => e.type)).toEqual(['PUBLISHED', 'DELIVERED', 'ACKED']);
  });

  it('writes no trace for a topic with trace off', async () => {
    const { route, stub } = await setup({ trace: false });
    const g = groupConfig('g');
    await produce(stub, route, ['a']);
    await ack(stub, route, g, await receive(stub, route, consumer(g)));
    expect((await traceOf(stub, route, 0)).map((e) => e.type)).toEqual(['PUBLISHED']);
    await sleep(400);
    expect(await brokerSql(stub, 'SELECT 1 FROM trace')).toEqual([]);
  });
});

describe("rows written (the object's own counters, as bench/cost.mjs reads them)", () => {
  it('a produce of 100 is one row; a receive of 100 and its ack are three, plus one trace row', async () => {
    const { route, stub } = await setup();
    const g = groupConfig('g');
    const delta = await runInDurableObject(stub, async (i) => {
      const b = i as unknown as Broker;
      const written = () => rowsWritten(b); // flushes the trace first
      ok(await b.receive(route, consumer(g), { max: 1 })); // the group row exists
      let w = await written();
      ok(await b.produce(route, outgoing(route, Array.from({ length: 100 }, (_, k) => `m${k}`))));
      const produced = await written() - w;
      w = await written();
      const got = received(await b.receive(route, consumer(g), { max: 100 })) as unknown as Delivered[];
      ok(await b.ack(route, g, got.map((m) => handleOf(m.receiptHandle))));
      return { produced, n: got.length, consumed: await written() - w };
    });
    expect(delta.produced).toBe(1); // the segment: no index on time
    expect(delta.n).toBe(100);
    // lease insert (no index on deadline) + cursor + lease delete, + one trace row for both events
    expect(delta.consumed).toBe(4);
  });
});

describe('store time lookups (no index on time)', () => {
  it('queries by store time and pages with a cursor; reset and consumeFrom by timestamp find the same offsets', async () => {
    const { route, stub: first } = await setup();
    // 5 segments, backdated to known, increasing times: 1000, 2000, ..., 5000 (2 messages each)
    for (let s = 0; s < 5; s++) await produce(first, route, [`${s}a`, `${s}b`]);
    for (let s = 0; s < 5; s++) await brokerSql(first, 'UPDATE segments SET ts = ? WHERE base = ?', 1000 * (s + 1), 2 * s);
    const stub = await restarted(first, route); // the log reads its times again
    const page = async (start: number, end: number, after: number | null, limit: number) =>
      ok(await stub.query(route, { start, end }, after, limit)) as { messages: { body: string; queueOffset: number; storeTimestamp: number }[]; more: boolean };
    let p = await page(2000, 4000, null, 4);
    expect(p.messages.map((m) => [m.body, m.storeTimestamp])).toEqual([['1a', 2000], ['1b', 2000], ['2a', 3000], ['2b', 3000]]);
    expect(p.more).toBe(true);
    p = await page(2000, 4000, p.messages[3].queueOffset, 4);
    expect(p.messages.map((m) => m.body)).toEqual(['3a', '3b']);
    expect(p.more).toBe(false);
    expect((await page(2500, 2999, null, 10)).messages).toEqual([]);
    expect((await page(0, 1000, null, 10)).messages.map((m) => m.body)).toEqual(['0a', '0b']);
    expect((await page(4001, 9e12, null, 10)).messages.map((m) => m.body)).toEqual(['4a', '4b']);
    const c = consumer(groupConfig('g'));
    for (const [ts, off] of [[0, 0], [1000, 0], [1001, 2], [3500, 6], [5000, 8], [5001, 10]]) {
      expect(ok(await stub.resetOffset(route, c, { timestamp: ts })), `t=${ts}`).toEqual({ queueId: 0, offset: off });
    }
    const from = groupConfig('from', { consumeFrom: { timestamp: 3001 } });
    expect((await receive(stub, route, consumer(from))).map((m) => m.body)).toEqual(['3a', '3b', '4a', '4b']);
  });
});

/** Makes the object start again from its storage (as after an eviction); a new stub reaches it. */
async function restarted(stub: Stub, route: QueueRoute): Promise<Stub> {
  await runInDurableObject(stub, (_i, state) => { state.abort('reset by the test'); }).then(() => null, () => null);
  return brokerOf(route);
}
