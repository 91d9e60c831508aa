// Backlog phase: a queue's cost per message must not grow with its backlog.
//
// Two topics of ONE queue each (every message of a topic goes through one Broker object):
//   B, the backlog queue, and E, a queue kept empty (its group drains what each round writes).
//   0. B before the fill: the three measurements below on B itself, while it is still empty;
//   1. fill: a group created before the fill (at the log's end) finds BACKLOG messages waiting on
//      B; the first ROUNDS x COUNT of them (those the receive rounds will read) are written in
//      batches of 100 like the measured produce, so both sides read rows of the same shape; the
//      rest in batches of 1000;
//   2. ROUNDS rounds, E and B taking turns (E first in odd rounds, B first in even ones) so that
//      noise from the rest of the machine falls on both alike:
//        produce COUNT messages in batches of 100 over 8 keep-alive connections,
//        receive (maxMessages 100) + ack (one request per receive) COUNT messages with 8
//          consumers (E: what it just produced; B: the head of its backlog),
//        produce 1 message per request over 16 connections for a few seconds.
// Reports msg/s (median of rounds), p50/p99 request latency (all rounds pooled), server CPU per
// message (wrangler + workerd processes), client CPU, and the ratio backlog/empty of each.
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { makeClient } from './lib/http.mjs';
import { closedLoop, cpuMeter, fmt, latencySummary, round, throttle, waitQuiet } from './lib/stats.mjs';

export const DEFAULTS = {
  backlog: 1_000_000,
  size: 256, // bytes of body per message
  rounds: 5,
  batch: 100, // messages per produce request (measured)
  batchRequests: 500, // requests per batch-produce measurement (COUNT = batch x batchRequests)
  singleSeconds: 4, // each 1-message produce measurement runs this long
  fillBatch: 1000,
  produceConns: 8,
  singleConns: 16,
  consumers: 8,
  receiveMax: 100,
  fillConns: 4,
  warmupSeconds: 2,
  settleMs: 1000, // pause (after `sync`) before each measurement
  quietCores: 0.3, // ...then wait until the rest of the machine uses less than this many cores
  quietMaxMs: 10_000, // ...for at most this long
  quietBudgetMs: 120_000, // ...and all such waits together at most this long (keeps the run < 10 min)
  beforeFill: 1, // 0 skips step 0
};

const KINDS = ['produceBatch', 'receiveAck', 'produceSingle'];

/** A body of exactly `size` ASCII characters (= bytes). */
function bodyText(size) {
  return randomBytes(Math.ceil(size * 0.75) + 3).toString('base64').replace(/[+/=]/g, 'x').slice(0, size);
}

/** A few pre-serialized produce requests of `n` messages each (no JSON work while measuring). */
function batchBodies(n, size, variants) {
  return Array.from({ length: variants }, () => JSON.stringify({ messages: Array.from({ length: n }, () => ({ body: bodyText(size) })) }));
}

const median = (a) => {
  const s = a.filter(Number.isFinite).sort((x, y) => x - y);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : null;
};

