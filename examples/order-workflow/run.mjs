#!/usr/bin/env node
// @ts-check
/**
 * The order workflow in one command, against a running edgemq (`npm start` in another terminal):
 *
 *   npm run example:orders                     # or: node examples/order-workflow/run.mjs
 *
 * It creates the topics and groups it needs, starts the four services as child processes (as
 * they would run in production: separate programs sharing nothing but the broker), places five
 * orders, pays some, waits for the others to be cancelled, prints the timeline as it happens,
 * checks the outcome against the broker (message status per group, traces), and exits 0 if
 * everything happened as it should (1 if not, 2 if there is no server).
 *
 * Environment: EDGEMQ_URL (default http://127.0.0.1:8787), EDGEMQ_TOKEN, UNPAID_TIMEOUT_MS
 * (default 5000 here, 30 min in the service itself), TX_CHECK_AFTER_MS (default 2000),
 * ORDERS_TOPIC, TIMEOUTS_TOPIC. Options: --verbose (every event), --report FILE (the events and
 * checks as JSON, for tests), --keep-data (leave the services' JSON files in the temp directory).
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..');
const CRASH_EXIT_CODE = 75; // order-service.mjs's simulated crash

const args = process.argv.slice(2);
const flag = (/** @type {string} */ name) => args.includes(name);
const option = (/** @type {string} */ name) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };
if (flag('--help') || flag('-h')) {
  console.log('usage: node examples/order-workflow/run.mjs [--verbose] [--report FILE] [--keep-data]\n'
    + 'env: EDGEMQ_URL (http://127.0.0.1:8787), EDGEMQ_TOKEN, UNPAID_TIMEOUT_MS (5000), TX_CHECK_AFTER_MS (2000)');
  process.exit(0);
}
const verbose = flag('--verbose');
const reportFile = option('--report');

// the demo's defaults, before lib.mjs reads them (and for the children, which inherit them)
process.env.UNPAID_TIMEOUT_MS ||= '5000';
process.env.TX_CHECK_AFTER_MS ||= '2000';
process.env.TX_CHECK_INTERVAL_MS ||= '1000';
const dataDir = mkdtempSync(join(tmpdir(), 'edgemq-orders-'));
process.env.DATA_DIR = dataDir;

