/**
 * Crash safety inside one Broker: an alarm whose work fails is retried and loses nothing; a Broker
 * reset (ctx.abort(), as the runtime does on an update or a fatal error) in the middle of a
 * delivery gives its in-flight messages back, to pull consumers after their invisibility and to
 * push consumers at once.
 *
 * The faults are injected into the real objects: the storage transaction of an alarm made to throw
 * after its work was done (a wrapper around transactionSync; SQLite really rolls the work back),
 * a dead-letter topic whose broker was dropped while the catalog still routes to it (a DELETE half
 * done), and `state.abort()` on a live object.
 */
import { env, runDurableObjectAlarm, runInDurableObject, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { Broker } from '../../src/objects/Broker';
import { broker, dlqTopicName, nameServer, type QueueRoute } from '../../src/objects/names';
import {
  alarmAt, alarmsOnTime, brokerOf, brokerSql, closeSocket, consumer, groupConfig, handleOf, holdAlarms, ok, outgoing, queueRoute, received, sleep, uniq,
} from './helpers';

type Stub = DurableObjectStub<Broker>;
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const BASE = 'https://edgemq.test';
const NO_BACKOFF = { type: 'EXPONENTIAL' as const, initialMs: 0, maxMs: 0, multiplier: 1 };

async function call(method: string, path: string, body?: unknown) {
  const res = await SELF.fetch(`${BASE}${path}`, {
    method, headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: (text ? JSON.parse(text) : null) as Json };
}

async function until<T>(what: string, fn: () => Promise<T>, done: (v: T) => boolean, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (done(v)) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(v)}`);
    await sleep(50);
  }
}

/** Subscribes over WebSocket (`path` a .../ws URL path); collects the pushed messages and the close code. */
async function openPush(path: string) {
  const res = await SELF.fetch(`${BASE}${path}`, { headers: { Upgrade: 'websocket' } });
  expect(res.status).toBe(101);
  const ws = res.webSocket!;
  const got: Json[] = [];
  let closed: number | null = null;
  ws.addEventListener('message', (e) => { const f = JSON.parse(e.data as string); if (f.type === 'messages') got.push(...f.messages); });
  ws.addEventListener('close', (e) => { closed = e.code; });
  ws.accept();
  return { ws, got, closed: () => closed };
}

/** Resets the object as the runtime would; the call that does it fails, as every call in flight does. */
async function resetObject(stub: Stub): Promise<void> {
  const err = await runInDurableObject(stub, (_i, state) => { state.abort('reset by the test'); }).then(() => null, (e: unknown) => e);
  expect(String(err)).toMatch(/reset by the test/);
}

/** What the log and consume tables hold, read straight from SQLite. */
async function tables(stub: Stub) {
  const [seg] = await brokerSql<{ n: number | null; top: number | null }>(stub, 'SELECT SUM(n) AS n, MAX(base + n) AS top FROM segments');
  return {
    messages: seg.n ?? 0, top: seg.top ?? 0,
    leases: (await brokerSql(stub, 'SELECT grp FROM leases')).length,
    retries: await brokerSql<{ grp: string; off: number; attempt: number; dlq: number }>(stub, 'SELECT grp, off, attempt, dlq FROM retries ORDER BY off'),
    scheduled: (await brokerSql<{ state: number; off: number | null }>(stub, 'SELECT state, off FROM scheduled ORDER BY seq')),
  };
}

describe('an alarm whose work fails', () => {
  alarmsOnTime(); // the first test waits for workerd to run the alarm, and again after it threw
  it('is retried when it throws, and its rolled-back work is done exactly once', async () => {
    const route = queueRoute(uniq('rel-alarm'));
    const stub = brokerOf(route);
    const g = groupConfig(uniq('g'), { retryPolicy: NO_BACKOFF });
    const [stored] = ok(await stub.produce(route, outgoing(route, ['leased']))).messages;
    // due in a second: a lease running out and a scheduled message, both the alarm's work
    const [m] = received(await stub.receive(route, consumer(g), { max: 1, invisibleMs: 1000 })) as unknown as Json[];
    const [sched] = ok(await stub.produce(route, outgoing(route, [{ body: 'scheduled', delayMs: 1000 }]))).messages;
    expect(sched.queueOffset).toBeNull();

    // the next storage transaction does its work, then fails to commit (as a storage error would):
    // everything it wrote is rolled back, and the exception escapes the alarm handler
    const t0 = Date.now();
    await runInDurableObject(stub, (_i, state) => {
      const storage = state.storage as DurableObjectStorage & { faults?: number[] };
      const real = storage.transactionSync.bind(storage);
      let armed = true;
      storage.faults = [];
      storage.transactionSync = <T>(fn: () => T): T => real(() => {
        const r = fn();
        if (armed) { armed = false; storage.faults!.push(Date.now()); throw new Error('injected storage fault'); }
        return r;
      });
    });
    const faults = () => runInDurableObject(stub, (_i, state) => (state.storage as DurableObjectStorage & { faults?: number[] }).faults ?? []);

    // the alarm ran at about t0 + 1 s and threw: nothing of its work is stored
    await until('the failing alarm', faults, (f) => f.length === 1);
    const failedAt = (await faults())[0];
    expect(failedAt - t0).toBeLessThan(3000);
    const mid = await tables(stub);
    expect(mid).toMatchObject({ messages: 1, top: 1, leases: 1, retries: [], scheduled: [{ state: 0, off: null }] });
    // the object's own view agrees with its storage (no phantom offset from the rolled-back append)
    expect(ok(await stub.status(route))).toMatchObject({ maxOffset: 1, messages: 1, scheduled: 1 });

    // the alarm runs again (the object re-armed it for the work left, RETRY_ALARM_MS later; workerd
    // would also retry a throwing alarm by itself): the work is done, once
    const done = await until('the retried alarm', () => tables(stub), (t) => t.leases === 0 && t.messages === 2, 15_000);
    expect(Date.now() - failedAt).toBeGreaterThan(500); // after a pause, not in a tight loop
    expect(done).toMatchObject({ top: 2, retries: [{ grp: g.name, off: 0, attempt: 2, dlq: 0 }], scheduled: [{ state: 2, off: 1 }] });
    expect(ok(await stub.status(route))).toMatchObject({ minOffset: 0, maxOffset: 2, messages: 2, scheduled: 0 });

    // the expired delivery comes again, the scheduled message once, and the log goes on at 2
    const got = received(await stub.receive(route, consumer(g), { max: 10 })) as unknown as Json[];
    expect(got.map((x) => [x.messageId, x.body, x.deliveryAttempt])).toEqual([
      [stored.messageId, 'leased', 2], [sched.messageId, 'scheduled', 1],
    ]);
    expect(ok(await stub.ack(route, g, [handleOf(m.receiptHandle)])).results).toEqual(['EXPIRED']);
    expect(ok(await stub.ack(route, g, got.map((x) => handleOf(x.receiptHandle)))).results).toEqual(['OK', 'OK']);
    const [next] = ok(await stub.produce(route, outgoing(route, ['next']))).messages;
    expect(next.queueOffset).toBe(2);
    expect(ok(await stub.status(route))).toMatchObject({ maxOffset: 3, messages: 3 });
    // nothing is left for the alarm to do soon (no retry loop left behind)
    await holdAlarms(stub);
  }, 30_000);

  it('retries a dead-letter transfer that fails, a few seconds later, and moves the message exactly once', async () => {
    const route = queueRoute(uniq('rel-dlq'));
    const stub = brokerOf(route);
    await holdAlarms(stub);
    const g = groupConfig(uniq('g'), { maxRetries: 0 });
    const [p] = ok(await stub.produce(route, outgoing(route, [{ body: 'poison', keys: ['k-1'] }]))).messages;
    const [m] = received(await stub.receive(route, consumer(g), { max: 1 })) as unknown as Json[];

    // the group's dead-letter topic exists in the catalog, but its broker refuses appends: it was
    // dropped (a DELETE of the topic half done), so the transfer fails until the catalog forgets it
    const ns = nameServer(env);
    const dead = await ns.ensureSystemTopic(dlqTopicName(g.name));
    await broker(env, dead, 0).drop();

    expect(ok(await stub.nack(route, g, [handleOf(m.receiptHandle)])).results).toEqual(['OK']);
    const before = Date.now();
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    // not lost: still pending for the dead-letter queue, still counted for the group
    expect((await tables(stub)).retries).toEqual([{ grp: g.name, off: 0, attempt: 1, dlq: 1 }]);
    expect(ok(await stub.groupStatus(route, [g.name]))).toMatchObject({ retrying: 1, consumerOffset: 0 });
    // and retried with a pause: not in a tight loop against the failing topic
    const retryAt = await alarmAt(stub);
    expect(retryAt).not.toBeNull();
    expect(retryAt! - before).toBeGreaterThanOrEqual(4000);
    expect(retryAt! - before).toBeLessThanOrEqual(6000);
    // running it again while the fault lasts changes nothing
    await runDurableObjectAlarm(stub);
    expect((await tables(stub)).retries).toHaveLength(1);

    // the fault goes away (the delete finishes): the next alarm moves the message, once
    expect(await ns.deleteTopic(dlqTopicName(g.name))).not.toBeNull();
    await runDurableObjectAlarm(stub);
    expect((await tables(stub)).retries).toEqual([]);
    expect(ok(await stub.groupStatus(route, [g.name]))).toMatchObject({ retrying: 0, inflight: 0, consumerOffset: 1, lag: 0 });
    const dlq = (await ns.getTopic(dlqTopicName(g.name)))!;
    expect(dlq.incarnation).not.toBe(dead.incarnation);
    const droute: QueueRoute = { topic: dlq, queueId: 0 };
    const dstub = broker(env, dlq, 0);
    expect(ok(await dstub.status(droute))).toMatchObject({ maxOffset: 1, messages: 1 });
    const [d] = received(await dstub.receive(droute, consumer(groupConfig('inspect')), { max: 10 })) as unknown as Json[];
    expect(d).toMatchObject({ body: 'poison', keys: ['k-1'], properties: { ORIGIN_TOPIC: route.topic.name, ORIGIN_MESSAGE_ID: p.messageId } });
    await runDurableObjectAlarm(stub);
    expect(ok(await dstub.status(droute))).toMatchObject({ maxOffset: 1 });
  });
});

describe('a Broker reset in the middle of a delivery', () => {
  alarmsOnTime(); // leases run out by the alarm the new instance kept
  async function topicWithGroup(invisibleMs: number, queues = 1) {
    const topic = uniq('rel-reset');
    const group = uniq('g');
    expect((await call('POST', '/v1/topics', { name: topic, queues })).status).toBe(201);
    expect((await call('PUT', `/v1/groups/${group}`, { invisibleMs, retryPolicy: NO_BACKOFF })).status).toBe(201);
    const t = (await nameServer(env).getTopic(topic))!;
    return { topic, group, route: { topic: t, queueId: 0 } as QueueRoute, stub: () => broker(env, t, 0) };
  }

  it('keeps pull leases: an ack after the reset counts, the rest comes again after its invisibility', async () => {
    const { topic, group, stub } = await topicWithGroup(1000);
    const sub = `/v1/topics/${topic}/subscriptions/${group}`;
    const p = await call('POST', `/v1/topics/${topic}/messages`, { messages: ['a', 'b', 'c'].map((body) => ({ body })) });
    expect(p.status).toBe(201);
    const r = await call('POST', `${sub}/receive`, { maxMessages: 3 });
    const out: Json[] = r.json.messages;
    expect(out.map((m) => m.body)).toEqual(['a', 'b', 'c']);

    await resetObject(stub());

    // a new instance starts from storage: the messages and the leases are there
    expect((await call('GET', `/v1/topics/${topic}`)).json.queueStatus[0]).toMatchObject({ minOffset: 0, maxOffset: 3 });
    const acked = await call('POST', `${sub}/ack`, { receiptHandles: [out[0].receiptHandle] });
    expect(acked.json.results.map((x: Json) => x.status)).toEqual(['OK']);
    expect((await call('GET', `/v1/groups/${group}`)).json.queues[0]).toMatchObject({ inflight: 2, consumerOffset: 1 });

    // after the invisibility (and the alarm the new instance kept), b and c come back, a never
    const again: Json[] = [];
    const until_ = Date.now() + 10_000;
    while (again.length < 2 && Date.now() < until_) {
      again.push(...(await call('POST', `${sub}/receive`, { maxMessages: 10, waitMs: 1000 })).json.messages);
    }
    expect(again.map((m) => [m.body, m.deliveryAttempt])).toEqual([['b', 2], ['c', 2]]);
    const settled = await call('POST', `${sub}/ack`, { receiptHandles: [...again, ...out].map((m) => m.receiptHandle) });
    expect(settled.json.results.map((x: Json) => x.status)).toEqual(['OK', 'OK', 'EXPIRED', 'EXPIRED', 'EXPIRED']);
    expect((await call('POST', `${sub}/receive`, { waitMs: 300 })).json.messages).toEqual([]);
    expect((await call('GET', `/v1/groups/${group}`)).json).toMatchObject({ lag: 0, queues: [{ inflight: 0, retrying: 0 }] });
    await holdAlarms(stub());
  });

  it('fails a long poll in flight with 503 OVERLOADED and Retry-After, not a 500', async () => {
    const { topic, group, stub } = await topicWithGroup(30_000);
    const sub = `/v1/topics/${topic}/subscriptions/${group}`;
    const polling = call('POST', `${sub}/receive`, { waitMs: 5000 });
    await sleep(300); // the poll is waiting in the broker
    const t0 = Date.now();
    await resetObject(stub());
    const r = await polling;
    expect(r.status, JSON.stringify(r.json)).toBe(503);
    expect(r.json.error.code).toBe('OVERLOADED');
    expect(Number(r.headers.get('Retry-After'))).toBeGreaterThanOrEqual(1);
    expect(Date.now() - t0).toBeLessThan(2000);
    // and the queue works again right away
    expect((await call('POST', `/v1/topics/${topic}/messages`, { body: 'after' })).status).toBe(201);
    expect((await call('POST', `${sub}/receive`, {})).json.messages.map((m: Json) => m.body)).toEqual(['after']);
  });

  // 1 queue: the client's socket is the Broker's own, and the runtime drops it (1006); 2 queues:
  // the relay sees its upstream close and closes the client's socket with 1012 (reconnect)
  it.each([[1, 1006], [2, 1012]])('closes push sockets and gives their unacked messages back at once (%i queues: close %i)', async (queues, code) => {
    const { topic, group, stub } = await topicWithGroup(600_000, queues); // invisibility far away: only the reset can return them
    const path = `/v1/topics/${topic}/subscriptions/${group}/ws?consumerId=c1`;
    const open = () => openPush(path);
    const c1 = await open();
    expect((await call('POST', `/v1/topics/${topic}/messages`, { messages: [{ body: 'x' }, { body: 'y' }] })).status).toBe(201);
    await until('two pushed messages', async () => c1.got.length, (n) => n === 2);
    c1.ws.send(JSON.stringify({ type: 'ack', receiptHandles: [c1.got[0].receiptHandle] }));
    const inflight = (g: Json) => g.queues.reduce((n: number, q: Json) => n + q.inflight, 0);
    await until('the ack', async () => inflight((await call('GET', `/v1/groups/${group}`)).json), (n) => n === 1);
    await sleep(700); // y's lease written (PUSH_LEASE_HOLD_MS is 500 ms in these tests)

    await resetObject(stub());
    await until('the socket to close', async () => c1.closed(), (c) => c !== null, 5000);
    expect(c1.closed()).toBe(code);

    // a new connection gets y again at once (attempt 2), and never x
    const c2 = await open();
    await until('the unacked message back', async () => c2.got.length, (n) => n >= 1, 5000);
    expect(c2.got.map((m) => [m.body, m.deliveryAttempt])).toEqual([['y', 2]]);
    c2.ws.send(JSON.stringify({ type: 'ack', receiptHandles: [c2.got[0].receiptHandle] }));
    await until('lag 0', async () => (await call('GET', `/v1/groups/${group}`)).json, (g) => g.lag === 0 && inflight(g) === 0);
    await sleep(200);
    expect(c2.got).toHaveLength(1);
    await closeSocket(c2.ws);
  });
});

describe('push acks, applied together', () => {
  it('counts acks sent one frame each and followed at once by a close: nothing acked comes back', async () => {
    const topic = uniq('rel-acks');
    const group = uniq('g');
    expect((await call('POST', `/v1/topics`, { name: topic, queues: 1 })).status).toBe(201);
    expect((await call('PUT', `/v1/groups/${group}`, { retryPolicy: NO_BACKOFF })).status).toBe(201);
    const open = (consumerId: string) => openPush(`/v1/topics/${topic}/subscriptions/${group}/ws?consumerId=${consumerId}`);
    const c1 = await open('c1');
    const bodies = Array.from({ length: 20 }, (_, i) => `m${i}`);
    expect((await call('POST', `/v1/topics/${topic}/messages`, { messages: bodies.map((body) => ({ body })) })).status).toBe(201);
    await until('20 pushed messages', async () => c1.got.length, (n) => n === 20);
    // 15 acks, one frame each, then the consumer goes: the 5 unacked come back, the 15 never
    for (const m of c1.got.slice(0, 15)) c1.ws.send(JSON.stringify({ type: 'ack', receiptHandles: [m.receiptHandle] }));
    await closeSocket(c1.ws);

    const c2 = await open('c2');
    await until('the unacked five back', async () => c2.got.length, (n) => n >= 5, 5000);
    await sleep(300);
    expect(c2.got.map((m) => [m.body, m.deliveryAttempt])).toEqual(bodies.slice(15).map((b) => [b, 2]));
    // acks received are counted by the next call that reads the group, long before they would be
    // applied on their own (PUSH_ACK_FLUSH_MS is 2 s in these tests; 300 ms is ample for the frames to arrive)
    for (const m of c2.got) c2.ws.send(JSON.stringify({ type: 'ack', receiptHandles: [m.receiptHandle] }));
    await sleep(300);
    expect((await call('GET', `/v1/groups/${group}`)).json).toMatchObject({ lag: 0, queues: [{ inflight: 0, retrying: 0 }] });
    const trace = (await call('GET', `/v1/topics/${topic}/messages/${c1.got[0].messageId}/trace`)).json.events.map((e: Json) => e.type);
    expect(trace).toEqual(['PUBLISHED', 'DELIVERED', 'ACKED']);
    await closeSocket(c2.ws);
  });
});

describe('push deliveries, written behind', () => {
  async function pushTopic() {
    const topic = uniq('rel-behind');
    const group = uniq('g');
    expect((await call('POST', '/v1/topics', { name: topic, queues: 1 })).status).toBe(201);
    expect((await call('PUT', `/v1/groups/${group}`, { invisibleMs: 600_000, retryPolicy: NO_BACKOFF })).status).toBe(201);
    const t = (await nameServer(env).getTopic(topic))!;
    const open = (consumerId: string) => openPush(`/v1/topics/${topic}/subscriptions/${group}/ws?consumerId=${consumerId}`);
    const consumeRows = async () => ({
      leases: await brokerSql<{ items: string }>(broker(env, t, 0), 'SELECT items FROM leases'),
      next: (await brokerSql<{ next: number }>(broker(env, t, 0), 'SELECT next FROM cgroups'))[0]?.next,
    });
    return { topic, group, open, consumeRows, stub: () => broker(env, t, 0) };
  }

  it('writes nothing for a delivery until the ack flush, then the offset up to what is still out, and its lease once out a while', async () => {
    const { topic, group, open, consumeRows, stub } = await pushTopic();
    const c1 = await open('c1');
    await until('the group', async () => (await consumeRows()).next, (n) => n === 0);
    expect((await call('POST', `/v1/topics/${topic}/messages`, { messages: [{ body: 'a' }, { body: 'b' }, { body: 'c' }] })).status).toBe(201);
    await until('three pushed messages', async () => c1.got.length, (n) => n === 3);
    c1.ws.send(JSON.stringify({ type: 'ack', receiptHandles: [c1.got[0].receiptHandle, c1.got[1].receiptHandle] }));
    await sleep(100);
    // within PUSH_ACK_FLUSH_MS (2 s in these tests): neither the lease nor the group's offset is written
    expect(await consumeRows()).toEqual({ leases: [], next: 0 });
    // a call that reads the group applies the acks: the offset moves up to c, still out; c's lease
    // is held (PUSH_LEASE_HOLD_MS, 500 ms in these tests), and counted
    expect((await call('GET', `/v1/groups/${group}`)).json).toMatchObject({ lag: 1, queues: [{ inflight: 1 }] });
    expect(await consumeRows()).toEqual({ leases: [], next: 2 });
    // out longer than that, unacked: written on its own
    await until('c written', async () => consumeRows(), (r) => r.leases.length === 1, 1500); // before the 2 s ack flush
    expect(await consumeRows()).toEqual({ leases: [{ items: '[[2,1]]' }], next: 3 });
    // written, it survives a reset: c comes back as a retry, a and b never
    await resetObject(stub());
    await until('the socket to close', async () => c1.closed(), (c) => c !== null, 5000);
    const c2 = await open('c2');
    await until('c back', async () => c2.got.length, (n) => n >= 1, 5000);
    await sleep(200);
    expect(c2.got.map((m) => [m.body, m.deliveryAttempt])).toEqual([['c', 2]]);
    c2.ws.send(JSON.stringify({ type: 'ack', receiptHandles: [c2.got[0].receiptHandle] }));
    await until('lag 0', async () => (await call('GET', `/v1/groups/${group}`)).json, (g) => g.lag === 0 && g.queues[0].inflight === 0);
    await closeSocket(c2.ws);
  });

  it('a pull receive is written at once, with a consumerId or without', async () => {
    const { topic, group, consumeRows } = await pushTopic();
    expect((await call('POST', `/v1/topics/${topic}/messages`, { messages: [{ body: 'p' }, { body: 'q' }] })).status).toBe(201);
    const r1 = await call('POST', `/v1/topics/${topic}/subscriptions/${group}/receive`, { maxMessages: 1, consumerId: 'puller' });
    expect(r1.json.messages.map((m: Json) => m.body)).toEqual(['p']);
    expect(await consumeRows()).toEqual({ leases: [{ items: '[[0,1]]' }], next: 1 });
    const r2 = await call('POST', `/v1/topics/${topic}/subscriptions/${group}/receive`, { maxMessages: 1 });
    expect(r2.json.messages.map((m: Json) => m.body)).toEqual(['q']);
    expect((await consumeRows()).next).toBe(2);
    expect((await consumeRows()).leases).toHaveLength(2);
  });

  it('a reset before the flush loses no message: what was out is delivered again', async () => {
    const { topic, group, open, consumeRows, stub } = await pushTopic();
    const c1 = await open('c1');
    await until('the group', async () => (await consumeRows()).next, (n) => n === 0);
    expect((await call('POST', `/v1/topics/${topic}/messages`, { messages: [{ body: 'x' }, { body: 'y' }] })).status).toBe(201);
    await until('two pushed messages', async () => c1.got.length, (n) => n === 2);
    c1.ws.send(JSON.stringify({ type: 'ack', receiptHandles: [c1.got[0].receiptHandle] })); // held back too: lost with the rest
    await sleep(100);
    expect(await consumeRows()).toEqual({ leases: [], next: 0 });
    await resetObject(stub());
    await until('the socket to close', async () => c1.closed(), (c) => c !== null, 5000);
    // nothing of the delivery was written: both come again, as the first delivery they were
    const c2 = await open('c2');
    await until('both back', async () => c2.got.length, (n) => n >= 2, 5000);
    await sleep(200);
    expect(c2.got.map((m) => [m.body, m.deliveryAttempt])).toEqual([['x', 1], ['y', 1]]);
    c2.ws.send(JSON.stringify({ type: 'ack', receiptHandles: c2.got.map((m) => m.receiptHandle) }));
    await until('lag 0', async () => (await call('GET', `/v1/groups/${group}`)).json, (g) => g.lag === 0 && g.queues[0].inflight === 0);
    expect(await consumeRows()).toEqual({ leases: [], next: 2 });
    await closeSocket(c2.ws);
  });
});
