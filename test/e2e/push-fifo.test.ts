/**
 * FIFO topics against a real `wrangler dev`: within one messageGroup, message n+1 is not
 * delivered before message n is acked (or dead-lettered), over WebSocket push and over pull;
 * other message groups of the same queue keep flowing; a nacked head holds its group back
 * until it is redelivered and acked.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { Api, expectError, sleep, uniq, type Json } from './client';
import { useServer } from './server';
import { eventually, PushClient, usePushClients } from './ws-client';

const ctx = useServer();
let api: Api;
beforeAll(() => { api = ctx.api; });

const { clients, connect } = usePushClients(() => ctx.server.url);

type Log = PushClient['log'];

/**
 * Sends `perGroup` messages of each message group, interleaved (a0 b0 a1 b1 ...), in one batch
 * (send order = the batch order). Answers the message ids by group, in send order.
 */
async function produceFifo(topic: string, groups: string[], perGroup: number): Promise<Map<string, string[]>> {
  const msgs: Json[] = [];
  for (let i = 0; i < perGroup; i++) for (const g of groups) msgs.push({ body: `${g}-${i}`, messageGroup: g });
  const r = await api.produce(topic, { messages: msgs });
  const out = new Map<string, string[]>(groups.map((g) => [g, []]));
  r.forEach((x: Json, i: number) => out.get(msgs[i].messageGroup)!.push(x.messageId));
  return out;
}

/**
 * Checks a delivery log against FIFO: every message of a group arrives for the first time in send
 * order, and not before the one ahead of it was acked (every delivery of it came before).
 */
function expectFifo(log: Log, byGroup: Map<string, string[]>): void {
  for (const [mg, order] of byGroup) {
    const firstRecv = order.map((id) => log.findIndex((e) => e.ev === 'recv' && e.id === id));
    expect(firstRecv.every((i) => i >= 0), `${mg}: every message delivered`).toBe(true);
    for (let n = 1; n < order.length; n++) {
      const prevAck = log.findIndex((e) => e.ev === 'ack' && e.id === order[n - 1]);
      const prevLastRecv = log.map((e, i) => (e.ev === 'recv' && e.id === order[n - 1] ? i : -1)).reduce((a, b) => Math.max(a, b), -1);
      expect(prevAck, `${mg}: message ${n - 1} acked`).toBeGreaterThanOrEqual(0);
      expect(firstRecv[n], `${mg}: message ${n} came after message ${n - 1} was acked`).toBeGreaterThan(prevAck);
      expect(firstRecv[n], `${mg}: message ${n} came after the last delivery of ${n - 1}`).toBeGreaterThan(prevLastRecv);
    }
  }
}

async function groupState(g: string) {
  const d = await api.group(g);
  return {
    lag: d.queues.reduce((n: number, q: Json) => n + q.lag, 0),
    inflight: d.queues.reduce((n: number, q: Json) => n + q.inflight, 0),
    retrying: d.queues.reduce((n: number, q: Json) => n + q.retrying, 0),
  };
}

const bodies = (ms: Json[]) => ms.map((m) => m.body as string);

describe('FIFO topics: produce', () => {
  it('reject a message without messageGroup (400 MESSAGE_TYPE_MISMATCH), and a batch with one, storing nothing', async () => {
    const t = uniq('fifo-type');
    await api.createTopic(t, { type: 'FIFO', queues: 2 });
    expectError(await api.post(`/v1/topics/${t}/messages`, { body: 'x' }), 400, 'MESSAGE_TYPE_MISMATCH');
    expectError(await api.post(`/v1/topics/${t}/messages`, {
      messages: [{ body: 'ok', messageGroup: 'g' }, { body: 'no group' }],
    }), 400, 'MESSAGE_TYPE_MISMATCH');
    expect(await api.stored(t)).toBe(0);
    await api.produce(t, { body: 'ok', messageGroup: 'g' });
    expect(await api.stored(t)).toBe(1);
  });
});

