/**
 * Scheduled messages against a real `wrangler dev`: deliverAt / delayMs (JSON and headers), queueOffset
 * null until due, state SCHEDULED → STORED, recall (204 before, 409 after), DELAY topics, the 365-day
 * limit, push delivery at the due time, and a scheduled message that comes due while the server is
 * stopped being delivered right after it starts again on the same state.
 * Lateness is measured here as the client's receive time minus deliverAt (one machine, one clock).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { Api, enc, expectError, sleep, uniq, type Json } from './client';
import { useServer } from './server';
import { eventually, PushClient } from './ws-client';

const ctx = useServer();
let api: Api;
beforeAll(() => { api = ctx.api; });

const DAY = 86_400_000;
const YEAR = 365 * DAY;
/** Generous: the client, wrangler and workerd share a small machine. */
const LATE_OK_MS = 3000;

const msgPath = (topic: string, id: string) => `/v1/topics/${enc(topic)}/messages/${id}`;

async function getMessage(topic: string, id: string): Promise<Json> {
  const r = await api.get(msgPath(topic, id));
  expect(r.status, r.text).toBe(200);
  return r.body;
}

/** Receives (long polling) until `n` messages came; stamps each with the client's receive time. */
async function receiveTimed(topic: string, group: string, n: number, ms = 15_000): Promise<(Json & { at: number })[]> {
  const got: (Json & { at: number })[] = [];
  const until = Date.now() + ms;
  while (got.length < n && Date.now() < until) {
    const batch = await api.receive(topic, group, { waitMs: Math.max(0, Math.min(2000, until - Date.now())) });
    const at = Date.now();
    got.push(...batch.map((m) => ({ ...m, at })));
  }
  return got;
}

