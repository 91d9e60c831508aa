#!/usr/bin/env node
// @ts-check
/**
 * The order service: owns the orders (its own database: a JSON file) and publishes what happens
 * to them. Every change of an order is a local transaction inside RocketMQ's transactional send:
 * the event (OrderCreated, OrderPaid, OrderCancelled) is stored as a half message first, the
 * order database is written, then the message is committed; if the write fails it is rolled
 * back, and if the process dies in between, the broker asks POST /tx-check, which answers from
 * the database. So an event is published if and only if its change was stored.
 *
 * When an order is created, a scheduled OrderTimeout message is sent as well, due when the
 * payment window closes (UNPAID_TIMEOUT_MS, 30 minutes by default); this service consumes it
 * (group `order-service`) and cancels the order if it is still unpaid. Paying recalls it.
 *
 *   POST /orders            {"customer": {"name", "email"}, "items": [{"sku", "qty"}], "amount": cents,
 *                            "orderId"?: "...", "simulate"?: "db-failure" | "crash-before-commit"}
 *   POST /orders/{id}/pay   GET /orders/{id}   GET /orders   GET /health
 *   POST /tx-check          the broker's check-back (transactionCheckListener)
 *
 *   EDGEMQ_URL=http://127.0.0.1:8787 PORT=3000 UNPAID_TIMEOUT_MS=30000 node examples/order-workflow/order-service.mjs
 *
 * `simulate` is fault injection for the demo: `db-failure` makes the database write fail (the
 * transaction rolls back), `crash-before-commit` stores the order and then kills this process
 * (exit code 75) before it commits, leaving the decision to the check-back.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { Producer, PushConsumer, transactionCheckListener } from 'edgemq/client';
import { config, emit, GROUPS, JsonStore, money, onShutdown, span } from './lib.mjs';

const SERVICE = 'order-service';
/** the exit code of a simulated crash (run.mjs restarts the service, as a process supervisor would) */
const CRASH_EXIT_CODE = 75;
const HOST = process.env.HOST ?? '127.0.0.1';

/**
 * @typedef {import('./lib.mjs').Customer} Customer
 * @typedef {import('./lib.mjs').Item} Item
 * @typedef {import('./lib.mjs').OrderEvent} OrderEvent
 * @typedef {{ orderId: string, customer: Customer, items: Item[], amount: number, status: 'UNPAID' | 'PAID' | 'CANCELLED',
 *   createdAt: number, payBy: number, paidAt?: number, cancelledAt?: number, timeoutMessageId: string }} Order
 * @typedef {{ orders: Record<string, Order>, transactions: Record<string, { orderId: string, type: OrderEvent['type'] }> }} Db
 * @typedef {'db-failure' | 'crash-before-commit' | undefined} Simulate
 */

class HttpError extends Error {
  /** @param {number} status @param {string} code @param {string} message @param {Record<string, unknown>} [extra] */
  constructor(status, code, message, extra = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.extra = extra;
  }
}

const db = new JsonStore(join(config.dataDir, 'orders.json'), /** @type {Db} */ ({ orders: {}, transactions: {} }));
const producer = new Producer({ url: config.url, token: config.token });
/** transactions whose local transaction is running in this process: the check-back must not decide them yet */
const running = new Set();
let checkUrl = '';

/**
 * Publishes `event` if and only if `change` is stored: RocketMQ's transactional send, with the
 * order database write as the local transaction. The database also records the transaction id,
 * which is what the check-back looks up.
 * @param {OrderEvent} event @param {(data: Db) => void} change @param {Simulate} [simulate]
 */