export async function runBacklog({ url, serverCpu, opts: o, log }) {
  const stamp = Date.now().toString(36);
  const admin = makeClient(url, { connections: 2 });
  const produceClient = makeClient(url, { connections: o.produceConns });
  const singleClient = makeClient(url, { connections: o.singleConns });
  const consumeClient = makeClient(url, { connections: o.consumers });
  const fillClient = makeClient(url, { connections: Math.max(o.fillConns, o.produceConns) });
  const clients = [admin, produceClient, singleClient, consumeClient, fillClient];

  const batchReqs = batchBodies(o.batch, o.size, 32);
  const fillReqs = batchBodies(o.fillBatch, o.size, 8);
  const singleReqs = Array.from({ length: 256 }, () => JSON.stringify({ body: bodyText(o.size) }));
  const COUNT = o.batch * o.batchRequests;

  // ------------------------------------------------------------------ helpers
  const target = (label, topic, group) => ({ label, topic, T: encodeURIComponent(topic), group, G: encodeURIComponent(group) });

  async function position(t) {
    const g = (await admin.request('GET', `/v1/groups/${t.G}`)).json;
    const q = g.queues.find((x) => x.topic === t.topic);
    const s = (await admin.request('GET', `/v1/topics/${t.T}`)).json.queueStatus[0];
    return { lag: q?.lag ?? null, inflight: q?.inflight ?? null, logMessages: s.maxOffset - s.minOffset, maxOffset: s.maxOffset };
  }
  /** Creates the group (defaults: CLUSTERING, consumeFrom FIRST) and moves it to the log's end. */
  async function groupAtEnd(t) {
    await admin.request('PUT', `/v1/groups/${t.G}`, { mode: 'CLUSTERING', consumeFrom: 'FIRST' });
    await admin.request('POST', `/v1/groups/${t.G}/reset-offset`, { topic: t.topic, to: 'LATEST' });
  }
  /**
   * Before each measurement: flush dirty pages (a large write just before would otherwise slow
   * the next fsyncs) and pause, so that each measurement starts from the same quiet state.
   */
  const quietWaits = [], restarts = [];
  let quietBudget = o.quietBudgetMs;
  async function settle() {
    try { execFileSync('sync'); } catch { /* no sync(1): the pause alone */ }
    await new Promise((r) => setTimeout(r, o.settleMs));
    const q = await waitQuiet({ serverCpu, maxCores: o.quietCores, maxMs: Math.max(0, Math.min(o.quietMaxMs, quietBudget)) });
    quietBudget -= q.waitedMs;
    quietWaits.push(q);
    return q;
  }

  function summarize(r, cpu, lat) {
    return {
      messages: r.messages, requests: r.requests, seconds: round(r.ms / 1000, 2), msgPerSec: round(r.msgPerSec),
      ...Object.fromEntries(Object.entries(lat).map(([k, v]) => [k, latencySummary(v)])), cpu,
      serverCpuUsPerMsg: cpu.serverCpuSec === null ? null : round((cpu.serverCpuSec * 1e6) / r.messages, 1),
      _lat: lat, // raw latencies, pooled across rounds, then dropped from the JSON
    };
  }

  // ------------------------------------------------------------------ measurements
  async function produceBatches(t, requests = o.batchRequests, maxSeconds = 120) {
    const lat = [];
    let sent = 0, k = 0;
    const meter = cpuMeter(serverCpu);
    const r = await closedLoop({
      workers: o.produceConns, seconds: maxSeconds,
      step: async () => {
        if (sent >= requests) return false;
        sent++;
        const x = await produceClient.request('POST', `/v1/topics/${t.T}/messages`, batchReqs[k++ % batchReqs.length]);
        if (x.json.messages.length !== o.batch) throw new Error(`produce answered ${x.json.messages.length} results for ${o.batch} messages`);
        lat.push(x.ms);
        return o.batch;
      },
    });
    return summarize(r, meter(), { request: lat });
  }

  async function produceSingles(t, seconds = o.singleSeconds) {
    const lat = [];
    let k = 0;
    const meter = cpuMeter(serverCpu);
    const r = await closedLoop({
      workers: o.singleConns, seconds,
      step: async () => {
        const x = await singleClient.request('POST', `/v1/topics/${t.T}/messages`, singleReqs[k++ % singleReqs.length]);
        if (x.json.messages.length !== 1) throw new Error('single produce did not answer one result');
        lat.push(x.ms);
        return 1;
      },
    });
    return summarize(r, meter(), { request: lat });
  }

  /** Receives and acks exactly `count` messages of t's group, `o.consumers` consumers at once. */
  async function receiveAck(t, count) {
    const recvLat = [], ackLat = [], cycleLat = [];
    let claimed = 0, notOk = 0, emptyReceives = 0, badBodies = 0, disorder = 0;
    const before = await position(t);
    const meter = cpuMeter(serverCpu);
    const r = await closedLoop({
      workers: o.consumers, seconds: 3600,
      step: async (w) => {
        const want = Math.min(o.receiveMax, count - claimed);
        if (want <= 0) return false;
        claimed += want;
        const t0 = performance.now();
        const x = await consumeClient.request('POST', `/v1/topics/${t.T}/subscriptions/${t.G}/receive`,
          { maxMessages: want, consumerId: `c${w}` });
        recvLat.push(x.ms);
        const msgs = x.json.messages;
        claimed -= want - msgs.length;
        if (!msgs.length) {
          if (++emptyReceives > 50) throw new Error(`${t.label}: receive keeps answering nothing (${claimed}/${count} received)`);
          return 0;
        }
        for (let i = 0; i < msgs.length; i++) {
          if (msgs[i].body.length !== o.size) badBodies++;
          if (msgs[i].deliveryAttempt !== 1) disorder++;
        }
        const a = await consumeClient.request('POST', `/v1/topics/${t.T}/subscriptions/${t.G}/ack`,
          { receiptHandles: msgs.map((m) => m.receiptHandle) });
        ackLat.push(a.ms);
        cycleLat.push(performance.now() - t0);
        for (const s of a.json.results) if (s.status !== 'OK') notOk++;
        return msgs.length;
      },
    });
    const cpu = meter();
    const after = await position(t);
    if (notOk) throw new Error(`${t.label}: ${notOk} acks were not OK`);
    if (badBodies) throw new Error(`${t.label}: ${badBodies} received bodies were not ${o.size} bytes`);
    if (disorder) throw new Error(`${t.label}: ${disorder} messages were redeliveries`);
    if (r.messages !== count) throw new Error(`${t.label}: received ${r.messages} of ${count}`);
    if (after.lag !== before.lag - count) throw new Error(`${t.label}: lag went from ${before.lag} to ${after.lag} after acking ${count}`);
    return {
      ...summarize(r, cpu, { receive: recvLat, ack: ackLat, receiveAndAck: cycleLat }),
      lagBefore: before.lag, lagAfter: after.lag, logMessagesBefore: before.logMessages, emptyReceives,
    };
  }

  /** Writes `total` messages: the first `head` in batches of o.batch, the rest in batches of o.fillBatch. */
  async function fill(t, total, head) {
    const t0 = performance.now();
    const meter = cpuMeter(serverCpu);
    let done = 0, k = 0, planned = 0;
    const progress = throttle(5000, () => {
      const s = (performance.now() - t0) / 1000;
      log(`  fill ${fmt(done)}/${fmt(total)} (${fmt(done / s)} msg/s, ${fmt(s, 0)} s)`);
    });
    const part = async (upto, size, workers, bodies) => closedLoop({
      workers, seconds: 3600,
      step: async () => {
        const n = Math.min(size, upto - planned);
        if (n <= 0) return false;
        planned += n;
        const body = n === size ? bodies[k++ % bodies.length]
          : JSON.stringify({ messages: Array.from({ length: n }, () => ({ body: bodyText(o.size) })) });
        const x = await fillClient.request('POST', `/v1/topics/${t.T}/messages`, body);
        if (x.json.messages.length !== n) throw new Error(`fill: ${x.json.messages.length} results for ${n} messages`);
        done += n; progress();
        return n;
      },
    });
    const r1 = await part(head, o.batch, o.produceConns, batchReqs);
    const t1 = performance.now();
    const r2 = await part(total, o.fillBatch, o.fillConns, fillReqs);
    const ms = performance.now() - t0;
    log(`  fill ${fmt(done)}/${fmt(total)} done in ${fmt(ms / 1000, 1)} s`);
    return {
      messages: done, seconds: round(ms / 1000, 2), msgPerSec: round((done / ms) * 1000), requests: r1.requests + r2.requests,
      head: { messages: r1.messages, batch: o.batch, msgPerSec: round((r1.messages / (t1 - t0)) * 1000) },
      rest: { messages: r2.messages, batch: o.fillBatch, msgPerSec: round((r2.messages / (performance.now() - t1)) * 1000) },
      cpu: meter(),
    };
  }

  /** One round of the three measurements on each target in `order`, taking turns. */
  async function measureRound(order, count) {
    const out = Object.fromEntries(order.map((t) => [t.label, {}]));
    for (const kind of KINDS) {
      for (const t of order) {
        const quiet = await settle();
        if (kind === 'produceBatch') {
          if (t.resetBeforeProduce) await groupAtEnd(t); // E's group sees only this round's batch
          out[t.label][kind] = await produceBatches(t);
        } else if (kind === 'receiveAck') {
          out[t.label][kind] = await receiveAck(t, count);
        } else {
          out[t.label][kind] = await produceSingles(t);
        }
        const x = out[t.label][kind];
        x.quietWait = quiet;
        if (x.cpu.serverProcsGone) {
          restarts.push({ during: `${t.label} ${kind}`, gone: x.cpu.serverProcsGone, started: x.cpu.serverProcsStarted });
          log(`    WARNING: server processes changed during ${t.label} ${kind}: gone ${x.cpu.serverProcsGone.join(', ')}; new ${x.cpu.serverProcsStarted.join(', ')}`);
        }
        log(`    ${t.label.padEnd(7)} ${kind.padEnd(13)} ${fmt(x.msgPerSec).padStart(7)} msg/s` +
          (x.request ? `  p50 ${fmt(x.request.p50, 1)} p99 ${fmt(x.request.p99, 1)} ms` : `  receive p50 ${fmt(x.receive.p50, 1)} p99 ${fmt(x.receive.p99, 1)} ms, ack p50 ${fmt(x.ack.p50, 1)} p99 ${fmt(x.ack.p99, 1)} ms, lag ${fmt(x.lagBefore)}`) +
          `  server ${fmt(x.serverCpuUsPerMsg, 1)} µs/msg, cores client ${fmt(x.cpu.clientCpuCores, 2)} server ${fmt(x.cpu.serverCpuCores, 2)} other ${fmt(x.cpu.otherCpuCores, 2)}` +
          (quiet.waitedMs > 600 ? ` (waited ${fmt(quiet.waitedMs / 1000, 1)} s for quiet: other ${fmt(quiet.otherCores, 2)})` : ''));
      }
    }
    return out;
  }

  // ------------------------------------------------------------------ run
  const result = { config: { ...o, count: COUNT } };
  try {
    const E = { ...target('empty', `bench-empty-${stamp}`, `bench-empty-${stamp}`), resetBeforeProduce: true };
    const B0 = { ...target('before-fill', `bench-backlog-${stamp}`, `bench-before-fill-${stamp}`), resetBeforeProduce: true };
    const B = target('backlog', `bench-backlog-${stamp}`, `bench-backlog-${stamp}`);
    for (const t of [E, B]) await admin.request('POST', '/v1/topics', { name: t.topic, queues: 1 });
    log(`topics ${E.topic} and ${B.topic}, 1 queue each; ${fmt(COUNT)} messages per produce/receive measurement; warming up`);
    for (const t of [E, B]) {
      const w = target('warmup', t.topic, `bench-warmup-${stamp}`);
      await groupAtEnd(w);
      await produceBatches(w, 1e9, o.warmupSeconds);
      await produceSingles(w, o.warmupSeconds / 2);
      await receiveAck(w, (await position(w)).lag);
    }

    // reference: what a request costs that touches no storage and no Durable Object
    await settle();
    {
      const lat = [];
      const meter = cpuMeter(serverCpu);
      const r = await closedLoop({ workers: o.singleConns, seconds: 3, step: async () => { lat.push((await singleClient.request('GET', '/v1/health')).ms); return 1; } });
      const h = summarize(r, meter(), { request: lat });
      delete h._lat;
      result.health = { requestsPerSec: h.msgPerSec, request: h.request, serverCpuUsPerRequest: h.serverCpuUsPerMsg, cpu: h.cpu };
      log(`    GET /v1/health (${o.singleConns} conns): ${fmt(h.msgPerSec)} req/s, p50 ${fmt(h.request.p50, 1)} ms, server ${fmt(h.serverCpuUsPerMsg)} µs/request`);
    }

    if (o.beforeFill) {
      log(`step 0: queue ${B.topic} before the fill`);
      result.beforeFill = (await measureRound([B0], COUNT))['before-fill'];
    }

    await groupAtEnd(B);
    const head = Math.min(o.backlog, o.rounds * COUNT);
    log(`step 1: fill ${fmt(o.backlog)} messages waiting for group ${B.group} (first ${fmt(head)} in batches of ${o.batch}, the rest of ${o.fillBatch})`);
    result.fill = await fill(B, o.backlog, head);
    const p = await position(B);
    result.fill.lagAfter = p.lag;
    result.fill.logMessagesAfter = p.logMessages;
    if (p.lag !== o.backlog) throw new Error(`group ${B.group} has lag ${p.lag}, expected ${o.backlog}`);

    result.rounds = [];
    for (let r = 1; r <= o.rounds; r++) {
      log(`step 2: round ${r}/${o.rounds}`);
      result.rounds.push(await measureRound(r % 2 ? [E, B] : [B, E], COUNT));
    }
    result.final = { empty: await position(E), backlog: await position(B) };
    result.summary = summarizeRounds(result);
    result.quietWaits = { count: quietWaits.length, totalSec: round(quietWaits.reduce((n, q) => n + q.waitedMs, 0) / 1000, 1),
      timedOut: quietWaits.filter((q) => q.otherCores > o.quietCores).length };
    result.serverRestarts = restarts;
    result.retries = clients.reduce((n, c) => n + c.stats.retries, 0);
    // raw latencies are only for pooling
    const strip = (x) => { if (x) for (const k of KINDS) if (x[k]) delete x[k]._lat; };
    strip(result.beforeFill);
    for (const rd of result.rounds) { strip(rd.empty); strip(rd.backlog); }
    return result;
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => {})));
  }
}

