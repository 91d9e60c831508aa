/**
 * Push consumers over WebSocket against a real `wrangler dev`: load balancing in a CLUSTERING
 * group, BROADCASTING offsets per consumerId, credit-based flow control (maxInflight) across the
 * queues of a topic, redelivery when a consumer disconnects, bad frames, filters, the group's
 * consumer listing, and reconnecting after a server restart.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { Api, expectError, sleep, uniq, type Json, type Res } from './client';
import { useServer } from './server';
import { eventually, PushClient, UpgradeRefused, wsPath, type WsOpts, usePushClients } from './ws-client';

const ctx = useServer();
let api: Api;
beforeAll(() => { api = ctx.api; });

const { clients, connect } = usePushClients(() => ctx.server.url);

/** The upgrade is refused with an HTTP error: answers it as a Res for expectError. */
async function refused(topic: string, group: string, o: WsOpts): Promise<Res> {
  const e = await PushClient.connect(ctx.server.url, topic, group, o).then(
    (c) => { clients.push(c); throw new Error('the upgrade was accepted'); },
    (err) => err,
  );
  expect(e).toBeInstanceOf(UpgradeRefused);
  const r = e as UpgradeRefused;
  return { status: r.status, body: r.body, text: r.text, headers: new Headers({ 'content-type': 'application/json' }), ms: 0 };
}

/** Produces `n` messages one request each (so they spread over the topic's queues), 8 at a time. */
async function produceSingles(topic: string, n: number, mk: (i: number) => Json = (i) => ({ body: `m${i}` })): Promise<string[]> {
  const ids: string[] = new Array(n);
  for (let i = 0; i < n; i += 8) {
    await Promise.all(Array.from({ length: Math.min(8, n - i) }, async (_, k) => {
      const [r] = await api.produce(topic, mk(i + k));
      ids[i + k] = r.messageId;
    }));
  }
  return ids;
}

const ids = (ms: Json[]) => ms.map((m) => m.messageId as string);
const sorted = (xs: string[]) => [...xs].sort();

async function groupState(g: string): Promise<{ lag: number; inflight: number; retrying: number; detail: Json }> {
  const d = await api.group(g);
  return {
    lag: d.queues.reduce((n: number, q: Json) => n + q.lag, 0),
    inflight: d.queues.reduce((n: number, q: Json) => n + q.inflight, 0),
    retrying: d.queues.reduce((n: number, q: Json) => n + q.retrying, 0),
    detail: d,
  };
}

/** Waits until the server's view of the group matches (acks over WS are asynchronous). */
function groupUntil(g: string, ok: (s: { lag: number; inflight: number; retrying: number }) => boolean, what: string, ms = 10_000) {
  return eventually(() => groupState(g), ok, `${g}: ${what}`, ms);
}