/** `edgemq/client` is dist/client.mjs: build it if it is missing or older than its sources. */
function ensureSdk() {
  const dist = join(ROOT, 'dist', 'client.mjs');
  const sources = ['src/client', 'src/model'].map((d) => join(ROOT, d)).filter((d) => existsSync(d));
  /** @param {string} dir @returns {number} */
  const newest = (dir) => Math.max(0, ...readdirSync(dir, { withFileTypes: true })
    .map((e) => (e.isDirectory() ? newest(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs)));
  if (!sources.length || (existsSync(dist) && sources.every((d) => newest(d) <= statSync(dist).mtimeMs))) return;
  console.log('building the SDK (dist/client.mjs) first ...');
  execFileSync(process.execPath, [join(ROOT, 'bin', 'edgemq.mjs'), '--build'], { stdio: 'inherit' });
}
ensureSdk();
const { Admin, EdgeMQError } = await import('edgemq/client');
const { config, GROUPS, money, span } = await import('./lib.mjs');

const t0 = Date.now();
const runId = t0.toString(36).slice(-5);
/** @type {any[]} every event of the services and of this script, in arrival order */
const events = [];
/** @type {{ name: string, ok: boolean, detail: string }[]} */
const checks = [];
let hiddenOldEvents = 0;

const pad = (/** @type {string} */ s, /** @type {number} */ n) => (s.length >= n ? s : s + ' '.repeat(n - s.length));
/** One line of the timeline. @param {number} at @param {string} who @param {string} text */
function print(at, who, text) {
  console.log(`${pad(`+${((at - t0) / 1000).toFixed(2)}s`, 8)} ${pad(who, 14)} ${text}`);
}
/** What this script (the shop's front end and the operator) does. @param {string} event @param {Record<string, unknown>} fields @param {string} text */
function say(event, fields, text) {
  const e = { at: Date.now(), service: 'shop', event, ...fields, text };
  events.push(e);
  print(e.at, 'shop', text);
  return e;
}

/** Events printed without --verbose: what a reader needs to follow each order. */
const SHOWN = new Set(['ready', 'handled', 'duplicate', 'warning', 'order-created', 'order-paid', 'order-cancelled', 'tx-rolled-back',
  'crash', 'tx-check', 'timer-fired', 'timer-recalled', 'timer-not-recalled', 'timer-ignored', 'exited']);
const mine = (/** @type {unknown} */ orderId) => typeof orderId !== 'string' || orderId.startsWith(`ord-${runId}-`);

/** A service as a child process: its JSON-line events go to the timeline; restarted if it dies. */
class Service {
  /** @param {string} name @param {string} file @param {Record<string, string>} [env] */
  constructor(name, file, env = {}) {
    this.name = name;
    this.file = file;
    this.env = env;
    this.starts = 0;
    this.stopping = false;
    /** @type {import('node:child_process').ChildProcess | null} */
    this.proc = null;
    /** @type {Promise<void>} */
    this.ready = Promise.resolve();
    /** @type {Promise<unknown>} */
    this.exited = Promise.resolve();
  }

  start() {
    this.starts++;
    const proc = spawn(process.execPath, [join(HERE, this.file)], {
      env: { ...process.env, ...this.env, EVENTS: 'json' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc = proc;
    /** @type {(v?: unknown) => void} */
    let markReady = () => undefined;
    this.ready = new Promise((resolve, reject) => {
      markReady = resolve;
      proc.once('exit', (code, signal) => reject(new Error(`${this.name} exited (${code ?? signal}) before it was ready`)));
      setTimeout(() => reject(new Error(`${this.name} was not ready within 30 s`)), 30_000).unref();
    }).then(() => undefined);
    this.ready.catch(() => undefined); // awaited by whoever needs it
    createInterface({ input: /** @type {import('node:stream').Readable} */ (proc.stdout) }).on('line', (line) => {
      let e;
      try { e = JSON.parse(line); } catch { print(Date.now(), this.name, line); return; }
      events.push(e);
      if (e.event === 'ready') markReady();
      if (!mine(e.orderId)) { hiddenOldEvents++; return; }
      if (verbose || SHOWN.has(e.event) || (e.event === 'delivered' && e.deliveryAttempt > 1)) print(e.at, this.name, e.text);
    });
    createInterface({ input: /** @type {import('node:stream').Readable} */ (proc.stderr) }).on('line', (line) => print(Date.now(), this.name, `(stderr) ${line}`));
    this.exited = new Promise((resolve) => proc.once('exit', (code, signal) => {
      this.proc = null;
      if (!this.stopping) this.died(code, signal);
      resolve(undefined);
    }));
    return this.ready;
  }

  /** @param {number | null} code @param {string | null} signal */
  died(code, signal) {
    const crash = code === CRASH_EXIT_CODE;
    const e = { at: Date.now(), service: this.name, event: 'exited', code, signal, simulated: crash,
      text: crash ? 'the process died (simulated crash); the supervisor starts it again' : `the process exited unexpectedly (${code ?? signal})` };
    events.push(e);
    print(e.at, this.name, e.text);
    if (this.starts < 4) void this.start().catch((err) => print(Date.now(), this.name, err.message));
  }

  async stop() {
    this.stopping = true;
    const p = this.proc;
    if (!p) return;
    p.kill('SIGTERM');
    const t = setTimeout(() => p.kill('SIGKILL'), 15_000);
    await this.exited;
    clearTimeout(t);
  }
}

/** A port nobody listens on. */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));
/** @template T @param {string} what @param {() => T} f @param {number} ms @returns {Promise<T>} */
async function until(what, f, ms) {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`gave up after ${span(ms)} waiting for ${what}`);
    await sleep(100);
  }
}

// ---- the run ------------------------------------------------------------------------------

const admin = new Admin({ url: config.url, token: config.token, retry: { retries: 1 } });
const services = [
  new Service('inventory', 'inventory.mjs'),
  new Service('logistics', 'logistics.mjs'),
  new Service('notification', 'notification.mjs'),
  new Service('order-service', 'order-service.mjs', { PORT: String(await freePort()) }),
];
const orderService = services[3];
let exitCode = 1;

async function shutdown() {
  await Promise.all(services.map((s) => s.stop()));
  if (!flag('--keep-data')) rmSync(dataDir, { recursive: true, force: true });
}
process.once('SIGINT', () => { void shutdown().then(() => process.exit(130)); });

console.log(`edgemq order workflow, run ${runId}, against ${config.url}`);
console.log(`orders are cancelled when unpaid after ${span(config.unpaidTimeoutMs)}; the broker checks an undecided transaction after ${span(config.txCheckAfterMs)}\n`);

try {
  await admin.health();
} catch (e) {
  console.error(`There is no edgemq server at ${config.url} (${/** @type {Error} */ (e).message}).\n`
    + 'Start one in another terminal with `npm start`, or point EDGEMQ_URL (and EDGEMQ_TOKEN) at yours.');
  rmSync(dataDir, { recursive: true, force: true });
  process.exit(2);
}