/** Medians over rounds (throughput), pooled latencies and CPU, and the backlog/empty ratios. */
function summarizeRounds(res) {
  const side = (label) => {
    const out = {};
    for (const kind of KINDS) {
      const xs = res.rounds.map((r) => r[label][kind]);
      const pool = (key) => latencySummary(xs.flatMap((x) => x._lat[key]));
      const msgs = xs.reduce((n, x) => n + x.messages, 0);
      const scpu = xs.every((x) => x.cpu.serverCpuSec !== null) ? xs.reduce((n, x) => n + x.cpu.serverCpuSec, 0) : null;
      out[kind] = {
        msgPerSec: round(median(xs.map((x) => x.msgPerSec))),
        msgPerSecRounds: xs.map((x) => x.msgPerSec),
        serverCpuUsPerMsg: scpu === null ? null : round((scpu * 1e6) / msgs, 1),
        clientCpuCores: round(median(xs.map((x) => x.cpu.clientCpuCores)), 2),
        serverCpuCores: round(median(xs.map((x) => x.cpu.serverCpuCores)), 2),
        otherCpuCores: round(median(xs.map((x) => x.cpu.otherCpuCores)), 2),
        ...(kind === 'receiveAck'
          ? { receive: pool('receive'), ack: pool('ack'), lagBefore: xs.map((x) => x.lagBefore) }
          : { request: pool('request') }),
      };
    }
    return out;
  };
  const e = side('empty'), b = side('backlog');
  const ratio = (f) => Object.fromEntries(KINDS.map((k) => {
    const x = f(b[k]), y = f(e[k]);
    return [k, x === null || y === null || !y ? null : round(x / y, 3)];
  }));
  const perRound = Object.fromEntries(KINDS.map((k) => [k, res.rounds.map((r) => round(r.backlog[k].msgPerSec / r.empty[k].msgPerSec, 3))]));
  return {
    empty: e, backlog: b,
    ratios: {
      msgPerSec: ratio((x) => x.msgPerSec),
      msgPerSecPerRound: perRound,
      serverCpuUsPerMsg: ratio((x) => x.serverCpuUsPerMsg),
      p50: ratio((x) => (x.request ?? x.receive).p50),
      p99: ratio((x) => (x.request ?? x.receive).p99),
      ackP50: round(b.receiveAck.ack.p50 / e.receiveAck.ack.p50, 3),
      ackP99: round(b.receiveAck.ack.p99 / e.receiveAck.ack.p99, 3),
    },
  };
}