describe('CLUSTERING: consumers of a group share the messages', () => {
  it.each([[2, 40], [3, 60]])('%i consumers that ack get every message exactly once between them, each a share', async (n, count) => {
    const t = uniq('cl');
    const g = uniq('g');
    await api.createTopic(t, { queues: 2 });
    const cs = await Promise.all(Array.from({ length: n }, (_, i) => connect(t, g, { consumerId: `c${i}`, maxInflight: 8 })));
    for (const c of cs) c.autoAck();
    const sent = await produceSingles(t, count);
    const total = () => cs.reduce((s, c) => s + c.messages.length, 0);
    await eventually(async () => total(), (x) => x >= count, `${count} messages in all`);
    await sleep(500); // nothing more may come: no message twice
    const got = cs.flatMap((c) => ids(c.messages));
    expect(got).toHaveLength(count);
    expect(sorted(got)).toEqual(sorted(sent));
    for (const c of cs) {
      expect(c.messages.length, `${c.label} got a share`).toBeGreaterThan(0);
      for (const m of c.messages) expect(m).toMatchObject({ topic: t, deliveryAttempt: 1, receiptHandle: expect.any(String) });
      expect(c.errors).toEqual([]);
    }
    await groupUntil(g, (s) => s.lag === 0 && s.inflight === 0, 'everything acked');
  });

  it('a batch sent while consumers are connected is not delivered twice, and what one holds unacked is not given to another', async () => {
    const t = uniq('cl-batch');
    const g = uniq('g');
    await api.createTopic(t, { queues: 1 });
    const a = await connect(t, g, { consumerId: 'a', maxInflight: 100 });
    const b = await connect(t, g, { consumerId: 'b', maxInflight: 100 });
    const r = await api.produce(t, { messages: Array.from({ length: 30 }, (_, i) => ({ body: `b${i}` })) });
    await eventually(async () => a.messages.length + b.messages.length, (x) => x >= 30, '30 messages');
    await sleep(500);
    const all = [...ids(a.messages), ...ids(b.messages)];
    expect(sorted(all)).toEqual(sorted(r.map((x: Json) => x.messageId)));
    const s = await groupState(g);
    expect(s.inflight).toBe(30);
    expect(s.lag).toBe(30);
  });
});

describe('BROADCASTING: every consumerId gets every message, with its own offsets', () => {
  it('each consumer gets all; a reconnect with the same consumerId gets only what it had not acked', async () => {
    const t = uniq('bc');
    const g = uniq('g');
    await api.createTopic(t, { queues: 2 });
    await api.putGroup(g, { mode: 'BROADCASTING' });
    const c1 = await connect(t, g, { consumerId: 'c1' });
    const c2 = await connect(t, g, { consumerId: 'c2' });
    const sent = await produceSingles(t, 10);
    await c1.untilCount(10);
    await c2.untilCount(10);
    await sleep(300);
    expect(sorted(ids(c1.messages))).toEqual(sorted(sent));
    expect(sorted(ids(c2.messages))).toEqual(sorted(sent));

    // c2 acks all, c1 acks 6 of 10; the broker confirms (inflight is summed over the consumers)
    c2.ack(c2.messages);
    const keep = c1.messages.slice(6);
    c1.ack(c1.messages.slice(0, 6));
    await groupUntil(g, (s) => s.inflight === 4, 'c1 holds 4, c2 none');
    await c1.close();
    const later = await produceSingles(t, 3, (i) => ({ body: `later${i}` }));
    await c2.untilCount(13);

    const again = await connect(t, g, { consumerId: 'c1' }, 'c1-again');
    await again.untilCount(7);
    await sleep(500);
    expect(sorted(ids(again.messages))).toEqual(sorted([...ids(keep), ...later]));
    for (const m of again.messages) {
      expect(m.deliveryAttempt, m.body).toBe(keep.some((k) => k.messageId === m.messageId) ? 2 : 1);
    }
    again.ack(again.messages);
    c2.ack(c2.messages.slice(10));

    // a new consumerId starts from the group's consumeFrom (FIRST): everything
    const c3 = await connect(t, g, { consumerId: 'c3' });
    await c3.untilCount(13);
    await sleep(300);
    expect(sorted(ids(c3.messages))).toEqual(sorted([...sent, ...later]));
    c3.ack(c3.messages);
    await groupUntil(g, (s) => s.lag === 0 && s.inflight === 0, 'all three consumers done');
    expect(c2.messages).toHaveLength(13);
    expect(again.messages).toHaveLength(7);
  });

  it("a consumer cannot ack or nack a sibling's handle: INVALID_RECEIPT_HANDLE, and the sibling's delivery stays its own", async () => {
    const t = uniq('bc-sib');
    const g = uniq('g');
    await api.createTopic(t, { queues: 1 });
    await api.putGroup(g, { mode: 'BROADCASTING' });
    const c1 = await connect(t, g, { consumerId: 'c1' });
    const c2 = await connect(t, g, { consumerId: 'c2' });
    await api.produce(t, { body: 'x' });
    await c1.untilCount(1);
    await c2.untilCount(1);
    c2.ack(c2.messages); // its own: fine
    c2.send({ type: 'ack', receiptHandles: [c1.messages[0].receiptHandle] });
    expect(await c2.nextError(0)).toMatchObject({ type: 'error', code: 'INVALID_RECEIPT_HANDLE' });
    c2.send({ type: 'nack', receiptHandles: [c1.messages[0].receiptHandle] });
    expect(await c2.nextError(1)).toMatchObject({ type: 'error', code: 'INVALID_RECEIPT_HANDLE' });
    await groupUntil(g, (s) => s.inflight === 1, "c2 acked its own; c1's is still out");
    await sleep(300);
    expect(c1.messages).toHaveLength(1); // not redelivered by the nack
    c1.ack(c1.messages);
    await groupUntil(g, (s) => s.lag === 0 && s.inflight === 0, 'c1 acked its own');
    expect(c2.errors).toHaveLength(2);
  });

  it('refuses a connection without consumerId before the upgrade (400)', async () => {
    const t = uniq('bc-noid');
    const g = uniq('g');
    await api.createTopic(t, { queues: 2 });
    await api.putGroup(g, { mode: 'BROADCASTING' });
    const msg = expectError(await refused(t, g, {}), 400, 'BAD_REQUEST');
    expect(msg).toMatch(/consumerId/);
    // an invalid one is refused too
    expectError(await refused(t, g, { consumerId: 'bad id!' }), 400, 'BAD_REQUEST');
    // and with one it works
    await api.produce(t, { body: 'x' });
    const c = await connect(t, g, { consumerId: 'ok' });
    await c.untilCount(1);
  });
});