describe('scheduled messages', () => {
  it('holds deliverAt and delayMs messages (queueOffset null, SCHEDULED) and delivers them at their time, not before', async () => {
    const topic = uniq('sch');
    const group = uniq('g');
    await api.createTopic(topic, { queues: 2 });
    await api.putGroup(group);
    const t0 = Date.now();
    const deliverAt = t0 + 2000;
    const produced = await api.produce(topic, { messages: [
      { body: 'at', deliverAt, tag: 'a', keys: ['sk1'], properties: { p: 'v' } },
      { body: { n: 2 }, delayMs: 2500 },
    ] });
    const sentAt = Date.now();
    for (const p of produced) {
      expect(p.queueOffset).toBeNull();
      expect(typeof p.messageId).toBe('string');
    }
    const dueOf = (i: number) => (i === 0 ? deliverAt : t0 + 2500);

    const s = await getMessage(topic, produced[0].messageId);
    expect(s).toMatchObject({
      messageId: produced[0].messageId, topic, queueId: produced[0].queueId, queueOffset: null, state: 'SCHEDULED',
      body: 'at', tag: 'a', keys: ['sk1'], properties: { p: 'v' }, deliverAt,
    });
    const s2 = await getMessage(topic, produced[1].messageId);
    expect(s2.state).toBe('SCHEDULED');
    expect(s2.deliverAt).toBeGreaterThanOrEqual(t0 + 2500);
    expect(s2.deliverAt).toBeLessThanOrEqual(sentAt + 2500);
    expect((await api.topic(topic)).messages).toBe(0);
    expect(await api.receive(topic, group)).toEqual([]);

    const got = await receiveTimed(topic, group, 2);
    expect(got.map((m) => m.messageId)).toEqual(produced.map((p) => p.messageId));
    got.forEach((m, i) => {
      expect(m.at, `${m.messageId} came early`).toBeGreaterThanOrEqual(dueOf(i));
      expect(m.at - dueOf(i), 'lateness').toBeLessThan(LATE_OK_MS);
      expect(m.deliverAt).toBeGreaterThanOrEqual(dueOf(i));
      expect(m.deliveryAttempt).toBe(1);
      expect(typeof m.queueOffset).toBe('number');
      expect(m.queueId).toBe(produced[i].queueId);
    });
    expect(got[0]).toMatchObject({ body: 'at', tag: 'a', keys: ['sk1'], properties: { p: 'v' } });
    expect(got[1].body).toEqual({ n: 2 });
    expect(await api.ack(topic, group, got.map((m) => m.receiptHandle))).toEqual(['OK', 'OK']);

    // found by the same id, now STORED with its offset
    const after = await getMessage(topic, produced[0].messageId);
    expect(after).toMatchObject({ state: 'STORED', queueOffset: got[0].queueOffset, messageId: produced[0].messageId });
    // too late to recall
    expectError(await api.del(msgPath(topic, produced[0].messageId)), 409, 'CONFLICT');
    expect(await api.receive(topic, group, { waitMs: 500 })).toEqual([]);
    expect((await api.topic(topic)).messages).toBe(2);
  });

  it('takes X-Delay-Ms and X-Deliver-At on a raw produce', async () => {
    const topic = uniq('sch-raw');
    const group = uniq('g');
    await api.createTopic(topic, { queues: 1 });
    const t0 = Date.now();
    const a = await api.post(`/v1/topics/${topic}/messages`, undefined, { raw: 'raw delayed', contentType: 'text/plain', headers: { 'X-Delay-Ms': '1500' } });
    expect(a.status, a.text).toBe(201);
    const at = Date.now() + 1800;
    const b = await api.post(`/v1/topics/${topic}/messages`, undefined, { raw: 'raw at', contentType: 'text/plain', headers: { 'X-Deliver-At': String(at) } });
    expect(b.status, b.text).toBe(201);
    expect([a.body.messages[0].queueOffset, b.body.messages[0].queueOffset]).toEqual([null, null]);
    const got = await receiveTimed(topic, group, 2);
    expect(got.map((m) => m.body)).toEqual(['raw delayed', 'raw at']);
    expect(got[0].at).toBeGreaterThanOrEqual(t0 + 1500);
    expect(got[1].at).toBeGreaterThanOrEqual(at);
  });

  it('recalls a message that is not yet due: 204, RECALLED, never delivered; 409 afterwards', async () => {
    const topic = uniq('sch-recall');
    const group = uniq('g');
    await api.createTopic(topic, { queues: 1 });
    const [gone, kept] = await api.produce(topic, { messages: [{ body: 'gone', delayMs: 1500 }, { body: 'kept', delayMs: 1500 }] });
    const r = await api.del(msgPath(topic, gone.messageId));
    expect(r.status, r.text).toBe(204);
    expect(r.text).toBe('');
    expect(await getMessage(topic, gone.messageId)).toMatchObject({ state: 'RECALLED', queueOffset: null, body: 'gone' });
    const again = expectError(await api.del(msgPath(topic, gone.messageId)), 409, 'CONFLICT');
    expect(again).toMatch(/recalled/);

    const got = await receiveTimed(topic, group, 1);
    expect(got.map((m) => m.messageId)).toEqual([kept.messageId]);
    await api.ack(topic, group, got.map((m) => m.receiptHandle));
    expect(await api.receive(topic, group, { waitMs: 1500 })).toEqual([]);
    expect(await getMessage(topic, gone.messageId)).toMatchObject({ state: 'RECALLED' });
    expect((await api.topic(topic)).messages).toBe(1);

    // not a scheduled message: an ordinary one, an unknown id, a malformed id
    const [plain] = await api.produce(topic, { body: 'plain' });
    expectError(await api.del(msgPath(topic, plain.messageId)), 409, 'CONFLICT');
    const unknown = gone.messageId.slice(0, -4) + 'FFFF';
    expectError(await api.del(msgPath(topic, unknown)), 404, 'MESSAGE_NOT_FOUND');
    expectError(await api.del(msgPath(topic, 'nope')), 404, 'MESSAGE_NOT_FOUND');
  });

  it('DELAY topic: every message needs deliverAt or delayMs; nothing of a rejected batch is stored', async () => {
    const topic = uniq('sch-delay');
    const group = uniq('g');
    await api.createTopic(topic, { queues: 1, type: 'DELAY' });
    expectError(await api.post(`/v1/topics/${topic}/messages`, { body: 'no time' }), 400, 'MESSAGE_TYPE_MISMATCH');
    expectError(await api.post(`/v1/topics/${topic}/messages`, { messages: [{ body: 'ok', delayMs: 500 }, { body: 'no time' }] }), 400, 'MESSAGE_TYPE_MISMATCH');
    const raw = await api.post(`/v1/topics/${topic}/messages`, undefined, { raw: 'x', contentType: 'text/plain' });
    expectError(raw, 400, 'MESSAGE_TYPE_MISMATCH');
    expectError(await api.post(`/v1/topics/${topic}/transactions`, { messages: [{ body: 'tx' }] }), 400, 'MESSAGE_TYPE_MISMATCH');
    const [m] = await api.produce(topic, { body: 'timed', delayMs: 500 });
    expect(m.queueOffset).toBeNull();
    // a time already passed is still a delivery time: accepted, delivered at once
    const [past] = await api.produce(topic, { body: 'past', deliverAt: Date.now() - 1000 });
    expect(past.queueOffset).toBe(0);
    const got = await receiveTimed(topic, group, 2);
    expect(got.map((x) => x.body)).toEqual(['past', 'timed']);
    expect((await api.topic(topic)).messages).toBe(2);
  });

  it('accepts any time up to 365 days ahead and refuses more', async () => {
    const topic = uniq('sch-year');
    await api.createTopic(topic, { queues: 1 });
    const [far] = await api.produce(topic, { body: 'next year', deliverAt: Date.now() + YEAR - 60_000 });
    expect(far.queueOffset).toBeNull();
    const [farDelay] = await api.produce(topic, { body: 'next year too', delayMs: YEAR });
    expect(farDelay.queueOffset).toBeNull();
    expect(await getMessage(topic, far.messageId)).toMatchObject({ state: 'SCHEDULED' });
    expectError(await api.post(`/v1/topics/${topic}/messages`, { body: 'x', deliverAt: Date.now() + YEAR + DAY }), 400, 'BAD_REQUEST');
    expectError(await api.post(`/v1/topics/${topic}/messages`, { body: 'x', delayMs: YEAR + 1 }), 400, 'BAD_REQUEST');
    expectError(await api.post(`/v1/topics/${topic}/messages`, { body: 'x', delayMs: -1 }), 400, 'BAD_REQUEST');
    expectError(await api.post(`/v1/topics/${topic}/messages`, { body: 'x', delayMs: 1.5 }), 400, 'BAD_REQUEST');
    expectError(await api.post(`/v1/topics/${topic}/messages`, { body: 'x', deliverAt: Date.now() + 1000, delayMs: 1000 }), 400, 'BAD_REQUEST');
    expectError(await api.post(`/v1/topics/${topic}/messages`, undefined, { raw: 'x', contentType: 'text/plain', headers: { 'X-Delay-Ms': 'soon' } }), 400, 'BAD_REQUEST');
    expectError(await api.post(`/v1/topics/${topic}/messages`, { body: 'x', delayMs: 1000, messageGroup: 'g1' }), 400, 'MESSAGE_TYPE_MISMATCH');
    // nothing of those was stored
    expect((await api.topic(topic)).messages).toBe(0);
    for (const m of [far, farDelay]) expect((await api.del(msgPath(topic, m.messageId))).status).toBe(204);
  });

  it('pushes scheduled messages over a WebSocket at their time, in due order, none early', async () => {
    const topic = uniq('sch-ws');
    const group = uniq('g');
    await api.createTopic(topic, { queues: 1 });
    await api.putGroup(group);
    const ws = await PushClient.connect(ctx.server.url, topic, group, { consumerId: 'c1' });
    const times = new Map<string, number>();
    ws.ws.on('message', (d) => {
      const f = JSON.parse(d.toString());
      if (f.type === 'messages') for (const m of f.messages) times.set(m.messageId, Date.now());
    });
    ws.autoAck();
    try {
      const base = Date.now() + 1500;
      const due = [base + 600, base, base + 300];
      const produced = await api.produce(topic, { messages: due.map((d, i) => ({ body: `m${i}`, deliverAt: d })) });
      await ws.untilCount(3, 15_000);
      expect(ws.messages.map((m) => m.body)).toEqual(['m1', 'm2', 'm0']);
      produced.forEach((p, i) => {
        const at = times.get(p.messageId)!;
        expect(at, `m${i} came early`).toBeGreaterThanOrEqual(due[i]);
        expect(at - due[i]).toBeLessThan(LATE_OK_MS);
      });
      expect(ws.errors).toEqual([]);
    } finally {
      await ws.close();
    }
  });

  it('delivers 500 messages due over one second, each once, none early', async () => {
    const topic = uniq('sch-many');
    const group = uniq('g');
    await api.createTopic(topic, { queues: 1 });
    await api.putGroup(group);
    const n = 500;
    const base = Date.now() + 2000;
    const due = Array.from({ length: n }, (_, i) => base + Math.floor((i * 1000) / n));
    // sent in a shuffled order: delivery follows the due time, not the send order
    const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => ((a * 7919) % n) - ((b * 7919) % n));
    const produced = await api.produce(topic, { messages: order.map((i) => ({ body: i, deliverAt: due[i] })) });
    const idOf = new Map(produced.map((p, k) => [p.messageId, order[k]]));
    const got: (Json & { at: number })[] = [];
    const until = Date.now() + 20_000;
    while (got.length < n && Date.now() < until) {
      const batch = await receiveTimed(topic, group, 1, 3000);
      got.push(...batch);
      if (batch.length) await api.ack(topic, group, batch.map((m) => m.receiptHandle));
    }
    expect(got).toHaveLength(n);
    expect(new Set(got.map((m) => m.messageId)).size).toBe(n);
    const late = got.map((m) => m.at - due[idOf.get(m.messageId)!]);
    expect(late.filter((x) => x < 0), 'early deliveries (ms)').toEqual([]);
    // the log holds them in due order
    const offs = got.map((m) => [due[idOf.get(m.messageId)!], m.queueOffset]).sort((a, b) => a[1] - b[1]);
    for (let i = 1; i < offs.length; i++) expect(offs[i][0]).toBeGreaterThanOrEqual(offs[i - 1][0]);
    late.sort((a, b) => a - b);
    console.log(`500 scheduled over 1 s: lateness p50 ${late[n >> 1]} ms, p99 ${late[Math.ceil(n * 0.99) - 1]} ms, max ${late[n - 1]} ms`);
    expect(await api.receive(topic, group, { waitMs: 500 })).toEqual([]);
  });
});