describe('FIFO over WebSocket push', () => {
  it('one message of a group at a time, in send order; a nacked head holds its group while another group flows', async () => {
    const t = uniq('fifo-push');
    const g = uniq('g');
    await api.createTopic(t, { type: 'FIFO', queues: 1 });
    const byGroup = await produceFifo(t, ['A', 'B'], 5);
    const c = await connect(t, g, { consumerId: 'c', maxInflight: 64 });

    // only the heads, although the credit would allow all 10
    await c.untilCount(2);
    await sleep(600);
    expect(bodies(c.messages).sort()).toEqual(['A-0', 'B-0']);
    const [a0, b0] = ['A-0', 'B-0'].map((b) => c.messages.find((m) => m.body === b));
    expect(a0).toMatchObject({ messageGroup: 'A', deliveryAttempt: 1 });

    // ack A-0: A-1 comes, nothing else
    c.ack([a0]);
    await c.untilCount(3);
    await sleep(400);
    expect(bodies(c.messages)).toHaveLength(3);
    const a1 = c.messages[2];
    expect(a1).toMatchObject({ body: 'A-1', deliveryAttempt: 1 });

    // nack A-1 for a while: A-2 must wait; meanwhile group B flows
    const nackedAt = Date.now();
    c.nack([a1], 2000);
    c.ack([b0]);
    await c.until(() => bodies(c.messages).includes('B-1'), 'B-1');
    c.ack([c.messages.find((m) => m.body === 'B-1')]);
    await c.until(() => bodies(c.messages).includes('B-2'), 'B-2');
    expect(bodies(c.messages).filter((b) => b.startsWith('A-'))).toEqual(['A-0', 'A-1']);
    expect(Date.now() - nackedAt).toBeLessThan(1900); // B moved on while A-1 waited

    // A-1 comes back after its delay, as attempt 2, and still A-2 waits for its ack
    await c.until(() => c.messages.filter((m) => m.body === 'A-1').length === 2, 'A-1 again', 10_000);
    expect(Date.now() - nackedAt).toBeGreaterThanOrEqual(1900);
    const a1again = c.messages.filter((m) => m.body === 'A-1')[1];
    expect(a1again.deliveryAttempt).toBe(2);
    await sleep(400);
    expect(bodies(c.messages)).not.toContain('A-2');

    // ack everything from now on: the rest comes, each group in order
    c.autoAck();
    await c.until(() => bodies(c.messages).filter((b) => b !== 'A-1').length === 9, 'all 10');
    await sleep(300);
    expect(c.messages).toHaveLength(11);
    expect(bodies(c.messages.filter((m) => m.messageGroup === 'A'))).toEqual(['A-0', 'A-1', 'A-1', 'A-2', 'A-3', 'A-4']);
    expect(bodies(c.messages.filter((m) => m.messageGroup === 'B'))).toEqual(['B-0', 'B-1', 'B-2', 'B-3', 'B-4']);
    expectFifo(c.log, byGroup);
    await eventually(() => groupState(g), (s) => s.lag === 0 && s.inflight === 0 && s.retrying === 0, 'all acked');
  });

  it('with several consumers and queues, each message group stays in order across consumers', async () => {
    const t = uniq('fifo-multi');
    const g = uniq('g');
    await api.createTopic(t, { type: 'FIFO', queues: 2 });
    const mgs = ['o1', 'o2', 'o3', 'o4', 'o5', 'o6'];
    const log: Log = [];
    const cs = await Promise.all([0, 1, 2].map((i) => connect(t, g, { consumerId: `c${i}`, maxInflight: 4 })));
    for (const c of cs) { c.log = log; c.autoAck(); }
    const byGroup = await produceFifo(t, mgs, 6);
    const total = () => cs.reduce((n, c) => n + c.messages.length, 0);
    await eventually(async () => total(), (n) => n >= 36, '36 messages', 20_000);
    await sleep(500);
    expect(total()).toBe(36);
    for (const c of cs) for (const m of c.messages) expect(m.deliveryAttempt).toBe(1);
    expectFifo(log, byGroup);
    expect(cs.filter((c) => c.messages.length > 0).length).toBeGreaterThan(1);
    await eventually(() => groupState(g), (s) => s.lag === 0 && s.inflight === 0, 'all acked');
  });

  it('a consumer that disconnects holding a head: the head goes to another consumer (attempt 2), then the group continues in order', async () => {
    const t = uniq('fifo-dc');
    const g = uniq('g');
    await api.createTopic(t, { type: 'FIFO', queues: 1 });
    const byGroup = await produceFifo(t, ['K'], 4);
    const log: Log = [];
    const a = await connect(t, g, { consumerId: 'a' });
    a.log = log;
    await a.untilCount(1);
    const b = await connect(t, g, { consumerId: 'b' });
    b.log = log;
    await sleep(300);
    expect(b.messages).toEqual([]);
    await a.close();
    await b.untilCount(1);
    expect(b.messages[0]).toMatchObject({ body: 'K-0', deliveryAttempt: 2 });
    b.autoAck();
    await b.untilCount(4);
    await sleep(300);
    expect(bodies(b.messages)).toEqual(['K-0', 'K-1', 'K-2', 'K-3']);
    expectFifo(log.filter((e) => e.by === 'b'), byGroup);
  });

  it('messages without a group on a MIXED topic are not held back by a FIFO group', async () => {
    const t = uniq('fifo-mixed');
    const g = uniq('g');
    await api.createTopic(t, { queues: 1 });
    await api.produce(t, { messages: [
      { body: 'F-0', messageGroup: 'F' }, { body: 'F-1', messageGroup: 'F' }, { body: 'plain-0' }, { body: 'plain-1' },
    ] });
    const c = await connect(t, g, { consumerId: 'c' });
    await c.untilCount(3);
    await sleep(400);
    expect(bodies(c.messages)).toEqual(['F-0', 'plain-0', 'plain-1']);
    c.ack(c.messages.slice(0, 1));
    await c.untilCount(4);
    expect(c.messages[3].body).toBe('F-1');
  });
});