describe('flow control (maxInflight)', () => {
  // 1 queue: the socket ends at the Broker, which keeps the credit; 4: the relay keeps it
  it.each([1, 4])('never holds more than maxInflight unacked across the queues of a topic; acks free room (%i queues)', async (queues) => {
    const t = uniq('fc');
    const g = uniq('g');
    const N = 5;
    await api.createTopic(t, { queues });
    const sent = await produceSingles(t, 40); // 10 in each queue
    const a = await connect(t, g, { consumerId: 'a', maxInflight: N });
    await a.untilCount(N);
    await sleep(800);
    expect(a.messages).toHaveLength(N);
    expect((await groupState(g)).inflight).toBe(N);
    // more produced now does not go past the budget either
    await produceSingles(t, 8, (i) => ({ body: `more${i}` }));
    await sleep(500);
    expect(a.messages).toHaveLength(N);
    // nor can the client grant itself credit: that frame is the relay's, and refused
    a.send({ type: 'credit', n: 100 });
    expect(await a.nextError(0)).toMatchObject({ type: 'error', code: 'BAD_REQUEST' });
    await sleep(300);
    expect(a.messages).toHaveLength(N);

    // another consumer of the group is not held back by what a holds
    const b = await connect(t, g, { consumerId: 'b', maxInflight: 3 });
    await b.untilCount(3);
    await sleep(300);
    expect(b.messages).toHaveLength(3);
    await b.close();

    // acking two frees two
    a.ack(a.messages.slice(0, 2));
    await a.untilCount(N + 2);
    await sleep(500);
    expect(a.messages).toHaveLength(N + 2);
    expect(a.peak).toBe(N);

    // acking as they come: the rest arrives (b's 3 came back to the group when it closed)
    a.autoAck();
    await a.untilCount(48, 20_000);
    await sleep(500);
    expect(a.messages).toHaveLength(48);
    expect(a.peak).toBe(N);
    expect(new Set(ids(a.messages)).size).toBe(48);
    expect(a.messages.filter((m) => m.deliveryAttempt === 1)).toHaveLength(45);
    expect(a.messages.filter((m) => m.deliveryAttempt === 2).map((m) => m.messageId).sort()).toEqual(sorted(ids(b.messages)));
    expect(ids(a.messages)).toEqual(expect.arrayContaining(sent));
    await groupUntil(g, (s) => s.lag === 0 && s.inflight === 0, 'all acked');
  });

  it('credit follows the messages: all of them in one queue of a 4-queue topic still fill maxInflight', async () => {
    const t = uniq('fc-skew');
    const g = uniq('g');
    const N = 8;
    await api.createTopic(t, { queues: 4 });
    const [first] = await api.produce(t, { messages: Array.from({ length: 30 }, (_, i) => ({ body: `k${i}` })) }); // one batch: one queue
    const a = await connect(t, g, { consumerId: 'a', maxInflight: N });
    await a.untilCount(N);
    await sleep(600);
    expect(a.messages).toHaveLength(N);
    expect(new Set(a.messages.map((m) => m.queueId))).toEqual(new Set([first.queueId]));
    // the queues that had nothing gave their credit back; when they get messages they are served too
    const others = await produceSingles(t, 4, (i) => ({ body: `o${i}` }));
    await sleep(300);
    expect(a.messages).toHaveLength(N);
    a.autoAck();
    await a.untilCount(34);
    await sleep(300);
    expect(a.messages.map((m) => m.body).filter((b) => b.startsWith('k'))).toEqual(Array.from({ length: 30 }, (_, i) => `k${i}`));
    expect(ids(a.messages)).toEqual(expect.arrayContaining(others));
    expect(a.messages).toHaveLength(34);
    expect(a.peak).toBe(N);
  });

  it.each([1, 2])('nack frees room as well (%i queues)', async (queues) => {
    const t = uniq('fc-nack');
    const g = uniq('g');
    await api.createTopic(t, { queues });
    await api.produce(t, { messages: Array.from({ length: 6 }, (_, i) => ({ body: `n${i}` })) });
    const a = await connect(t, g, { consumerId: 'a', maxInflight: 2 });
    await a.untilCount(2);
    await sleep(300);
    expect(a.messages).toHaveLength(2);
    a.nack(a.messages.slice(0, 1), 60_000);
    await a.untilCount(3);
    await sleep(300);
    expect(a.messages).toHaveLength(3);
    expect(a.messages[2].body).toBe('n2');
    expect((await groupState(g)).retrying).toBe(1);
  });

  it.each([1, 2])('an ack frame with spaces, a trailing newline and a repeated handle frees one credit per message acked (%i queues)', async (queues) => {
    const t = uniq('fc-raw');
    const g = uniq('g');
    await api.createTopic(t, { queues });
    await api.produce(t, { messages: Array.from({ length: 5 }, (_, i) => ({ body: `r${i}` })) });
    const a = await connect(t, g, { consumerId: 'a', maxInflight: 2 });
    await a.untilCount(2);
    const [h0, h1] = a.messages.map((m) => m.receiptHandle as string);
    a.send(` { "type" : "ack", "receiptHandles" : [ ${JSON.stringify(h0)}, ${JSON.stringify(h0)} ] }\n`);
    await a.untilCount(3);
    a.send(`{"type":"ack","receiptHandles":[${JSON.stringify(h1)}]}`);
    await a.untilCount(4);
    await sleep(300);
    expect(a.messages.map((m) => m.body)).toEqual(['r0', 'r1', 'r2', 'r3']);
    expect(a.errors).toEqual([]);
    expect(await groupState(g)).toMatchObject({ inflight: 2, lag: 3 });
  });
});