/** The markdown summary of a runBacklog result. */
export function backlogMarkdown(r) {
  const { empty: e, backlog: b, ratios: q } = r.summary;
  const bf = r.beforeFill;
  const lat = (x) => (x ? `${fmt(x.p50, 1)} / ${fmt(x.p99, 1)}` : '-');
  const cores = (x) => [x.clientCpuCores, x.serverCpuCores, x.otherCpuCores].map((v) => fmt(v, 2)).join(' / ');
  const coresBf = (x) => (x ? [x.cpu.clientCpuCores, x.cpu.serverCpuCores, x.cpu.otherCpuCores].map((v) => fmt(v, 2)).join(' / ') : '-');
  const warn = (v, higherIsBetter) => (v === null ? '' : (higherIsBetter ? v >= 0.8 : v <= 1.25) ? '' : ' ⚠');
  const rng = (xs) => (xs.length > 1 ? ` (${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))})` : '');
  const rows = [];
  const names = {
    produceBatch: `produce, ${r.config.batch} msgs/request, ${r.config.produceConns} conns`,
    produceSingle: `produce, 1 msg/request, ${r.config.singleConns} conns`,
    receiveAck: `receive ≤${r.config.receiveMax} + ack, ${r.config.consumers} consumers`,
  };
  for (const k of ['produceBatch', 'produceSingle', 'receiveAck']) {
    const l = (x) => x.request ?? x.receive;
    rows.push([`**${names[k]}**: msg/s`, bf ? fmt(bf[k].msgPerSec) : '-', `${fmt(e[k].msgPerSec)}${rng(e[k].msgPerSecRounds)}`,
      `${fmt(b[k].msgPerSec)}${rng(b[k].msgPerSecRounds)}`, `**${fmt(q.msgPerSec[k], 2)}**${warn(q.msgPerSec[k], true)}`]);
    rows.push([k === 'receiveAck' ? '  receive p50 / p99 ms' : '  request p50 / p99 ms', bf ? lat(l(bf[k])) : '-', lat(l(e[k])), lat(l(b[k])),
      `${fmt(q.p50[k], 2)} / ${fmt(q.p99[k], 2)}`]);
    if (k === 'receiveAck') rows.push(['  ack p50 / p99 ms', bf ? lat(bf[k].ack) : '-', lat(e[k].ack), lat(b[k].ack), `${fmt(q.ackP50, 2)} / ${fmt(q.ackP99, 2)}`]);
    rows.push(['  server CPU µs/msg', bf ? fmt(bf[k].serverCpuUsPerMsg, 1) : '-', fmt(e[k].serverCpuUsPerMsg, 1), fmt(b[k].serverCpuUsPerMsg, 1), `${fmt(q.serverCpuUsPerMsg[k], 2)}${warn(q.serverCpuUsPerMsg[k], false)}`]);
    rows.push(['  CPU cores client / server / other', coresBf(bf?.[k]), cores(e[k]), cores(b[k]), '']);
    if (k === 'receiveAck') rows.push(['  messages waiting when receiving began', bf ? fmt(bf[k].lagBefore) : '-', e[k].lagBefore.map((x) => fmt(x)).join(', '), b[k].lagBefore.map((x) => fmt(x)).join(', '), '']);
  }
  const f = r.fill;
  const others = ['produceBatch', 'produceSingle', 'receiveAck'].flatMap((k) => [e[k].otherCpuCores, b[k].otherCpuCores]).filter(Number.isFinite);
  const busy = others.length ? Math.max(...others) : 0;
  return [
    `### Backlog: cost per message with ${fmt(r.config.backlog)} messages waiting (1-queue topics, ${r.config.size} B messages)`,
    '',
    `| measurement | backlog queue before the fill | empty queue (median of ${r.config.rounds}) | ${fmt(r.config.backlog)} waiting (median of ${r.config.rounds}) | backlog / empty |`,
    '|---|---:|---:|---:|---:|',
    ...rows.map((x) => `| ${x.join(' | ')} |`),
    '',
    ...(busy > 0.5 ? [`**Other processes used up to ${fmt(busy, 2)} of the ${r.machine?.cpus ?? '?'} cores during the measurements: the msg/s and latency figures (and their ratios) carry that noise; ` +
      'server CPU per message is the steadier measure of cost per message.**', ''] : []),
    `- Fill: ${fmt(f.messages)} messages in ${fmt(f.seconds, 1)} s, ${fmt(f.msgPerSec)} msg/s (first ${fmt(f.head.messages)} in batches of ${f.head.batch} at ${fmt(f.head.msgPerSec)} msg/s, ` +
      `the same shape as the measured produce, as they are what the receive rounds read; the rest in batches of ${f.rest.batch} at ${fmt(f.rest.msgPerSec)} msg/s). ` +
      `Lag of the measured group after the fill: ${fmt(f.lagAfter)}; at the end: ${fmt(r.final.backlog.lag)}.`,
    `- Each round measures the empty and the backlog queue in turn (order alternating), ${fmt(r.config.count)} messages per produce and receive+ack measurement, ` +
      `${r.config.singleSeconds} s per single-message produce; msg/s is the median of the rounds (range in brackets), latencies pool all rounds' requests. ` +
      'The "before the fill" column is the backlog queue itself measured once before it was filled.',
    `- Per-round ratios backlog/empty of msg/s (each pair measured back to back): ` +
      ['produceBatch', 'produceSingle', 'receiveAck'].map((k) => `${k} ${q.msgPerSecPerRound[k].map((x) => fmt(x, 2)).join(', ')}`).join('; ') + '.',
    `- Before each measurement: \`sync\`, ${r.config.settleMs} ms pause, then a wait (≤ ${fmt(r.config.quietMaxMs / 1000)} s) for the rest of the machine to use < ${r.config.quietCores} cores ` +
      `(waited ${fmt(r.quietWaits.totalSec, 1)} s in all; ${r.quietWaits.timedOut} of ${r.quietWaits.count} waits gave up).` +
      (r.serverRestarts.length ? ` **Server processes restarted during: ${r.serverRestarts.map((x) => x.during).join('; ')}.**` : ' No server process restarted during a measurement.'),
    `- Server CPU is the wrangler + workerd processes (\`wrangler dev\` runs a proxy workerd in front of the Worker's): ` +
      `GET /v1/health, which touches no storage, costs ${fmt(r.health.serverCpuUsPerRequest)} µs of it per request (${fmt(r.health.requestsPerSec)} req/s over ${r.config.singleConns} connections), ` +
      'which is most of the cost of a 1-message produce.',
    `- CPU cores: 1.00 = one core busy (the machine has ${r.machine?.cpus ?? '?'}); "other" is the rest of the machine meanwhile (noise). ` +
      '⚠ marks a ratio below 0.8 (throughput) or above 1.25 (CPU per message).',
  ].join('\n');
}
