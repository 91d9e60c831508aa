// Cost phase: what Cloudflare would bill per message, from counters, not estimates.
//
// Needs the bench build of the Worker (bench/lib/cost-entry.ts, which bench/run.mjs starts): its
// GET /__bench/cost?topic=T answers the Broker's costCounters() (SQL rows read and written as the
// cursors count them, statements, database size) for each queue of T, and the Worker's own counts
// of requests it served and of Durable Object requests it made (RPC calls and fetches on stubs,
// WebSocket messages sent to a Broker: billed 20 to a request).
//
// Flows, each on a fresh 1-queue topic (one Broker), counters read before and after:
//   produce   N messages of SIZE B, BATCH per POST (8 connections)
//   pull      N consumed with receive (≤ BATCH) + ack, 8 loops
//   push      N consumed over one WebSocket (maxInflight INFLIGHT), each frame acked at once
//   single    SINGLE_N messages, 1 per POST (16 connections, closed loop)
//   ws        N messages with the SDK's ProducerStream (one WebSocket), 1 per send(), INFLIGHT unanswered
//   ws idem   IDEM_N with the SDK's ProducerStream as shipped (idempotent: an idempotencyKey per frame)
//   trickle   TRICKLE_N messages, 1 per POST at TRICKLE_RATE/s to a running push consumer (both sides);
//             then the same over the SDK's ProducerStream, 1 send() each, without and with TRICKLE_LINGER_MS
// Then dollars per million messages with Cloudflare's published prices (Workers Paid), beside
// Cloudflare Queues (3 operations per message of ≤ 64 KB: write, read, delete).
import WebSocket from 'ws';
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { makeClient } from './lib/http.mjs';
import { pipelinedStream } from './lib/produce-ws.mjs';
import { Producer } from '../dist/client.mjs';
import { closedLoop, fmt, openLoop, round } from './lib/stats.mjs';

export const DEFAULTS = {
  costN: 100_000,
  costSize: 256,
  costBatch: 100,
  costInflight: 1000,
  costSingleN: 2000,
  costTrickleN: 2000,
  costTrickleRate: 1000,
  costTrickleLingerMs: 5, // the trickle also over the SDK's ProducerStream, without and with this lingerMs (0: without only)
  costTimeoutSec: 300,
  costIdemN: 20_000, // produce with the SDK's default idempotency keys (0 skips)
  costNoTraceN: 20_000, // the same produce + pull + trickle on a topic with {"trace": false} (0 skips)
};