describe('disconnect', () => {
  it('a consumer that closes without acking gives its messages to another consumer at once (deliveryAttempt 2); acked ones never come back', async () => {
    const t = uniq('dc');
    const g = uniq('g');
    await api.createTopic(t, { queues: 2 });
    await api.putGroup(g, { invisibleMs: 30_000 });
    const a = await connect(t, g, { consumerId: 'a', maxInflight: 64 });
    const sent = await produceSingles(t, 10);
    await a.untilCount(10);
    const acked = a.messages.slice(0, 4);
    const held = a.messages.slice(4);
    a.ack(acked);
    await groupUntil(g, (s) => s.inflight === 6, 'a holds 6');

    const b = await connect(t, g, { consumerId: 'b', maxInflight: 64 });
    await sleep(500);
    expect(b.messages).toEqual([]); // all out with a

    const t0 = Date.now();
    await a.close();
    await b.untilCount(6, 10_000);
    expect(Date.now() - t0).toBeLessThan(10_000); // well before invisibleMs (30 s)
    await sleep(500);
    expect(sorted(ids(b.messages))).toEqual(sorted(ids(held)));
    for (const m of b.messages) expect(m.deliveryAttempt).toBe(2);
    expect(ids(b.messages).filter((id) => ids(acked).includes(id))).toEqual([]);
    b.ack(b.messages);
    await groupUntil(g, (s) => s.lag === 0 && s.inflight === 0 && s.retrying === 0, 'all acked');
    expect(sorted([...ids(acked), ...ids(b.messages)])).toEqual(sorted(sent));
  });

  it('a consumer that drops (no close handshake) also returns its messages', async () => {
    const t = uniq('dc-term');
    const g = uniq('g');
    await api.createTopic(t, { queues: 1 });
    await api.produce(t, { messages: Array.from({ length: 5 }, (_, i) => ({ body: `d${i}` })) });
    const a = await connect(t, g, { consumerId: 'a' });
    await a.untilCount(5);
    const b = await connect(t, g, { consumerId: 'b' });
    a.ws.terminate();
    await b.untilCount(5, 15_000);
    expect(b.messages.map((m) => m.body)).toEqual(['d0', 'd1', 'd2', 'd3', 'd4']);
    for (const m of b.messages) expect(m.deliveryAttempt).toBe(2);
  });
});