async function transactional(event, change, simulate) {
  /** @type {import('edgemq/client').Transaction | undefined} */
  let prepared;
  const ids = () => ({ type: event.type, orderId: event.orderId, transactionId: prepared?.transactionId, messageIds: prepared?.messageIds });
  try {
    const outcome = await producer.sendTransactional(config.ordersTopic,
      [{ body: event, tag: event.type, keys: [event.orderId], properties: { customer: event.customer.name } }],
      async (tx) => {
        prepared = tx;
        running.add(tx.transactionId);
        emit(SERVICE, 'tx-prepared', ids(), `${event.type} ${event.orderId}: half message stored, invisible until committed (transaction ${tx.transactionId})`);
        try {
          db.update((data) => {
            change(data);
            if (simulate === 'db-failure') throw new HttpError(500, 'DB_WRITE_FAILED', `the order database refused to store ${event.orderId} (simulated failure)`);
            data.transactions[tx.transactionId] = { orderId: event.orderId, type: event.type };
          });
        } finally {
          running.delete(tx.transactionId);
        }
        if (simulate === 'crash-before-commit') {
          emit(SERVICE, 'crash', ids(), `${event.orderId} is in the database, and the process dies before it commits (simulated crash)`);
          process.exit(CRASH_EXIT_CODE);
        }
        return /** @type {const} */ ('COMMIT');
      },
      { checkUrl, checkAfterMs: config.txCheckAfterMs, checkIntervalMs: config.txCheckIntervalMs });
    emit(SERVICE, 'tx-committed', ids(), `${event.type} ${event.orderId}: committed, delivered to the consumer groups now`);
    return outcome;
  } catch (e) {
    if (prepared) {
      emit(SERVICE, 'tx-rolled-back', { ...ids(), reason: /** @type {Error} */ (e).message },
        `${event.type} ${event.orderId}: rolled back, no consumer will see it (${/** @type {Error} */ (e).message})`);
      if (e instanceof HttpError) e.extra.transaction = { transactionId: prepared.transactionId, messageIds: prepared.messageIds, state: 'ROLLED_BACK' };
    }
    throw e;
  }
}

/** The broker's check-back: COMMIT if the change is in the database, ROLLBACK if not, UNKNOWN while it is being written. */
const txCheck = transactionCheckListener(({ transactionId, checkTimes }) => {
  const known = db.data.transactions[transactionId];
  const answer = running.has(transactionId) ? 'UNKNOWN' : known ? 'COMMIT' : 'ROLLBACK';
  const why = known ? `${known.type} ${known.orderId} is in the database` : answer === 'UNKNOWN' ? 'its local transaction is still running' : 'no such change in the database';
  emit(SERVICE, 'tx-check', { transactionId, checkTimes, answer, orderId: known?.orderId, type: known?.type },
    `the broker asks about transaction ${transactionId} (check ${checkTimes}): ${answer}, ${why}`);
  return answer;
});

/** @param {any} v @returns {v is Customer} */
const isCustomer = (v) => typeof v?.name === 'string' && v.name.length > 0 && typeof v.email === 'string' && v.email.includes('@');
/** @param {any} v @returns {v is Item[]} */
const isItems = (v) => Array.isArray(v) && v.length > 0 && v.every((i) => typeof i?.sku === 'string' && Number.isInteger(i.qty) && i.qty > 0);

/** @param {any} input */
async function createOrder(input) {
  const { customer, items, amount, simulate } = input ?? {};
  const orderId = input?.orderId ?? `ord-${randomUUID().slice(0, 8)}`;
  if (typeof orderId !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(orderId)) throw new HttpError(400, 'BAD_REQUEST', 'orderId must match ^[A-Za-z0-9_-]{1,64}$');
  if (!isCustomer(customer)) throw new HttpError(400, 'BAD_REQUEST', 'customer must be {"name", "email"}');
  if (!isItems(items)) throw new HttpError(400, 'BAD_REQUEST', 'items must be a non-empty list of {"sku", "qty"}');
  if (!Number.isInteger(amount) || amount <= 0) throw new HttpError(400, 'BAD_REQUEST', 'amount must be a positive whole number of cents');
  if (simulate !== undefined && simulate !== 'db-failure' && simulate !== 'crash-before-commit') {
    throw new HttpError(400, 'BAD_REQUEST', 'simulate must be "db-failure" or "crash-before-commit"');
  }
  const existing = db.data.orders[orderId];
  if (existing) return { status: 200, body: { order: existing } }; // a repeated request: the same order

  const createdAt = Date.now();
  const payBy = createdAt + config.unpaidTimeoutMs;
  // 1. the cancel timer first: if the order never comes to exist, it finds nothing to cancel
  const timer = await producer.send(config.timeoutsTopic,
    { body: { orderId, payBy }, tag: 'OrderTimeout', keys: [orderId], delayMs: config.unpaidTimeoutMs });
  emit(SERVICE, 'timer-scheduled', { orderId, messageId: timer.messageId, delayMs: config.unpaidTimeoutMs, payBy },
    `${orderId}: OrderTimeout scheduled, due in ${span(config.unpaidTimeoutMs)}`);
  // 2. OrderCreated and the order row, together or not at all
  /** @type {import('./lib.mjs').OrderCreated} */
  const event = { type: 'OrderCreated', orderId, customer, items, amount, createdAt, payBy };
  try {
    const outcome = await transactional(event, (data) => {
      data.orders[orderId] = { orderId, customer, items, amount, status: 'UNPAID', createdAt, payBy, timeoutMessageId: timer.messageId };
    }, simulate);
    emit(SERVICE, 'order-created', { orderId, amount, customer: customer.name }, `${orderId} created for ${customer.name} (${money(amount)}), to be paid within ${span(config.unpaidTimeoutMs)}`);
    return { status: 201, body: { order: db.data.orders[orderId], transactionId: outcome.transactionId, messageIds: outcome.messageIds, timeoutMessageId: timer.messageId } };
  } catch (e) {
    // no order, so no timer (best effort: a timer of an unknown order is ignored anyway)
    await producer.recall(config.timeoutsTopic, timer.messageId).catch(() => undefined);
    throw e;
  }
}

