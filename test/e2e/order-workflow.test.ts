/**
 * The worked example (examples/order-workflow) against a real `wrangler dev`: `run.mjs` is run
 * the way a person runs it (one command, its own child processes for the order, inventory,
 * logistics and notification services), with an 8 s payment window and a 1 s check-back delay.
 * (The window must outlast placing all five orders, dave's crash and the order service's restart,
 * and the two payments: 3 s was once too short for a slow CI machine, where erin's order was
 * cancelled before she paid.)
 * Its --report (every event of every service) and the broker's own records (message status per
 * group, traces) must agree that:
 * - every order's OrderCreated reached inventory, logistics and notification exactly once each;
 * - an order whose database write failed was rolled back and reached no consumer;
 * - an order whose order service crashed before the commit was committed by the check-back;
 * - unpaid orders were cancelled after the timeout, paid ones were not (their timers recalled).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enc, uniq, type Json } from './client';
import { useServer } from './server';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const RUN = join(ROOT, 'examples', 'order-workflow', 'run.mjs');
const UNPAID_TIMEOUT_MS = 8000;
const CONSUMERS = ['inventory', 'logistics', 'notification'] as const;
const ORDERS = uniq('shop-orders');
const TIMEOUTS = uniq('shop-timeouts');

interface Report {
  ok: boolean;
  orders: Json[];
  events: Json[];
  checks: { name: string; ok: boolean; detail: string }[];
}

const ctx = useServer();
const dir = mkdtempSync(join(tmpdir(), 'edgemq-orders-test-'));
let code: number | null = null;
let output = '';
let report: Report;
let byName: Record<string, Json>;

beforeAll(async () => {
  const child = spawn(process.execPath, [RUN, '--report', join(dir, 'report.json')], {
    cwd: ROOT,
    env: {
      ...process.env, EDGEMQ_URL: ctx.server.url, ORDERS_TOPIC: ORDERS, TIMEOUTS_TOPIC: TIMEOUTS,
      UNPAID_TIMEOUT_MS: String(UNPAID_TIMEOUT_MS), TX_CHECK_AFTER_MS: '1000', TX_CHECK_INTERVAL_MS: '1000',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (b: Buffer) => { output += b.toString(); });
  child.stderr.on('data', (b: Buffer) => { output += b.toString(); });
  const killer = setTimeout(() => child.kill('SIGINT'), 50_000);
  code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(killer);
  report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8'));
  byName = Object.fromEntries(report.orders.map((o) => [o.customer.name, o]));
}, 90_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The services' events about one order. */
const about = (orderId: string, where: (e: Json) => boolean = () => true) => report.events.filter((e) => e.orderId === orderId && where(e));
const deliveries = (service: string, type: string, orderId: string) =>
  about(orderId, (e) => e.service === service && e.event === 'delivered' && e.type === type).length;