describe('bad frames', () => {
  it.each([1, 2])('get an error frame with a code; the socket stays open and keeps working (%i queues)', async (queues) => {
    const t = uniq('bad');
    const other = uniq('bad-other');
    const g = uniq('g');
    await api.createTopic(t, { queues });
    await api.createTopic(other, { queues: 2 });
    await api.produce(other, { body: 'elsewhere' });
    const [foreign] = await api.receive(other, g, { maxMessages: 1 });
    expect(foreign).toBeDefined();

    const c = await connect(t, g, { consumerId: 'c', maxInflight: 4 });
    await api.produce(t, { body: 'first' });
    await c.untilCount(1);

    const cases: [string, () => void, string][] = [
      ['non-JSON', () => c.send('this is not json'), 'BAD_REQUEST'],
      ['unknown type', () => c.send({ type: 'hello', receiptHandles: ['x'] }), 'BAD_REQUEST'],
      ['credit, a frame only the relay may send', () => c.send({ type: 'credit', n: 100 }), 'BAD_REQUEST'],
      ['missing receiptHandles', () => c.send({ type: 'ack' }), 'BAD_REQUEST'],
      ['empty receiptHandles', () => c.send({ type: 'ack', receiptHandles: [] }), 'BAD_REQUEST'],
      ['handles not strings', () => c.send({ type: 'nack', receiptHandles: [1, 2] }), 'BAD_REQUEST'],
      ['a JSON array', () => c.send('[1,2,3]'), 'BAD_REQUEST'],
      ['binary frame', () => c.sendBinary(new TextEncoder().encode(JSON.stringify({ type: 'ack', receiptHandles: [c.messages[0].receiptHandle] }))), 'BAD_REQUEST'],
      ['a handle of another topic', () => c.send({ type: 'ack', receiptHandles: [foreign.receiptHandle] }), 'INVALID_RECEIPT_HANDLE'],
      ['a garbage handle', () => c.send({ type: 'ack', receiptHandles: ['nope'] }), 'INVALID_RECEIPT_HANDLE'],
    ];
    for (const [what, send, code] of cases) {
      const seen = c.errors.length;
      send();
      const e = await c.nextError(seen);
      expect(e, what).toMatchObject({ type: 'error', code, message: expect.any(String) });
      expect(e.message.length, what).toBeGreaterThan(5);
      expect(c.open, what).toBe(true);
    }
    // nothing of that acked anything: the message is still out, and the foreign one too
    expect((await groupState(g)).detail.queues.filter((q: Json) => q.topic === t).reduce((n: number, q: Json) => n + q.inflight, 0)).toBe(1);
    expect(await api.ack(other, g, [foreign.receiptHandle])).toEqual(['OK']);

    // still working: a real ack goes through, and new messages arrive
    c.ack(c.messages.slice(0, 1));
    await api.produce(t, { body: 'second' });
    await c.untilCount(2);
    expect(c.messages[1].body).toBe('second');
    c.ack(c.messages.slice(1));
    await groupUntil(g, (s) => s.lag === 0 && s.inflight === 0, 'both acked');
    expect(c.open).toBe(true);
    expect(c.errors).toHaveLength(cases.length);
  });

  it('an ack of a handle of another group of the same topic is INVALID_RECEIPT_HANDLE and changes nothing', async () => {
    const t = uniq('bad-grp');
    const [g1, g2] = [uniq('g1'), uniq('g2')];
    await api.createTopic(t, { queues: 1 });
    await api.produce(t, { body: 'x' });
    const [m] = await api.receive(t, g1, { maxMessages: 1 });
    const c = await connect(t, g2, { consumerId: 'c' });
    await c.untilCount(1);
    c.send({ type: 'ack', receiptHandles: [m.receiptHandle] });
    const e = await c.nextError(0);
    expect(e).toMatchObject({ type: 'error', code: 'INVALID_RECEIPT_HANDLE' });
    expect((await groupState(g1)).inflight).toBe(1);
    expect(await api.ack(t, g1, [m.receiptHandle])).toEqual(['OK']);
  });
});