describe('FIFO over pull', () => {
  it('receive answers only the head of each message group; the next comes after the ack; a nacked head holds its group', async () => {
    const t = uniq('fifo-pull');
    const g = uniq('g');
    await api.createTopic(t, { type: 'FIFO', queues: 1 });
    await produceFifo(t, ['A', 'B'], 3);
    const first = await api.receive(t, g, { maxMessages: 256 });
    expect(bodies(first).sort()).toEqual(['A-0', 'B-0']);
    expect(await api.receive(t, g)).toEqual([]);
    const by = (ms: Json[], b: string) => ms.find((m) => m.body === b);

    expect(await api.ack(t, g, [by(first, 'A-0').receiptHandle])).toEqual(['OK']);
    const second = await api.receive(t, g);
    expect(bodies(second)).toEqual(['A-1']);

    // nack A-1 with a delay: A-2 waits; B goes on
    expect(await api.nack(t, g, [second[0].receiptHandle], 1500)).toEqual(['OK']);
    expect(await api.receive(t, g)).toEqual([]);
    expect(await api.ack(t, g, [by(first, 'B-0').receiptHandle])).toEqual(['OK']);
    const b1 = await api.receive(t, g);
    expect(bodies(b1)).toEqual(['B-1']);

    // long polling brings A-1 back when its delay is over (attempt 2); A-2 still waits for its ack
    const again = await api.receiveN(t, g, 1, 8000);
    expect(again).toHaveLength(1);
    expect(again[0]).toMatchObject({ body: 'A-1', deliveryAttempt: 2 });
    expect(await api.receive(t, g)).toEqual([]);
    expect(await api.ack(t, g, [again[0].receiptHandle, b1[0].receiptHandle])).toEqual(['OK', 'OK']);
    const third = await api.receive(t, g);
    expect(bodies(third).sort()).toEqual(['A-2', 'B-2']);
    expect(await api.ack(t, g, third.map((m) => m.receiptHandle))).toEqual(['OK', 'OK']);
    expect(await api.receive(t, g)).toEqual([]);
    expect((await groupState(g))).toEqual({ lag: 0, inflight: 0, retrying: 0 });
  });

  it('a head whose invisibility runs out is redelivered before the next of its group', async () => {
    const t = uniq('fifo-pull-inv');
    const g = uniq('g');
    await api.createTopic(t, { type: 'FIFO', queues: 1 });
    await api.putGroup(g, { retryPolicy: { type: 'EXPONENTIAL', initialMs: 0, maxMs: 100, multiplier: 1 } });
    await produceFifo(t, ['Z'], 2);
    const [z0] = await api.receive(t, g, { invisibleMs: 1000 });
    expect(z0.body).toBe('Z-0');
    expect(await api.receive(t, g)).toEqual([]);
    const again = await api.receiveN(t, g, 1, 8000);
    expect(again.map((m) => [m.body, m.deliveryAttempt])).toEqual([['Z-0', 2]]);
    expect(await api.ack(t, g, [z0.receiptHandle])).toEqual(['EXPIRED']);
    expect(await api.receive(t, g)).toEqual([]);
    expect(await api.ack(t, g, [again[0].receiptHandle])).toEqual(['OK']);
    expect(bodies(await api.receive(t, g))).toEqual(['Z-1']);
  });
});
