/**
 * Durability: a 2xx means stored. Stop wrangler dev (SIGTERM, then SIGKILL: no chance to flush
 * anything) and start it again on the same --persist-to directory: messages, acks, in-flight
 * leases, retries, dedup records, group configs and offsets are all still there.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { Api, expectError, uniq, type Json } from './client';
import { useServer } from './server';

const ctx = useServer();
let api: Api;
beforeAll(() => { api = ctx.api; });
const server = { restart: (signal: NodeJS.Signals) => ctx.server.restart(signal) };

const FAST = { type: 'EXPONENTIAL', initialMs: 0, maxMs: 100, multiplier: 1 };
const ids = (ms: Json[]) => ms.map((m) => m.messageId as string).sort();

/** What a restart must not change. */
async function snapshot(topic: string, group: string) {
  const t = await api.topic(topic);
  const g = await api.group(group);
  return {
    topic: { ...t, queueStatus: t.queueStatus.map((q: Json) => ({ ...q })) },
    config: { maxRetries: g.maxRetries, retryPolicy: g.retryPolicy, invisibleMs: g.invisibleMs, consumeFrom: g.consumeFrom, createdAt: g.createdAt },
    offsets: g.queues.map((q: Json) => ({ queueId: q.queueId, brokerOffset: q.brokerOffset, consumerOffset: q.consumerOffset })),
    subscriptions: g.subscriptions,
  };
}

describe.each([['SIGTERM'], ['SIGKILL']] as const)('restart after %s', (signal) => {
  it('keeps every stored message, never re-delivers acked ones, and keeps group offsets', async () => {
    const topic = uniq(`dur-${signal.toLowerCase()}`);
    const group = uniq('g');
    const other = uniq('g-other');
    await api.createTopic(topic, { queues: 2, retentionHours: 5 });
    await api.putGroup(group, { maxRetries: 3, retryPolicy: FAST, invisibleMs: 60_000 });
    const produced: Json[] = [];
    for (let i = 0; i < 8; i++) produced.push(...await api.produce(topic, { body: { n: i }, keys: [`k${i}`] }));
    const [dedup] = await api.produce(topic, { body: 'once', dedupId: `dedup-${signal}` });
    produced.push(dedup);

    // ack 3, lease 2 with a short invisibility (not acked), nack 1 for later, leave 3 never delivered
    const acked = await api.receive(topic, group, { maxMessages: 3 });
    expect(acked).toHaveLength(3);
    expect(await api.ack(topic, group, acked.map((m) => m.receiptHandle))).toEqual(['OK', 'OK', 'OK']);
    const leased = await api.receive(topic, group, { maxMessages: 2, invisibleMs: 2000 });
    expect(leased).toHaveLength(2);
    const [nacked] = await api.receive(topic, group, { maxMessages: 1 });
    expect(await api.nack(topic, group, [nacked.receiptHandle], 2000)).toEqual(['OK']);
    // another group has consumed nothing
    expect(await api.receive(topic, other, { maxMessages: 1 })).toHaveLength(1);

    const before = await snapshot(topic, group);
    expect(before.topic.messages).toBe(9);

    await server.restart(signal);

    // the topic, its queues and their offsets
    const after = await snapshot(topic, group);
    expect(after.topic).toEqual(before.topic);
    expect(after.config).toEqual(before.config);
    expect(after.offsets).toEqual(before.offsets);
    expect(after.subscriptions).toEqual(before.subscriptions);

    // the old leases are the same leases: the acked ones stay acked, the in-flight ones still ack
    // until they expire (they may have expired during the restart)
    expect(await api.ack(topic, group, acked.map((m) => m.receiptHandle))).toEqual(['EXPIRED', 'EXPIRED', 'EXPIRED']);

    // everything not acked comes (back): never-delivered ones first time, the others as retries
    const remaining = produced.filter((p) => !acked.some((a) => a.messageId === p.messageId));
    const got = await api.receiveN(topic, group, remaining.length, 15_000);
    expect(ids(got)).toEqual(ids(remaining));
    for (const m of got) {
      const wasOut = [...leased, nacked].some((x) => x.messageId === m.messageId);
      expect(m.deliveryAttempt, `${m.messageId} attempt`).toBe(wasOut ? 2 : 1);
      const p = produced.find((x) => x.messageId === m.messageId);
      expect(m.queueId).toBe(p.queueId);
      expect(m.queueOffset).toBe(p.queueOffset);
    }
    expect(got.find((m) => m.messageId === dedup.messageId)?.body).toBe('once');
    expect(await api.ack(topic, group, got.map((m) => m.receiptHandle))).toEqual(got.map(() => 'OK'));
    expect(await api.receive(topic, group, { waitMs: 1000 })).toEqual([]);
    expect((await api.group(group)).lag).toBe(0);

    // the dedup record survived: a repeat stores nothing
    const [again] = await api.produce(topic, { body: 'once', dedupId: `dedup-${signal}` });
    expect(again).toEqual({ ...dedup, duplicate: true });
    // the log continues where it was, and a new message is delivered
    const [next] = await api.produce(topic, { body: 'after restart' });
    const q = before.topic.queueStatus.find((x: Json) => x.queueId === next.queueId);
    expect(next.queueOffset).toBe(q.maxOffset);
    const fresh = await api.receiveN(topic, group, 1, 5000);
    expect(fresh.map((m) => m.body)).toEqual(['after restart']);
    // the other group continues from its own offset
    const rest = await api.receiveN(topic, other, 9, 10_000);
    expect(rest).toHaveLength(9);
  });
});

describe('after restarts', () => {
  it('acks that answered OK just before a SIGKILL stay acked; deleted topics stay deleted', async () => {
    const topic = uniq('dur-ack');
    const gone = uniq('dur-gone');
    const group = uniq('g');
    await api.createTopic(topic, { queues: 1 });
    await api.createTopic(gone, { queues: 1 });
    await api.produce(gone, { body: 'x' });
    expect((await api.del(`/v1/topics/${gone}`)).status).toBe(204);
    await api.produce(topic, { messages: Array.from({ length: 5 }, (_, i) => ({ body: i })) });
    const got = await api.receive(topic, group, { maxMessages: 5 });
    expect(await api.ack(topic, group, got.slice(0, 4).map((m) => m.receiptHandle))).toEqual(['OK', 'OK', 'OK', 'OK']);
    await server.restart('SIGKILL');
    expectError(await api.get(`/v1/topics/${gone}`), 404, 'TOPIC_NOT_FOUND');
    const g = await api.group(group);
    expect(g.queues).toEqual([{ topic, queueId: 0, brokerOffset: 5, consumerOffset: 4, lag: 1, inflight: 1, retrying: 0 }]);
    expect(await api.ack(topic, group, [got[4].receiptHandle])).toEqual(['OK']);
    expect((await api.group(group)).lag).toBe(0);
  });
});