describe('filters on push', () => {
  it('a tag expression delivers only matching tags; the rest count as consumed', async () => {
    const t = uniq('f-tag');
    const g = uniq('g');
    await api.createTopic(t, { queues: 2 });
    const c = await connect(t, g, { consumerId: 'c', filter: 'a||b' });
    c.autoAck();
    const tags = ['a', 'b', 'c', undefined, 'a', 'ab', 'b', 'c'];
    await produceSingles(t, tags.length, (i) => ({ body: `t${i}`, ...(tags[i] ? { tag: tags[i] } : {}) }));
    await c.untilCount(4);
    await groupUntil(g, (s) => s.lag === 0 && s.inflight === 0, 'lag 0 with the filtered-out ones');
    expect(c.messages.map((m) => m.body).sort()).toEqual(['t0', 't1', 't4', 't6']);
    expect(c.messages.map((m) => m.tag).sort()).toEqual(['a', 'a', 'b', 'b']);
    const d = await api.group(g);
    expect(d.subscriptions).toEqual([{ topic: t, filter: 'a||b' }]);
  });

  it('an SQL92 filter over properties and tag', async () => {
    const t = uniq('f-sql');
    const g = uniq('g');
    await api.createTopic(t, { queues: 1 });
    const props = [
      { region: 'eu', price: '20' }, { region: 'us', price: '20' }, { region: 'eu', price: '5' },
      { region: 'eu' }, { region: 'eu', price: '11' }, {},
    ];
    await api.produce(t, { messages: props.map((p, i) => ({ body: `s${i}`, properties: p, tag: i === 4 ? 'x' : 'y' })) });
    const c = await connect(t, g, { consumerId: 'c', sql: "region = 'eu' AND price > 10 AND tag IN ('x', 'y')" });
    c.autoAck();
    await c.untilCount(2);
    await groupUntil(g, (s) => s.lag === 0 && s.inflight === 0, 'lag 0');
    expect(c.messages.map((m) => m.body)).toEqual(['s0', 's4']);
  });

  it('refuses a bad expression with 400 INVALID_FILTER before the upgrade', async () => {
    const t = uniq('f-bad');
    const g = uniq('g');
    await api.createTopic(t, { queues: 1 });
    expectError(await refused(t, g, { sql: 'price >' }), 400, 'INVALID_FILTER');
    expectError(await refused(t, g, { sql: "region = 'eu" }), 400, 'INVALID_FILTER');
    expectError(await refused(t, g, { filter: 'a||' }), 400, 'INVALID_FILTER');
    expectError(await refused(t, g, { filter: 'a', sql: 'x = 1' }), 400, 'INVALID_FILTER');
    // nothing subscribed by the refused attempts
    const d = await api.get(`/v1/groups/${g}`);
    if (d.status === 200) expect(d.body.subscriptions).toEqual([]);
    else expectError(d, 404, 'GROUP_NOT_FOUND');
  });

  it('other refusals before the upgrade: bad maxInflight, unknown topic, no Upgrade header', async () => {
    const t = uniq('f-other');
    const g = uniq('g');
    await api.createTopic(t, { queues: 1 });
    expectError(await refused(t, g, { maxInflight: 0 }), 400, 'BAD_REQUEST');
    expectError(await refused(t, g, { maxInflight: 1025 }), 400, 'BAD_REQUEST');
    expectError(await refused(uniq('nope'), g, {}), 404, 'TOPIC_NOT_FOUND');
    const plain = await api.get(wsPath(t, g, { consumerId: 'x' }));
    expectError(plain, 426, 'BAD_REQUEST');
  });

  it('a long run of filtered-out messages does not stall a push consumer', async () => {
    const t = uniq('f-long');
    const g = uniq('g');
    await api.createTopic(t, { queues: 1 });
    for (let i = 0; i < 3; i++) {
      await api.produce(t, { messages: Array.from({ length: 1000 }, (_, k) => ({ body: `${i}.${k}`, tag: 'skip' })) });
    }
    await api.produce(t, { body: 'wanted', tag: 'want' });
    const c = await connect(t, g, { consumerId: 'c', filter: 'want' });
    await c.untilCount(1, 10_000);
    expect(c.messages[0].body).toBe('wanted');
    c.ack(c.messages);
    await groupUntil(g, (s) => s.lag === 0 && s.inflight === 0, 'lag 0');
  });
});