/** @param {string} name @param {'TRANSACTION' | 'DELAY'} type @param {number} queues */
async function ensureTopic(name, type, queues) {
  try {
    await admin.createTopic({ name, type, queues });
    say('setup', { topic: name }, `created topic ${name} (${type}, ${queues} queues)`);
  } catch (e) {
    if (!(e instanceof EdgeMQError && e.code === 'TOPIC_EXISTS')) throw e;
    const t = await admin.getTopic(name);
    if (t.type !== type && t.type !== 'MIXED') {
      throw new Error(`topic ${name} exists with type ${t.type}, and this example needs ${type} (or MIXED): delete it, or set ORDERS_TOPIC / TIMEOUTS_TOPIC`);
    }
    say('setup', { topic: name }, `topic ${name} is there (${t.type})`);
  }
}

/** @typedef {{ name: string, email: string }} Customer */
/** @typedef {{ customer: Customer, items: { sku: string, qty: number }[], amount: number, plan: string, pay?: boolean, simulate?: string,
 *   orderId: string, status?: number, response?: any, error?: string, transactionId?: string, messageIds?: string[], timeoutMessageId?: string }} PlannedOrder */

const customer = (/** @type {string} */ name) => ({ name, email: `${name}@example.com` });
/** @type {PlannedOrder[]} */
const orders = [
  { customer: customer('alice'), items: [{ sku: 'espresso-beans', qty: 2 }, { sku: 'mug', qty: 1 }], amount: 3450, plan: 'pays', pay: true },
  { customer: customer('bob'), items: [{ sku: 'grinder', qty: 1 }], amount: 8900, plan: 'never pays: cancelled by the timer' },
  { customer: customer('carol'), items: [{ sku: 'filter-papers', qty: 3 }], amount: 1200, plan: 'the order database fails: rolled back', simulate: 'db-failure' },
  { customer: customer('dave'), items: [{ sku: 'espresso-beans', qty: 1 }], amount: 1490, plan: 'the order service crashes before it commits: the check-back commits; never pays',
    simulate: 'crash-before-commit' },
  { customer: customer('erin'), items: [{ sku: 'mug', qty: 4 }], amount: 3600, plan: 'pays', pay: true },
].map((o, i) => ({ ...o, orderId: `ord-${runId}-${i + 1}` }));
const [alice, bob, carol, dave, erin] = orders;
const committed = [alice, bob, dave, erin];
const paid = [alice, erin];
const cancelled = [bob, dave];
const CONSUMERS = ['inventory', 'logistics', 'notification'];
/** what each consumer subscribes to (its tag filter) */
const WANTS = { inventory: ['OrderCreated', 'OrderCancelled'], logistics: ['OrderCreated', 'OrderPaid', 'OrderCancelled'], notification: ['OrderCreated', 'OrderPaid', 'OrderCancelled'] };

/** @param {string} service @param {string} event @param {string} type @param {string} orderId */
const count = (service, event, type, orderId) => events.filter((e) => e.service === service && e.event === event && e.type === type && e.orderId === orderId).length;
/** Every consumer that subscribes to `type` has applied it for each of `list`. @param {PlannedOrder[]} list @param {string} type */
const appliedEverywhere = (list, type) => list.every((o) => CONSUMERS.every((s) => !WANTS[/** @type {'inventory'} */ (s)].includes(type) || count(s, 'handled', type, o.orderId) >= 1));

/** @param {string} path @param {unknown} [body] @returns {Promise<{ status: number, body: any }>} */
async function callOrderService(path, body) {
  const base = `http://127.0.0.1:${orderService.env.PORT}`;
  const r = await fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body ?? {}), signal: AbortSignal.timeout(30_000) });
  return { status: r.status, body: await r.json() };
}

/** @param {PlannedOrder} o */
async function place(o) {
  const what = o.items.map((i) => `${i.qty}× ${i.sku}`).join(', ');
  say('place', { orderId: o.orderId }, `${o.customer.name} orders ${what} for ${money(o.amount)} as ${o.orderId} (${o.plan})`);
  try {
    const r = await callOrderService('/orders', { orderId: o.orderId, customer: o.customer, items: o.items, amount: o.amount, simulate: o.simulate });
    o.status = r.status;
    o.response = r.body;
    o.transactionId = r.body.transactionId ?? r.body.transaction?.transactionId;
    o.messageIds = r.body.messageIds ?? r.body.transaction?.messageIds;
    o.timeoutMessageId = r.body.timeoutMessageId;
    say('placed', { orderId: o.orderId, status: r.status }, r.status === 201 ? `${o.orderId}: 201, order created`
      : `${o.orderId}: ${r.status} ${r.body.error?.code}: ${r.body.error?.message}`);
  } catch (e) {
    o.error = /** @type {Error} */ (e).message;
    say('placed', { orderId: o.orderId, error: o.error }, `${o.orderId}: no answer (${/** @type {any} */ (e).cause?.code ?? o.error}): the order service is gone`);
  }
}