/** @param {string} orderId */
async function payOrder(orderId) {
  const order = db.data.orders[orderId];
  if (!order) throw new HttpError(404, 'ORDER_NOT_FOUND', `there is no order ${orderId}`);
  if (order.status === 'PAID') return { status: 200, body: { order } };
  const notUnpaid = (/** @type {Order} */ o) => new HttpError(409, o.status === 'CANCELLED' ? 'ORDER_CANCELLED' : 'ORDER_PAID',
    o.status === 'CANCELLED' ? `order ${orderId} was cancelled: it was not paid within ${span(o.payBy - o.createdAt)}` : `order ${orderId} is already paid`);
  if (order.status !== 'UNPAID') throw notUnpaid(order);
  /** @type {import('./lib.mjs').OrderPaid} */
  const event = { type: 'OrderPaid', orderId, customer: order.customer, amount: order.amount, paidAt: Date.now() };
  const outcome = await transactional(event, (data) => {
    const o = data.orders[orderId];
    if (o.status !== 'UNPAID') throw notUnpaid(o); // the timeout won the race
    o.status = 'PAID';
    o.paidAt = event.paidAt;
  });
  emit(SERVICE, 'order-paid', { orderId }, `${orderId} paid by ${order.customer.name}`);
  // the cancel timer is not needed any more. Best effort: if it is already due, onTimeout finds the order paid
  try {
    await producer.recall(config.timeoutsTopic, order.timeoutMessageId);
    emit(SERVICE, 'timer-recalled', { orderId, messageId: order.timeoutMessageId }, `${orderId}: OrderTimeout recalled, it will never be delivered`);
  } catch (e) {
    emit(SERVICE, 'timer-not-recalled', { orderId, reason: /** @type {Error} */ (e).message }, `${orderId}: OrderTimeout not recalled (${/** @type {Error} */ (e).message})`);
  }
  return { status: 200, body: { order: db.data.orders[orderId], transactionId: outcome.transactionId, messageIds: outcome.messageIds } };
}

/** The payment window of an order closed: cancel it if it is still unpaid. @param {import('edgemq/client').ReceivedMessage} message */
async function onTimeout(message) {
  const orderId = String(message.body?.orderId);
  emit(SERVICE, 'timer-fired', { orderId, messageId: message.messageId }, `${orderId}: OrderTimeout delivered, the payment window is closed`);
  const order = db.data.orders[orderId];
  if (!order) { emit(SERVICE, 'timer-ignored', { orderId, reason: 'unknown' }, `${orderId}: no such order, nothing to cancel`); return; }
  if (order.status !== 'UNPAID') { emit(SERVICE, 'timer-ignored', { orderId, reason: order.status }, `${orderId} is ${order.status.toLowerCase()}: nothing to cancel`); return; }
  /** @type {import('./lib.mjs').OrderCancelled} */
  const event = { type: 'OrderCancelled', orderId, customer: order.customer, reason: `not paid within ${span(order.payBy - order.createdAt)}`, cancelledAt: Date.now() };
  try {
    await transactional(event, (data) => {
      const o = data.orders[orderId];
      if (o.status !== 'UNPAID') throw new HttpError(409, 'ORDER_PAID', `${orderId} was ${o.status.toLowerCase()} meanwhile`);
      o.status = 'CANCELLED';
      o.cancelledAt = event.cancelledAt;
    });
  } catch (e) {
    // paid at the last moment: fine. Anything else: thrown, so the timer is delivered again later
    if (e instanceof HttpError && e.status === 409) { emit(SERVICE, 'timer-ignored', { orderId, reason: e.message }, `${orderId}: ${e.message}, nothing to cancel`); return; }
    throw e;
  }
  emit(SERVICE, 'order-cancelled', { orderId }, `${orderId} cancelled: ${event.reason}`);
}