describe('GET /v1/groups/{group} with push consumers', () => {
  it('lists live ws consumers and per-queue inflight; a closed one goes away', async () => {
    const t = uniq('gd');
    const g = uniq('g');
    await api.createTopic(t, { queues: 2 });
    const before = Date.now();
    const a = await connect(t, g, { consumerId: 'ws-a', maxInflight: 3 });
    const b = await connect(t, g, { consumerId: 'ws-b', maxInflight: 3 });
    const sent = await produceSingles(t, 10);
    await eventually(async () => a.messages.length + b.messages.length, (n) => n >= 6, '6 out');
    const d = (await groupUntil(g, (s) => s.inflight === 6, '6 inflight')).detail;
    const ws = d.consumers.filter((x: Json) => x.transport === 'ws').sort((x: Json, y: Json) => x.consumerId.localeCompare(y.consumerId));
    expect(ws).toEqual([
      { consumerId: 'ws-a', transport: 'ws', topic: t, connectedAt: expect.any(Number) },
      { consumerId: 'ws-b', transport: 'ws', topic: t, connectedAt: expect.any(Number) },
    ]);
    for (const x of ws) {
      expect(x.connectedAt).toBeGreaterThanOrEqual(before - 5000);
      expect(x.connectedAt).toBeLessThanOrEqual(Date.now() + 5000);
    }
    expect(d.queues.map((q: Json) => q.queueId).sort()).toEqual([0, 1]);
    const byQueue = [0, 1].map((q) => [...a.messages, ...b.messages].filter((m) => m.queueId === q).length);
    expect(d.queues.sort((x: Json, y: Json) => x.queueId - y.queueId).map((q: Json) => q.inflight)).toEqual(byQueue);
    expect(d.lag).toBe(10);
    expect(d.subscriptions).toEqual([{ topic: t, filter: null }]);
    const list = await api.get('/v1/groups');
    expect(list.body.groups.find((x: Json) => x.name === g)).toMatchObject({ consumers: 2, lag: 10 });

    await a.close();
    const d2 = (await groupUntil(g, (s) => s.inflight <= 3, 'a gone')).detail;
    await eventually(async () => (await api.group(g)).consumers.map((x: Json) => x.consumerId), (xs) => xs.length === 1 && xs[0] === 'ws-b', 'only ws-b listed');
    expect(d2.queues.length).toBe(2);
    b.autoAck();
    await eventually(async () => b.messages.length, (n) => new Set(ids(b.messages)).size === 10 && n >= 10, 'b has all 10');
    expect(sorted([...new Set(ids(b.messages))])).toEqual(sorted(sent));
    await groupUntil(g, (s) => s.lag === 0 && s.inflight === 0, 'all acked');
  });

  it('a consumer without consumerId is listed under a generated id', async () => {
    const t = uniq('gd-anon');
    const g = uniq('g');
    await api.createTopic(t, { queues: 1 });
    await connect(t, g, {});
    const d = await eventually(() => api.group(g), (x) => x.consumers.length === 1, 'one consumer');
    expect(d.consumers[0]).toMatchObject({ transport: 'ws', topic: t, consumerId: expect.stringMatching(/^[A-Za-z0-9_-]+$/) });
  });
});