/** @param {PlannedOrder} o */
async function pay(o) {
  const r = await callOrderService(`/orders/${o.orderId}/pay`);
  say('pay', { orderId: o.orderId, status: r.status }, `${o.customer.name} pays ${o.orderId}: ${r.status}${r.body.error ? ` ${r.body.error.code}: ${r.body.error.message}` : `, ${r.body.order.status}`}`);
  return r;
}

/** @param {string} name @param {boolean} ok @param {string} detail */
function check(name, ok, detail) {
  checks.push({ name, ok, detail });
  console.log(`  ${ok ? '✓' : '✗'} ${name}${detail ? `: ${detail}` : ''}`);
}

try {
  // 1. the topics and groups
  await ensureTopic(config.ordersTopic, 'TRANSACTION', 4);
  await ensureTopic(config.timeoutsTopic, 'DELAY', 2);
  for (const g of Object.values(GROUPS)) await admin.putGroup(g, {});
  say('setup', {}, `consumer groups ${Object.values(GROUPS).join(', ')}`);

  // 2. the services
  await Promise.all(services.map((s) => s.start()));

  // 3. the orders; dave's takes the order service down, which its supervisor (we) starts again
  for (const o of orders) {
    const starts = orderService.starts;
    await place(o);
    if (o.simulate === 'crash-before-commit') {
      await until('the order service to restart', () => orderService.starts > starts, 15_000);
      await orderService.ready;
    }
  }
  dave.transactionId = events.find((e) => e.event === 'crash' && e.orderId === dave.orderId)?.transactionId;
  dave.messageIds = events.find((e) => e.event === 'crash' && e.orderId === dave.orderId)?.messageIds;

  // 4. two customers pay
  await sleep(300);
  for (const o of paid) await pay(o);

  // 5. everyone hears of everything: created, paid, and (after the timeout) cancelled
  const deadline = config.unpaidTimeoutMs + config.txCheckAfterMs + 30_000;
  await until('every consumer to handle every event', () => appliedEverywhere(committed, 'OrderCreated')
    && appliedEverywhere(paid, 'OrderPaid') && appliedEverywhere(cancelled, 'OrderCancelled'), deadline);

  // 6. too late
  const late = await pay(bob);

  // 7. a moment for anything that should not happen (a second delivery), then stop
  await sleep(1000);
  const statuses = /** @type {Record<string, string>} */ ({});
  for (const o of orders) {
    const r = await fetch(`http://127.0.0.1:${orderService.env.PORT}/orders/${o.orderId}`);
    statuses[o.orderId] = r.status === 200 ? (/** @type {any} */ (await r.json())).order.status : 'NONE';
  }
  await Promise.all(services.map((s) => s.stop()));

  // 8. the checks, against the services' own records and the broker's
  console.log('\nchecks:');
  /** each consumer that subscribes to `type` got it (and applied it) once for each order of `list`, or never (`times` 0) */
  const times = (/** @type {string} */ type, /** @type {PlannedOrder[]} */ list, /** @type {0 | 1} */ n) => list.every((o) => CONSUMERS.every((s) => {
    const want = WANTS[/** @type {'inventory'} */ (s)].includes(type) ? n : 0;
    return count(s, 'delivered', type, o.orderId) === want && count(s, 'handled', type, o.orderId) === want;
  }));
  const once = (/** @type {string} */ type, /** @type {PlannedOrder[]} */ list) => times(type, list, 1);
  const never = (/** @type {string} */ type, /** @type {PlannedOrder[]} */ list) => times(type, list, 0);
  check('every OrderCreated reached inventory, logistics and notification exactly once', once('OrderCreated', committed),
    committed.map((o) => o.orderId).join(', '));
  check('paid orders: OrderPaid reached logistics and notification once, and they were not cancelled',
    once('OrderPaid', paid) && never('OrderCancelled', paid) && paid.every((o) => statuses[o.orderId] === 'PAID'),
    paid.map((o) => `${o.orderId} ${statuses[o.orderId]}`).join(', '));
  check(`unpaid orders were cancelled after ${span(config.unpaidTimeoutMs)}: OrderCancelled reached every group once`,
    once('OrderCancelled', cancelled) && never('OrderPaid', cancelled) && cancelled.every((o) => statuses[o.orderId] === 'CANCELLED'),
    cancelled.map((o) => `${o.orderId} ${statuses[o.orderId]}`).join(', '));
  check('a payment after the cancellation is refused', late.status === 409 && late.body.error?.code === 'ORDER_CANCELLED', `${late.status} ${late.body.error?.code}`);

  const carolSeen = events.filter((e) => CONSUMERS.includes(e.service) && e.orderId === carol.orderId).length;
  let carolBroker = 'not asked';
  if (carol.messageIds?.[0]) {
    try { await admin.getMessage(config.ordersTopic, carol.messageIds[0]); carolBroker = 'the broker still has it'; } catch (e) { carolBroker = /** @type {any} */ (e).code; }
  }
  check('the failed local transaction was rolled back and reached no consumer',
    carol.status === 500 && carol.response?.error?.code === 'DB_WRITE_FAILED' && carolSeen === 0 && carolBroker === 'MESSAGE_NOT_FOUND' && statuses[carol.orderId] === 'NONE',
    `${carol.orderId}: ${carol.status} ${carol.response?.error?.code}, consumer events ${carolSeen}, broker ${carolBroker}`);

  let daveTrace = /** @type {any[]} */ ([]);
  if (dave.messageIds?.[0]) daveTrace = await admin.trace(config.ordersTopic, dave.messageIds[0]);
  const daveChecked = daveTrace.find((e) => e.type === 'CHECKED' && e.answer === 'COMMIT');
  const daveAnswered = events.find((e) => e.event === 'tx-check' && e.transactionId === dave.transactionId && e.answer === 'COMMIT');
  check('the order whose producer crashed before commit was committed by the check-back',
    !!dave.error && !!daveAnswered && !!daveChecked && daveTrace.some((e) => e.type === 'COMMITTED'),
    `${dave.orderId}: no answer to the order request; /tx-check said ${daveAnswered?.answer ?? 'nothing'}; trace ${daveTrace.map((e) => e.type).join(' → ')}`);

  // the broker's view: each OrderCreated consumed by each group, and delivered to it once
  const brokerOk = [];
  for (const o of committed) {
    const id = o.messageIds?.[0];
    if (!id) { brokerOk.push(`${o.orderId}: no message id`); continue; }
    const m = await admin.getMessage(config.ordersTopic, id);
    const trace = await admin.trace(config.ordersTopic, id);
    for (const g of CONSUMERS) {
      const status = m.groups?.find((x) => x.group === g)?.status;
      const deliveries = trace.filter((e) => e.type === 'DELIVERED' && e.group === g).length;
      if (status !== 'CONSUMED' || deliveries !== 1) brokerOk.push(`${o.orderId} in ${g}: ${status}, delivered ${deliveries}×`);
    }
  }
  check('the broker agrees: each OrderCreated is CONSUMED in each group, after one delivery', brokerOk.length === 0, brokerOk.join('; '));

  // 9. the story, per order
  console.log('\norders:');
  for (const o of orders) {
    const got = CONSUMERS.map((s) => `${s}: ${events.filter((e) => e.service === s && e.event === 'handled' && e.orderId === o.orderId).map((e) => e.type.replace('Order', '')).join('+') || '-'}`);
    console.log(`  ${pad(o.orderId, 14)} ${pad(o.customer.name, 6)} ${pad(statuses[o.orderId] === 'NONE' ? 'NOT STORED' : statuses[o.orderId], 11)} ${got.join('  ')}`);
  }
  if (hiddenOldEvents) console.log(`\n(${hiddenOldEvents} events about orders of earlier runs were not shown)`);
  exitCode = checks.every((c) => c.ok) ? 0 : 1;
  console.log(exitCode === 0
    ? `\nAll ${checks.length} checks passed in ${span(Date.now() - t0)}. The messages are still on the server: try /dashboard#/topics/${config.ordersTopic}, or`
      + `\n  npx edgemq message query ${config.ordersTopic} --key ${alice.orderId}`
    : `\n${checks.filter((c) => !c.ok).length} of ${checks.length} checks failed.`);
} catch (e) {
  console.error(`\nthe run failed: ${/** @type {Error} */ (e).stack ?? e}`);
} finally {
  await shutdown();
  if (reportFile) {
    writeFileSync(reportFile, JSON.stringify({ runId, url: config.url, t0, config: { ...config, token: config.token ? '(set)' : undefined },
      orders, events, checks, ok: exitCode === 0 }, null, 1));
  }
}
process.exit(exitCode);