describe('scheduled messages across a restart', () => {
  it.each([['SIGTERM'], ['SIGKILL']] as const)('delivers right after a %s restart what came due while the server was down', async (signal) => {
    const topic = uniq(`sch-restart-${signal.toLowerCase()}`);
    const group = uniq('g');
    await api.createTopic(topic, { queues: 2 });
    await api.putGroup(group);
    const t0 = Date.now();
    const produced = await api.produce(topic, { messages: [
      { body: 'due while down', delayMs: 2000 },
      { body: 'recalled', delayMs: 2000 },
      { body: 'next hour', delayMs: 3_600_000 },
      { body: 'due while down 2', deliverAt: t0 + 2500 },
    ] });
    const [down, recalled, hour, down2] = produced;
    expect((await api.del(msgPath(topic, recalled.messageId))).status).toBe(204);

    await ctx.server.stop(signal);
    const stoppedAt = Date.now();
    await sleep(Math.max(0, t0 + 3500 - Date.now()));
    await ctx.server.restart();
    const upAt = Date.now();
    expect(upAt - stoppedAt).toBeGreaterThan(0);

    // both came due while nothing ran: delivered right after the restart, without a consumer asking
    const stored = await eventually(() => getMessage(topic, down.messageId), (m) => m.state === 'STORED', 'the overdue message to be stored', 10_000, 50);
    const storedIn = Date.now() - upAt;
    expect(stored.queueOffset).toBe(0);
    expect(storedIn, 'ms from restart until stored').toBeLessThan(5000);
    console.log(`${signal}: the overdue message was stored ${storedIn} ms after the server was back (down ${upAt - stoppedAt} ms)`);
    const got = await receiveTimed(topic, group, 2, 10_000);
    expect(got.map((m) => m.messageId).sort()).toEqual([down.messageId, down2.messageId].sort());
    expect(await api.ack(topic, group, got.map((m) => m.receiptHandle))).toEqual(['OK', 'OK']);
    expect(await getMessage(topic, recalled.messageId)).toMatchObject({ state: 'RECALLED' });
    expect(await getMessage(topic, hour.messageId)).toMatchObject({ state: 'SCHEDULED', queueOffset: null });
    expect((await api.topic(topic)).messages).toBe(2);

    // the alarm still works after the restart: a new one comes at its time
    const at = Date.now() + 1500;
    const [fresh] = await api.produce(topic, { body: 'after restart', deliverAt: at });
    const next = await receiveTimed(topic, group, 1, 10_000);
    expect(next.map((m) => m.messageId)).toEqual([fresh.messageId]);
    expect(next[0].at).toBeGreaterThanOrEqual(at);
    expect(next[0].at - at).toBeLessThan(LATE_OK_MS);
    await api.ack(topic, group, next.map((m) => m.receiptHandle));
    expect(await api.receive(topic, group, { waitMs: 1000 })).toEqual([]);
    expect((await api.del(msgPath(topic, hour.messageId))).status).toBe(204);
  });
});