// ---- HTTP ---------------------------------------------------------------------------------

/** @param {import('node:http').IncomingMessage} req */
async function readJson(req) {
  let text = '';
  for await (const chunk of req) {
    text += chunk;
    if (text.length > 65_536) throw new HttpError(413, 'TOO_LARGE', 'the request body is over 64 KiB');
  }
  try { return text ? JSON.parse(text) : {}; } catch { throw new HttpError(400, 'BAD_REQUEST', 'the body is not JSON'); }
}

const server = createServer(async (req, res) => {
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  /** @param {number} status @param {unknown} body */
  const send = (status, body) => {
    res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
  };
  try {
    let m;
    if (path === '/tx-check') { txCheck(req, res); return; }
    if (req.method === 'GET' && path === '/health') { send(200, { status: 'ok' }); return; }
    if (req.method === 'GET' && path === '/orders') { send(200, { orders: Object.values(db.data.orders) }); return; }
    if (req.method === 'POST' && path === '/orders') { const r = await createOrder(await readJson(req)); send(r.status, r.body); return; }
    if (req.method === 'POST' && (m = /^\/orders\/([^/]+)\/pay$/.exec(path))) { const r = await payOrder(decodeURIComponent(m[1])); send(r.status, r.body); return; }
    if (req.method === 'GET' && (m = /^\/orders\/([^/]+)$/.exec(path))) {
      const order = db.data.orders[decodeURIComponent(m[1])];
      if (order) send(200, { order }); else send(404, { error: { code: 'ORDER_NOT_FOUND', message: `there is no order ${m[1]}` } });
      return;
    }
    send(404, { error: { code: 'NOT_FOUND', message: `no route for ${req.method} ${path}` } });
  } catch (e) {
    if (e instanceof HttpError) { send(e.status, { error: { code: e.code, message: e.message }, ...e.extra }); return; }
    const err = /** @type {Error & { code?: string }} */ (e);
    emit(SERVICE, 'warning', { message: err.message }, `${req.method} ${path} failed: ${err.message}`);
    send(502, { error: { code: err.code ?? 'INTERNAL', message: err.message } });
  }
});

await new Promise((resolve, reject) => { server.once('error', reject); server.listen(config.port, HOST, () => resolve(undefined)); });
const address = server.address();
const port = typeof address === 'object' && address ? address.port : config.port;
const base = config.publicUrl ?? `http://${HOST}:${port}`;
checkUrl = `${base}/tx-check`;

const timeouts = new PushConsumer({
  url: config.url, token: config.token, topic: config.timeoutsTopic, group: GROUPS.orderService, filter: 'OrderTimeout',
  consumerId: `${SERVICE}-${process.pid}`, concurrency: 4, handler: onTimeout,
});
timeouts.on('error', (e) => emit(SERVICE, 'warning', { message: e.message }, `timeout consumer: ${e.message}`));
await timeouts.start();
emit(SERVICE, 'ready', { port, url: base, checkUrl, unpaidTimeoutMs: config.unpaidTimeoutMs },
  `listening on ${base} (check-back at /tx-check); unpaid orders are cancelled after ${span(config.unpaidTimeoutMs)}`);

onShutdown(async () => {
  await timeouts.shutdown({ timeoutMs: 10_000 });
  await new Promise((resolve) => server.close(() => resolve(undefined)));
});