describe('server restart', () => {
  it('a consumer that reconnects loses nothing and never gets a confirmed ack again', async () => {
    const t = uniq('rs');
    const g = uniq('g');
    await api.createTopic(t, { queues: 2 });
    await api.putGroup(g, { invisibleMs: 60_000 });
    const a = await connect(t, g, { consumerId: 'a', maxInflight: 64 });
    const sent = await produceSingles(t, 12);
    await a.untilCount(12);
    const acked = a.messages.slice(0, 7);
    const held = a.messages.slice(7);
    a.ack(acked);
    await groupUntil(g, (s) => s.inflight === 5 && s.lag === 5, 'the 7 acks confirmed');
    // the 5 still out are written once out a second unacked (LEASE_HOLD_MS): then they come back as
    // second deliveries (killed sooner, they would come back as first ones: test/workers/reliability)
    await sleep(1200);

    await ctx.server.restart('SIGKILL');
    await Promise.race([a.closed, sleep(10_000)]);
    expect(a.open).toBe(false);
    const after = await produceSingles(t, 3, (i) => ({ body: `after${i}` }));

    const again = await connect(t, g, { consumerId: 'a', maxInflight: 64 }, 'a-again');
    await again.untilCount(8, 15_000);
    await sleep(800);
    expect(sorted(ids(again.messages))).toEqual(sorted([...ids(held), ...after]));
    for (const m of again.messages) {
      expect(m.deliveryAttempt).toBe(ids(held).includes(m.messageId) ? 2 : 1);
    }
    again.ack(again.messages);
    await groupUntil(g, (s) => s.lag === 0 && s.inflight === 0 && s.retrying === 0, 'all acked');
    expect(sorted([...ids(acked), ...ids(again.messages)])).toEqual(sorted([...sent, ...after]));
  });
});