/** Cloudflare's prices (Workers Paid plan), as published on its pricing pages. */
export const PRICES = {
  source: 'Cloudflare pricing pages (Workers, Durable Objects, Queues), as of the run date',
  doRequestsPerM: 0.15, // Durable Objects requests, $/million (WebSocket messages in: 20 count as 1)
  doRowsWrittenPerM: 1.0, // SQLite-backed DO rows written, $/million
  doRowsReadPerM: 0.001, // rows read, $/million
  doGbSecPerM: 12.5, // duration, $/million GB-s (128 MB per active object)
  workerRequestsPerM: 0.30, // Workers requests, $/million
  queuesOpsPerM: 0.40, // Cloudflare Queues, $/million operations (64 KB each)
  queuesOpsPerMessage: 3, // write + read + delete
  doGb: 0.125, // 128 MB
  wsMessagesPerRequest: 20,
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const enc = encodeURIComponent;
const bodyText = (size) => randomBytes(Math.ceil(size * 0.75) + 3).toString('base64').replace(/[+/=]/g, 'x').slice(0, size);

export async function runCost({ url, opts: o, log }) {
  const stamp = Date.now().toString(36);
  const admin = makeClient(url, { connections: 2 });
  const prod = makeClient(url, { connections: 8 });
  const single = makeClient(url, { connections: 16 });
  const cons = makeClient(url, { connections: 8 });
  const clients = [admin, prod, single, cons];
  const timeoutMs = o.costTimeoutSec * 1000;

  async function counters(topic) {
    const r = await admin.request('GET', `/__bench/cost?topic=${enc(topic)}`, undefined, { expect: [200, 404] });
    if (r.status === 404 || !r.json?.worker) throw new Error('GET /__bench/cost is not served: the cost phase needs the bench build of the Worker (bench/run.mjs starts it; not with --url)');
    if (r.json.brokers.some((x) => x.rowsWritten === null)) throw new Error('the Brokers do not count SQL rows: the cost phase needs COST_COUNTERS=true (bench/run.mjs sets it for this phase)');
    const byStatement = new Map();
    for (const br of r.json.brokers) for (const x of br.byStatement ?? []) {
      const e = byStatement.get(x.sql) ?? { n: 0, rowsRead: 0, rowsWritten: 0 };
      e.n += x.n; e.rowsRead += x.rowsRead; e.rowsWritten += x.rowsWritten;
      byStatement.set(x.sql, e);
    }
    const b = r.json.brokers.reduce((a, x) => ({ statements: a.statements + x.statements, rowsRead: a.rowsRead + x.rowsRead, rowsWritten: a.rowsWritten + x.rowsWritten, databaseSize: a.databaseSize + x.databaseSize, brokerWsMessagesIn: a.brokerWsMessagesIn + x.wsMessagesIn, brokerProduceCalls: a.brokerProduceCalls + x.produceCalls }),
      { statements: 0, rowsRead: 0, rowsWritten: 0, databaseSize: 0, brokerWsMessagesIn: 0, brokerProduceCalls: 0 });
    return { ...b, ...r.json.worker, byStatement, at: performance.now() };
  }
  const diff = (a, b, messages, extra = {}) => {
    const d = {};
    for (const k of ['statements', 'rowsRead', 'rowsWritten', 'databaseSize', 'workerRequests', 'brokerRpc', 'brokerFetch', 'brokerWsMessagesIn', 'nameServerRpc', 'brokerProduceCalls', 'workerProduceCalls']) d[k] = b[k] - a[k];
    // produce calls the Brokers received that the Worker did not make: one object calling another
    d.objectProduceCalls = Math.max(0, d.brokerProduceCalls - d.workerProduceCalls);
    d.doRequests = d.brokerRpc + d.brokerFetch + d.nameServerRpc + d.objectProduceCalls + d.brokerWsMessagesIn / PRICES.wsMessagesPerRequest;
    d.seconds = round((b.at - a.at) / 1000, 2);
    const per = {};
    for (const [k, v] of Object.entries(d)) if (k !== 'seconds') per[k] = round(v / messages, 5);
    // where the rows come from: the statements that wrote or read the most, per message
    const stmts = [];
    for (const [sql, e] of b.byStatement) {
      const e0 = a.byStatement.get(sql) ?? { n: 0, rowsRead: 0, rowsWritten: 0 };
      const x = { sql, n: e.n - e0.n, rowsRead: e.rowsRead - e0.rowsRead, rowsWritten: e.rowsWritten - e0.rowsWritten };
      if (x.n > 0) stmts.push({ sql, perMessage: { n: round(x.n / messages, 4), rowsWritten: round(x.rowsWritten / messages, 4), rowsRead: round(x.rowsRead / messages, 4) } });
    }
    stmts.sort((x, y) => y.perMessage.rowsWritten - x.perMessage.rowsWritten || y.perMessage.rowsRead - x.perMessage.rowsRead);
    return { messages, total: d, perMessage: per, statements: stmts.slice(0, 12), ...extra };
  };
  async function freshTopic(name, extra = {}) {
    await admin.request('POST', '/v1/topics', { name, queues: 1, ...extra });
    await admin.request('GET', `/v1/topics/${enc(name)}`); // the Broker is up (schema created) before counting
    return name;
  }
  async function settled(topic, group) {
    for (let i = 0; i < 400; i++) {
      const g = (await admin.request('GET', `/v1/groups/${enc(group)}`)).json;
      const q = g.queues.filter((x) => x.topic === topic);
      if (q.length && q.every((x) => x.lag === 0 && x.inflight === 0)) return true;
      await sleep(25);
    }
    throw new Error(`group ${group} did not reach lag 0`);
  }
  const batchBodies = Array.from({ length: 16 }, () => JSON.stringify({ messages: Array.from({ length: o.costBatch }, () => ({ body: bodyText(o.costSize) })) }));
  const singleBody = () => JSON.stringify({ body: bodyText(o.costSize) });

  function openPush(topic, group, onMessages) {
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/v1/topics/${enc(topic)}/subscriptions/${enc(group)}/ws?consumerId=cost&maxInflight=${o.costInflight}`, { perMessageDeflate: false });
    ws.on('message', (d, bin) => {
      if (bin) return;
      const f = JSON.parse(d.toString());
      if (f.type !== 'messages') return;
      ws.send(JSON.stringify({ type: 'ack', receiptHandles: f.messages.map((m) => m.receiptHandle) }));
      onMessages(f.messages.length);
    });
    return new Promise((res, rej) => { ws.once('open', () => res(ws)); ws.once('error', rej); });
  }
  const close = (ws) => new Promise((r) => { ws.once('close', r); ws.close(1000); setTimeout(r, 3000); });

  /**
   * `n` messages published one at a time by `publish()` at TRICKLE_RATE/s to a fresh group's
   * running push consumer (acking each frame); counted from before the first to after the last delivery.
   */
  async function trickle(topic, n, publish, extra = {}) {
    const group = `${topic}-g`;
    await admin.request('PUT', `/v1/groups/${group}`, { consumeFrom: 'FIRST' });
    let got = 0, allGot;
    const delivered = new Promise((r) => { allGot = r; });
    const ws = await openPush(topic, group, (m) => { got += m; if (got >= n) allGot(); });
    await sleep(300);
    const c0 = await counters(topic);
    const pending = [];
    await openLoop({ n, rate: o.costTrickleRate, issue: () => pending.push(publish()) });
    await Promise.all(pending);
    await Promise.race([delivered, sleep(timeoutMs)]);
    await sleep(500);
    const c1 = await counters(topic);
    await close(ws);
    return diff(c0, c1, n, { rate: o.costTrickleRate, ...extra });
  }

  let k = 0; // the next of batchBodies
  /** `n` messages in batches of BATCH per POST over 8 connections. */
  async function produceBatched(topic, n) {
    let sent = 0;
    const reqs = Math.ceil(n / o.costBatch);
    await closedLoop({ workers: 8, seconds: o.costTimeoutSec, step: async () => {
      if (sent >= reqs) return false;
      sent++;
      await prod.request('POST', `/v1/topics/${enc(topic)}/messages`, batchBodies[k++ % batchBodies.length]);
      return o.costBatch;
    } });
  }

  /** Receives (≤ BATCH) and acks with 8 loops until `n` are acked. */
  async function pullAll(topic, group, n, what) {
    let claimed = 0, acked = 0;
    await closedLoop({ workers: 8, seconds: o.costTimeoutSec, step: async (w) => {
      const want = Math.min(o.costBatch, n - claimed);
      if (want <= 0) return false;
      claimed += want;
      const x = await cons.request('POST', `/v1/topics/${enc(topic)}/subscriptions/${enc(group)}/receive`, { maxMessages: want, consumerId: `c${w}` });
      claimed -= want - x.json.messages.length;
      if (!x.json.messages.length) { await sleep(5); return 0; }
      await cons.request('POST', `/v1/topics/${enc(topic)}/subscriptions/${enc(group)}/ack`, { receiptHandles: x.json.messages.map((m) => m.receiptHandle) });
      acked += x.json.messages.length;
      return x.json.messages.length;
    } });
    if (acked !== n) throw new Error(`${what}: acked ${acked} of ${n}`);
  }

  const result = { config: o, prices: PRICES, flows: {} };
  try {
    // ---- produce (batched), then pull and push consumption of the same N
    const T = await freshTopic(`cost-${stamp}`);
    const gPull = `cost-pull-${stamp}`, gPush = `cost-push-${stamp}`;
    for (const g of [gPull, gPush]) await admin.request('PUT', `/v1/groups/${g}`, { consumeFrom: 'FIRST' });
    let c0 = await counters(T);
    await produceBatched(T, o.costN);
    let c1 = await counters(T);
    result.flows.produceBatch = diff(c0, c1, o.costN, { batch: o.costBatch });
    log(`  cost produce (batch ${o.costBatch}): ${fmt(result.flows.produceBatch.perMessage.rowsWritten, 4)} rows written/msg, ${fmt(result.flows.produceBatch.perMessage.doRequests, 4)} DO requests/msg`);

    c0 = c1;
    await pullAll(T, gPull, o.costN, 'pull');
    c1 = await counters(T);
    result.flows.pull = diff(c0, c1, o.costN, { receiveMax: o.costBatch });
    log(`  cost pull consume: ${fmt(result.flows.pull.perMessage.rowsWritten, 4)} rows written/msg, ${fmt(result.flows.pull.perMessage.doRequests, 4)} DO requests/msg`);

    // push: counters are read after a pause once all came (no status polling inside the window)
    c0 = await counters(T);
    let got = 0, resolveDone;
    const done = new Promise((r) => { resolveDone = r; });
    const ws = await openPush(T, gPush, (n) => { got += n; if (got >= o.costN) resolveDone(); });
    await Promise.race([done, sleep(timeoutMs)]);
    await sleep(500);
    c1 = await counters(T);
    await close(ws);
    await settled(T, gPush);
    result.flows.push = diff(c0, c1, o.costN, { inflight: o.costInflight });
    log(`  cost push consume: ${fmt(result.flows.push.perMessage.rowsWritten, 4)} rows written/msg, ${fmt(result.flows.push.perMessage.doRequests, 4)} DO requests/msg (WebSocket messages in: ${result.flows.push.total.brokerWsMessagesIn})`);

    // ---- single-message produce
    const S = await freshTopic(`cost-single-${stamp}`);
    c0 = await counters(S);
    let n1 = 0;
    await closedLoop({ workers: 16, seconds: o.costTimeoutSec, step: async () => {
      if (n1 >= o.costSingleN) return false;
      n1++;
      await single.request('POST', `/v1/topics/${enc(S)}/messages`, singleBody());
      return 1;
    } });
    c1 = await counters(S);
    result.flows.produceSingle = diff(c0, c1, o.costSingleN);
    log(`  cost single produce: ${fmt(result.flows.produceSingle.perMessage.rowsWritten, 3)} rows written/msg`);

    // ---- produce over WebSocket: the SDK's ProducerStream, one message per send() call, pipelined
    //      (the stream's frames and the Worker's group commit), without dedupIds
    const W = await freshTopic(`cost-ws-${stamp}`);
    c0 = await counters(W);
    const ws0 = await new Producer({ url, idempotent: false }).openStream(W);
    await pipelinedStream(ws0, { n: o.costN, window: o.costInflight, bodies: Array.from({ length: 64 }, () => bodyText(o.costSize)), timeoutMs });
    await ws0.close();
    c1 = await counters(W);
    result.flows.produceWs = diff(c0, c1, o.costN, { window: o.costInflight });
    log(`  cost produce over WebSocket (ProducerStream, ${o.costInflight} sends unanswered): ${fmt(result.flows.produceWs.perMessage.rowsWritten, 4)} rows written/msg, ${fmt(result.flows.produceWs.perMessage.doRequests, 4)} DO requests/msg`);

    // ---- the same through the SDK as shipped: every frame has an idempotencyKey (idempotent produce)
    if (o.costIdemN > 0) {
      const I = await freshTopic(`cost-idem-${stamp}`);
      c0 = await counters(I);
      const stream = await new Producer({ url }).openStream(I);
      await pipelinedStream(stream, { n: o.costIdemN, window: o.costInflight, bodies: Array.from({ length: 64 }, () => bodyText(o.costSize)), timeoutMs });
      await stream.close();
      c1 = await counters(I);
      result.flows.produceIdem = diff(c0, c1, o.costIdemN, { window: o.costInflight });
      log(`  cost produce with idempotency keys (SDK default): ${fmt(result.flows.produceIdem.perMessage.rowsWritten, 4)} rows written/msg`);

      // and the SDK's sendBatch as shipped: 100 messages per request, an Idempotency-Key on each
      const K = await freshTopic(`cost-keyed-${stamp}`);
      c0 = await counters(K);
      const producer = new Producer({ url });
      const hundred = Array.from({ length: o.costBatch }, () => ({ body: bodyText(o.costSize) }));
      let left = o.costIdemN;
      await Promise.all(Array.from({ length: 8 }, async () => { while (left > 0) { left -= o.costBatch; await producer.sendBatch(K, hundred); } }));
      c1 = await counters(K);
      result.flows.produceKeyed = diff(c0, c1, o.costIdemN, { batch: o.costBatch });
      log(`  cost produce ${o.costBatch} per POST with an Idempotency-Key (SDK default): ${fmt(result.flows.produceKeyed.perMessage.rowsWritten, 4)} rows written/msg`);
    }

    // ---- trickle: single produce at RATE/s to a running push consumer
    const postTo = (topic) => () => single.request('POST', `/v1/topics/${enc(topic)}/messages`, singleBody());
    const R = await freshTopic(`cost-trickle-${stamp}`);
    result.flows.trickle = await trickle(R, o.costTrickleN, postTo(R));
    log(`  cost trickle (1 msg/POST at ${o.costTrickleRate}/s + push): ${fmt(result.flows.trickle.perMessage.rowsWritten, 3)} rows written/msg, ${fmt(result.flows.trickle.perMessage.doRequests, 3)} DO requests/msg`);

    // ---- the same rate through the SDK's ProducerStream, one send() per message, without and
    //      with lingerMs: what a send made one at a time costs, and what lingering saves
    for (const linger of [0, o.costTrickleLingerMs]) {
      const L = await freshTopic(`cost-trickle-ws${linger}-${stamp}`);
      const stream = await new Producer({ url, idempotent: false }).openStream(L, { lingerMs: linger });
      const f = await trickle(L, o.costTrickleN, () => stream.send({ body: bodyText(o.costSize) }), { lingerMs: linger });
      f.frames = stream.stats.frames;
      await stream.close();
      result.flows[linger ? 'trickleLinger' : 'trickleWs'] = f;
      log(`  cost trickle over ProducerStream (lingerMs ${linger}) at ${o.costTrickleRate}/s + push: ${fmt(f.perMessage.rowsWritten, 3)} rows written/msg, ${fmt(f.perMessage.doRequests, 3)} DO requests/msg, ${fmt(f.frames)} frames`);
      if (!o.costTrickleLingerMs) break;
    }

    // ---- the same with message trace off (topic {"trace": false}): what the trace events cost
    if (o.costNoTraceN > 0) {
      const N2 = o.costNoTraceN;
      const U = await freshTopic(`cost-notrace-${stamp}`, { trace: false });
      const gU = `cost-notrace-pull-${stamp}`;
      await admin.request('PUT', `/v1/groups/${gU}`, { consumeFrom: 'FIRST' });
      c0 = await counters(U);
      await produceBatched(U, N2);
      c1 = await counters(U);
      const pb = diff(c0, c1, N2);
      c0 = c1;
      await pullAll(U, gU, N2, 'pull (trace off)');
      c1 = await counters(U);
      const pl = diff(c0, c1, N2);
      // trickle, trace off
      const V = await freshTopic(`cost-notrace-trickle-${stamp}`, { trace: false });
      const nV = Math.min(o.costTrickleN, 1000);
      const tr = await trickle(V, nV, postTo(V));
      result.flows.noTrace = { produceBatch: pb, pull: pl, trickle: tr };
      log(`  cost with trace off: produce ${fmt(pb.perMessage.rowsWritten, 4)} + pull ${fmt(pl.perMessage.rowsWritten, 4)} rows written/msg; trickle ${fmt(result.flows.noTrace.trickle.perMessage.rowsWritten, 3)}`);
    }

    result.scenarios = scenarios(result);
    return result;
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => {})));
  }
}

/** Dollars per million messages, produced and consumed once. */
function scenarios(r) {
  const f = r.flows, P = PRICES;
  const add = (...xs) => {
    const out = {};
    for (const k of ['rowsWritten', 'rowsRead', 'doRequests', 'workerRequests', 'databaseSize', 'statements', 'brokerWsMessagesIn']) out[k] = xs.reduce((s, x) => s + x.perMessage[k], 0);
    out.activeSecPerMsg = xs.reduce((s, x) => s + x.total.seconds / x.messages, 0);
    return out;
  };
  const price = (name, pm, durationNote) => {
    const d = {
      rowsWritten: pm.rowsWritten * P.doRowsWrittenPerM, rowsRead: pm.rowsRead * P.doRowsReadPerM,
      doRequests: pm.doRequests * P.doRequestsPerM, workerRequests: pm.workerRequests * P.workerRequestsPerM,
      duration: pm.activeSecPerMsg * P.doGb * P.doGbSecPerM,
    };
    const total = Object.values(d).reduce((a, b) => a + b, 0);
    return { name, perMessage: Object.fromEntries(Object.entries(pm).map(([k, v]) => [k, round(v, 5)])), dollarsPerMillion: Object.fromEntries(Object.entries({ ...d, total }).map(([k, v]) => [k, round(v, 4)])), durationNote };
  };
  const queues = P.queuesOpsPerM * P.queuesOpsPerMessage;
  const nt = f.noTrace;
  return {
    queuesPerMillion: queues,
    list: [
      price(`produce ${r.config.costBatch}/POST + push consume`, add(f.produceBatch, f.push), 'at the rate measured here'),
      price(`produce ${r.config.costBatch}/POST + pull consume (receive ${r.config.costBatch} + ack)`, add(f.produceBatch, f.pull), 'at the rate measured here'),
      ...(nt ? [price(`same, topic with trace off`, add(nt.produceBatch, nt.pull), 'at the rate measured here')] : []),
      ...(f.produceWs ? [price(`produce over WebSocket (ProducerStream, 1 message per send()) + push consume`, add(f.produceWs, f.push), 'at the rate measured here')] : []),
      price(`1 message/POST at ${fmt(r.config.costTrickleRate)}/s + push consume`, add(f.trickle), `object busy the whole time at ${fmt(r.config.costTrickleRate)}/s`),
      ...(nt ? [price(`same, topic with trace off`, add(nt.trickle), `object busy the whole time at ${fmt(r.config.costTrickleRate)}/s`)] : []),
      ...(f.trickleWs ? [price(`1 send() at a time over ProducerStream at ${fmt(r.config.costTrickleRate)}/s + push consume`, add(f.trickleWs), `object busy the whole time at ${fmt(r.config.costTrickleRate)}/s`)] : []),
      ...(f.trickleLinger ? [price(`the same over ProducerStream, lingerMs ${fmt(f.trickleLinger.lingerMs)}`, add(f.trickleLinger), `object busy the whole time at ${fmt(r.config.costTrickleRate)}/s`)] : []),
    ],
  };
}

export function costMarkdown(r) {
  const f = r.flows, P = r.prices, s = r.scenarios;
  const row = (label, x) => `| ${label} | ${fmt(x.perMessage.rowsWritten, 4)} | ${fmt(x.perMessage.rowsRead, 4)} | ${fmt(x.perMessage.statements, 3)} | ${fmt(x.perMessage.workerRequests, 4)} | ${fmt(x.perMessage.doRequests, 4)} | ${fmt(x.perMessage.databaseSize, 0)} |`;
  const rowsTarget = f.produceBatch.perMessage.rowsWritten + f.push.perMessage.rowsWritten;
  const rowsTargetPull = f.produceBatch.perMessage.rowsWritten + f.pull.perMessage.rowsWritten;
  const d = (x) => `$${fmt(x, 4)}`;
  const tr = f.pull.statements.find((x) => x.sql.startsWith('INSERT INTO trace'));
  const traceRows = tr && tr.perMessage.n > 0 ? tr.perMessage.rowsWritten / tr.perMessage.n : null;
  return [
    `### Cost per message (counted: SQL cursors' rowsRead/rowsWritten in the Broker, requests in the Worker; ${r.config.costSize} B messages, 1-queue topics)`,
    '',
    '| flow | rows written / msg | rows read / msg | SQL statements / msg | Worker requests / msg | DO requests / msg | DB bytes / msg |',
    '|---|---:|---:|---:|---:|---:|---:|',
    row(`produce, ${r.config.costBatch} per POST (${fmt(f.produceBatch.messages)} msgs)`, f.produceBatch),
    row(`pull consume, receive ≤ ${r.config.costBatch} + ack`, f.pull),
    row(`push consume, maxInflight ${r.config.costInflight}, ack per frame (${fmt(f.push.total.brokerWsMessagesIn)} WebSocket messages in)`, f.push),
    row(`produce, 1 per POST (${fmt(f.produceSingle.messages)} msgs)`, f.produceSingle),
    ...(f.produceWs ? [row(`produce over WebSocket, ProducerStream, 1 message per send(), ${fmt(f.produceWs.window)} unanswered (${fmt(f.produceWs.messages)} msgs)`, f.produceWs)] : []),
    ...(f.produceIdem ? [row(`produce with an idempotencyKey per frame (the SDK's default), ProducerStream (${fmt(f.produceIdem.messages)} msgs)`, f.produceIdem)] : []),
    ...(f.produceKeyed ? [row(`produce, ${f.produceKeyed.batch} per POST with an Idempotency-Key (the SDK's sendBatch) (${fmt(f.produceKeyed.messages)} msgs)`, f.produceKeyed)] : []),
    row(`1 per POST at ${fmt(r.config.costTrickleRate)}/s + push consume (both)`, f.trickle),
    ...(f.trickleWs ? [row(`1 send() at a time over ProducerStream at ${fmt(r.config.costTrickleRate)}/s + push consume (both; ${fmt(f.trickleWs.frames)} frames for ${fmt(f.trickleWs.messages)} msgs)`, f.trickleWs)] : []),
    ...(f.trickleLinger ? [row(`the same with lingerMs ${fmt(f.trickleLinger.lingerMs)} (${fmt(f.trickleLinger.frames)} frames)`, f.trickleLinger)] : []),
    ...(f.noTrace ? [
      row(`trace off: produce, ${r.config.costBatch} per POST (${fmt(f.noTrace.produceBatch.messages)} msgs)`, f.noTrace.produceBatch),
      row('trace off: pull consume, receive ≤ ' + r.config.costBatch + ' + ack', f.noTrace.pull),
      row(`trace off: 1 per POST at ${fmt(r.config.costTrickleRate)}/s + push consume (${fmt(f.noTrace.trickle.messages)} msgs)`, f.noTrace.trickle),
    ] : []),
    '',
    `Rows written per message produced and consumed at batch ${r.config.costBatch}: **${fmt(rowsTarget, 4)}** with push, **${fmt(rowsTargetPull, 4)}** with pull ` +
      `(target ≤ 0.05: ${rowsTarget <= 0.05 ? 'PASS' : 'MISS'} / ${rowsTargetPull <= 0.05 ? 'PASS' : 'MISS'})` +
      (f.noTrace ? `; on a topic with trace off, with pull: ${fmt(f.noTrace.produceBatch.perMessage.rowsWritten + f.noTrace.pull.perMessage.rowsWritten, 4)}.` : '.') +
      (traceRows ? ` Message trace is on by default and written behind: one trace row per 1024-offset bucket per flush (~250 ms), ${fmt(tr.perMessage.n, 4)} trace rows per message pulled here, each costing ${fmt(traceRows, 1)} rows written.` : ''),
    '',
    'Where the rows written come from (statements writing the most, rows written / message):',
    '',
    ...['produceBatch', 'pull', 'push', 'trickle', 'produceWs', 'produceIdem', 'produceKeyed'].filter((k) => f[k]).map((k) => `- ${k}: ` + f[k].statements.filter((x) => x.perMessage.rowsWritten > 0).slice(0, 6)
      .map((x) => `\`${x.sql.slice(0, 70)}${x.sql.length > 70 ? '…' : ''}\` ${fmt(x.perMessage.rowsWritten, 4)} (${fmt(x.perMessage.n, 3)} statements)`).join('; ')),
    '',
    '**Dollars per million messages** (produced once, consumed once by one group):',
    '',
    '| scenario | rows written | rows read | DO requests | Worker requests | DO duration | **total** | Cloudflare Queues |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...s.list.map((x) => `| ${x.name} | ${d(x.dollarsPerMillion.rowsWritten)} | ${d(x.dollarsPerMillion.rowsRead)} | ${d(x.dollarsPerMillion.doRequests)} | ${d(x.dollarsPerMillion.workerRequests)} | ${d(x.dollarsPerMillion.duration)} (${x.durationNote}) | **${d(x.dollarsPerMillion.total)}** | $${fmt(s.queuesPerMillion, 2)} |`),
    '',
    `Prices used (${P.source}): Durable Objects requests $${P.doRequestsPerM}/million (WebSocket messages received count ${P.wsMessagesPerRequest} to a request), ` +
      `rows written $${fmt(P.doRowsWrittenPerM, 2)}/million, rows read $${P.doRowsReadPerM}/million, duration $${fmt(P.doGbSecPerM, 2)}/million GB-s (${P.doGb * 1024} MB per active object); ` +
      `Workers requests $${fmt(P.workerRequestsPerM, 2)}/million; Cloudflare Queues $${fmt(P.queuesOpsPerM, 2)}/million operations, ${P.queuesOpsPerMessage} per message (write, read, delete; per 64 KB).`,
    '',
    '- Not included: Workers CPU time, storage ($/GB-month; DB bytes per message above, kept for the retention period), the included monthly allowances, and egress. ' +
      'Duration assumes the object is active only while it works; at a steady R msg/s a busy queue costs 0.125/R GB-s per message, so it is only significant for queues that are busy at a low rate.',
    `- DO requests = RPC calls + fetches the Worker made on Broker/NameServer stubs + WebSocket messages the Brokers received (counted by each Broker: a client's on a 1-queue topic, a relay's on others) / ${P.wsMessagesPerRequest}; plus the produce calls the Brokers received that the Worker did not make (one object calling another: a dead-letter move, or a Broker holding a producer's socket storing to another queue); alarms are not counted.`,
  ].join('\n');
}