describe('examples/order-workflow', () => {
  it('runs with one command, prints a timeline and exits 0', () => {
    expect(code, output).toBe(0);
    expect(report.ok).toBe(true);
    expect(report.checks.filter((c) => !c.ok), output).toEqual([]);
    expect(output).toMatch(/\+\d+\.\d\ds\s+order-service\s+listening on http:\/\/127\.0\.0\.1:\d+/);
    expect(output).toMatch(/inventory\s+reserved 2× espresso-beans/);
    expect(output).toContain(`All ${report.checks.length} checks passed`);
    expect(Object.keys(byName)).toEqual(['alice', 'bob', 'carol', 'dave', 'erin']);
  });

  it("every order's OrderCreated reached inventory, logistics and notification exactly once per group", async () => {
    const committed = ['alice', 'bob', 'dave', 'erin'].map((n) => byName[n]);
    for (const o of committed) {
      for (const s of CONSUMERS) expect(deliveries(s, 'OrderCreated', o.orderId), `${s} ${o.orderId}`).toBe(1);
      // the broker's side: consumed in each group, after one delivery to it
      const id = o.messageIds[0];
      const m = (await ctx.api.get(`/v1/topics/${enc(ORDERS)}/messages/${id}`)).body;
      expect(m).toMatchObject({ tag: 'OrderCreated', keys: [o.orderId], state: 'STORED' });
      expect(m.body).toMatchObject({ type: 'OrderCreated', orderId: o.orderId, amount: o.amount });
      for (const g of CONSUMERS) expect(m.groups.find((x: Json) => x.group === g)?.status, `${g} ${o.orderId}`).toBe('CONSUMED');
      const trace = (await ctx.api.get(`/v1/topics/${enc(ORDERS)}/messages/${id}/trace`)).body.events as Json[];
      for (const g of CONSUMERS) {
        expect(trace.filter((e) => e.type === 'DELIVERED' && e.group === g).map((e) => e.deliveryAttempt), `${g} ${o.orderId}`).toEqual([1]);
      }
    }
    // nothing else on the topic: 4 OrderCreated, 2 OrderPaid, 2 OrderCancelled (none of carol's)
    const topic = (await ctx.api.get(`/v1/topics/${enc(ORDERS)}`)).body;
    expect(topic.type).toBe('TRANSACTION');
    expect(topic.queueStatus.reduce((n: number, q: Json) => n + q.maxOffset, 0)).toBe(8);
  });

  it('a rolled-back local transaction (the order database write fails) never reaches consumers', async () => {
    const carol = byName.carol;
    expect(carol.status).toBe(500);
    expect(carol.response.error.code).toBe('DB_WRITE_FAILED');
    expect(carol.response.transaction).toMatchObject({ state: 'ROLLED_BACK' });
    expect(about(carol.orderId, (e) => (CONSUMERS as readonly string[]).includes(e.service))).toEqual([]);
    expect(about(carol.orderId, (e) => e.event === 'tx-rolled-back')).toHaveLength(1);
    const id = carol.messageIds[0];
    const got = await ctx.api.get(`/v1/topics/${enc(ORDERS)}/messages/${id}`);
    expect(got.status).toBe(404);
    expect(got.body.error.code).toBe('MESSAGE_NOT_FOUND');
    const trace = (await ctx.api.get(`/v1/topics/${enc(ORDERS)}/messages/${id}/trace`)).body.events as Json[];
    expect(trace.map((e) => e.type)).toEqual(['PUBLISHED', 'ROLLED_BACK']);
    // its cancel timer (sent first) was recalled when the order failed
    const timerId = about(carol.orderId, (e) => e.event === 'timer-scheduled')[0].messageId;
    expect((await ctx.api.get(`/v1/topics/${enc(TIMEOUTS)}/messages/${timerId}`)).body.state).toBe('RECALLED');
  });

  it('an order whose producer crashed before commit is committed by the check-back', async () => {
    const dave = byName.dave;
    expect(dave.status).toBeUndefined(); // the order request got no answer: the service died
    expect(dave.error).toBeTruthy();
    const crash = about(dave.orderId, (e) => e.event === 'crash');
    expect(crash).toHaveLength(1);
    expect(report.events.filter((e) => e.service === 'order-service' && e.event === 'exited')).toMatchObject([{ simulated: true, code: 75 }]);
    const txId = crash[0].transactionId;
    // the restarted service answered the broker from its database
    const checks = report.events.filter((e) => e.event === 'tx-check' && e.transactionId === txId);
    expect(checks.map((e) => e.answer)).toEqual(['COMMIT']);
    const trace = (await ctx.api.get(`/v1/topics/${enc(ORDERS)}/messages/${crash[0].messageIds[0]}/trace`)).body.events as Json[];
    const types = trace.map((e) => e.type);
    expect(types.slice(0, 3)).toEqual(['PUBLISHED', 'CHECKED', 'COMMITTED']);
    expect(trace[1]).toMatchObject({ checkTimes: 1, answer: 'COMMIT' });
    expect(trace[1].at - trace[0].at).toBeGreaterThanOrEqual(1000); // checkAfterMs
    for (const s of CONSUMERS) expect(deliveries(s, 'OrderCreated', dave.orderId), s).toBe(1);
    // no other transaction needed asking: every other one was decided by its producer
    expect(report.events.filter((e) => e.event === 'tx-check' && e.transactionId !== txId)).toEqual([]);
  });

  it("unpaid orders are cancelled after the timeout and paid ones are not", async () => {
    for (const name of ['bob', 'dave']) {
      const o = byName[name];
      const created = about(o.orderId, (e) => e.event === 'timer-scheduled')[0];
      const cancelled = about(o.orderId, (e) => e.event === 'order-cancelled');
      expect(cancelled, name).toHaveLength(1);
      // never before the pay-by time (taken before the timer was sent: the event itself is logged
      // after the send's answer, which a loaded machine can take a few hundred ms to give)
      expect(created.payBy - created.at, name).toBeLessThanOrEqual(UNPAID_TIMEOUT_MS);
      expect(cancelled[0].at, name).toBeGreaterThanOrEqual(created.payBy);
      expect(deliveries('inventory', 'OrderCancelled', o.orderId), name).toBe(1);
      expect(deliveries('logistics', 'OrderCancelled', o.orderId), name).toBe(1);
      expect(deliveries('notification', 'OrderCancelled', o.orderId), name).toBe(1);
      expect(about(o.orderId, (e) => e.type === 'OrderPaid'), name).toEqual([]);
      expect(about(o.orderId, (e) => e.service === 'inventory' && e.event === 'handled' && e.type === 'OrderCancelled')[0].text).toMatch(/^released/);
    }
    // bob tried to pay afterwards: refused
    expect(report.events.find((e) => e.service === 'shop' && e.event === 'pay' && e.orderId === byName.bob.orderId)).toMatchObject({ status: 409 });

    for (const name of ['alice', 'erin']) {
      const o = byName[name];
      expect(about(o.orderId, (e) => e.event === 'order-paid'), name).toHaveLength(1);
      expect(about(o.orderId, (e) => e.event === 'order-cancelled' || e.type === 'OrderCancelled'), name).toEqual([]);
      expect(deliveries('logistics', 'OrderPaid', o.orderId), name).toBe(1);
      expect(deliveries('notification', 'OrderPaid', o.orderId), name).toBe(1);
      expect(deliveries('inventory', 'OrderPaid', o.orderId), name).toBe(0); // not in its tag filter
      // the timer was recalled when the order was paid: never delivered
      expect(about(o.orderId, (e) => e.event === 'timer-fired'), name).toEqual([]);
      const timer = (await ctx.api.get(`/v1/topics/${enc(TIMEOUTS)}/messages/${o.timeoutMessageId}`)).body;
      expect(timer, name).toMatchObject({ state: 'RECALLED', tag: 'OrderTimeout', body: { orderId: o.orderId } });
    }
  });
});
