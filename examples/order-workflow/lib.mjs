// @ts-check
/**
 * What the services of the order workflow share: their configuration (environment variables), a
 * tiny JSON-file store per service (each service owns its own data, as microservices do), the
 * consumer loop of the three downstream services, and one way to say what happened: a line per
 * event, readable text when run by hand, JSON lines when run.mjs collects them (EVENTS=json).
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PushConsumer } from 'edgemq/client';

/** @param {string} name @param {number} fallback */
function envInt(name, fallback) {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a whole number (milliseconds or a port), not ${JSON.stringify(v)}`);
  return n;
}

export const config = {
  /** the edgemq server (`npm start` serves http://127.0.0.1:8787) */
  url: (process.env.EDGEMQ_URL ?? 'http://127.0.0.1:8787').replace(/\/+$/, ''),
  /** not needed against `npm start` (anonymous); a token with PUB/SUB (and ADMIN for run.mjs) otherwise */
  token: process.env.EDGEMQ_TOKEN || undefined,
  /** OrderCreated, OrderPaid, OrderCancelled: transactional messages, tagged with their type */
  ordersTopic: process.env.ORDERS_TOPIC ?? 'shop-orders',
  /** OrderTimeout: one scheduled message per order, due when its payment window closes */
  timeoutsTopic: process.env.TIMEOUTS_TOPIC ?? 'shop-order-timeouts',
  /** where each service keeps its JSON file */
  dataDir: process.env.DATA_DIR ?? join(tmpdir(), 'edgemq-order-workflow'),
  /** how long an order may stay unpaid before it is cancelled (30 minutes; run.mjs uses 5 s) */
  unpaidTimeoutMs: envInt('UNPAID_TIMEOUT_MS', 30 * 60_000),
  /** the broker asks the order service about an undecided transaction after this long ... */
  txCheckAfterMs: envInt('TX_CHECK_AFTER_MS', 6000),
  /** ... and again this often (the API's minimum is 1000) */
  txCheckIntervalMs: Math.max(1000, envInt('TX_CHECK_INTERVAL_MS', 5000)),
  /** the order service's port */
  port: envInt('PORT', 3000),
  /** the order service as the broker reaches it (its check-back is `${this}/tx-check`); default http://127.0.0.1:PORT */
  publicUrl: process.env.ORDER_SERVICE_URL?.replace(/\/+$/, ''),
};

/** The consumer groups: one per service, so each gets every message it subscribes to. */
export const GROUPS = /** @type {const} */ ({ inventory: 'inventory', logistics: 'logistics', notification: 'notification', orderService: 'order-service' });

/** The message types, which are also the messages' tags (what the groups filter on). */
export const TYPES = /** @type {const} */ (['OrderCreated', 'OrderPaid', 'OrderCancelled']);

const asJson = process.env.EVENTS === 'json';

/**
 * Reports one event: `text` for people, `fields` for programs (run.mjs and its test).
 * @param {string} service @param {string} event @param {Record<string, unknown>} fields @param {string} text
 */
export function emit(service, event, fields, text) {
  const at = Date.now();
  if (asJson) process.stdout.write(`${JSON.stringify({ at, service, event, ...fields, text })}\n`);
  else process.stdout.write(`${new Date(at).toISOString().slice(11, 23)} [${service}] ${text}\n`);
}

/**
 * A service's database: one JSON file, read at start and rewritten whole (a temporary file, then a
 * rename) by each update, so an update is all or nothing, even if the process dies half way.
 * @template T
 */
export class JsonStore {
  /** @param {string} file @param {T} initial */
  constructor(file, initial) {
    this.file = file;
    mkdirSync(dirname(file), { recursive: true });
    /** @type {T} */
    this.data = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : structuredClone(initial);
  }

  /**
   * Runs `change` on a copy of the data and writes it; if `change` throws, nothing is written.
   * @template R @param {(data: T) => R} change @returns {R}
   */
  update(change) {
    const next = structuredClone(this.data);
    const result = change(next);
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(next, null, 1));
    renameSync(tmp, this.file);
    this.data = next;
    return result;
  }
}

/** Euros, for the texts. @param {number} cents */
export const money = (cents) => `€${(cents / 100).toFixed(2)}`;

/** 5 s, 2 min, 30 min. @param {number} ms */
export const span = (ms) => (ms < 60_000 ? `${+(ms / 1000).toFixed(1)} s` : `${+(ms / 60_000).toFixed(1)} min`);

/**
 * @typedef {{ name: string, email: string }} Customer
 * @typedef {{ sku: string, qty: number }} Item
 * @typedef {{ type: 'OrderCreated', orderId: string, customer: Customer, items: Item[], amount: number, createdAt: number, payBy: number }} OrderCreated
 * @typedef {{ type: 'OrderPaid', orderId: string, customer: Customer, amount: number, paidAt: number }} OrderPaid
 * @typedef {{ type: 'OrderCancelled', orderId: string, customer: Customer, reason: string, cancelledAt: number }} OrderCancelled
 * @typedef {OrderCreated | OrderPaid | OrderCancelled} OrderEvent
 */

/**
 * One downstream service: a PushConsumer in its own group on the orders topic, with a tag filter.
 * `effects[type]` applies an event to the service's data and answers what it did (a sentence), or
 * null when the event changes nothing (already applied: delivery is at-least-once, so every
 * effect is idempotent, keyed by order and event type).
 * @template T
 * @param {{ service: string, group: string, filter: string, initial: T,
 *   effects: Partial<Record<OrderEvent['type'], (data: T, event: any) => string | null>> }} spec
 */
export async function runConsumerService(spec) {
  const { service, group, filter } = spec;
  const store = new JsonStore(join(config.dataDir, `${service}.json`), { ...spec.initial, applied: /** @type {Record<string, number>} */ ({}) });
  const consumer = new PushConsumer({
    url: config.url, token: config.token, topic: config.ordersTopic, group, filter,
    consumerId: `${service}-${process.pid}`, concurrency: 4,
    handler: async (message) => {
      const event = /** @type {OrderEvent} */ (message.body);
      const type = /** @type {OrderEvent['type']} */ (message.tag);
      const fields = { type, orderId: event?.orderId, messageId: message.messageId, deliveryAttempt: message.deliveryAttempt };
      emit(service, 'delivered', fields, `got ${type} ${event?.orderId}${(message.deliveryAttempt ?? 1) > 1 ? ` (delivery ${message.deliveryAttempt})` : ''}`);
      const effect = spec.effects[type];
      if (!effect || typeof event?.orderId !== 'string') { emit(service, 'skipped', fields, `nothing to do for ${type}`); return; }
      const key = `${event.orderId}:${type}`;
      // the effect and the note that it was applied are one write: a redelivery finds the note
      const text = store.update((data) => {
        if (data.applied[key]) return null;
        data.applied[key] = Date.now();
        return effect(data, event);
      });
      if (text === null) emit(service, 'duplicate', fields, `${type} ${event.orderId} was already applied: ignored`);
      else emit(service, 'handled', fields, text);
    },
  });
  consumer.on('error', (e) => emit(service, 'warning', { message: e.message }, `consumer: ${e.message}`));
  await consumer.start();
  emit(service, 'ready', { group, filter, topic: config.ordersTopic }, `consuming ${config.ordersTopic} in group ${group}, filter "${filter}"`);
  onShutdown(() => consumer.shutdown({ timeoutMs: 10_000 }));
  return { consumer, store };
}

/**
 * SIGTERM / SIGINT: finish what runs (a PushConsumer acks its running handlers), then exit.
 * @param {() => Promise<unknown>} stop
 */
export function onShutdown(stop) {
  let stopping = false;
  const go = () => {
    if (stopping) return;
    stopping = true;
    stop().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
  };
  process.once('SIGTERM', go);
  process.once('SIGINT', go);
}

