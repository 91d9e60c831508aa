// Compare phase: edgemq beside the brokers a user would pick instead, in one run, alternating.
//
// Per run (RUNS of them), edgemq and the peers take turns (edgemq first in odd runs):
//   edgemq, on a fresh topic of QUEUES queue(s) (1: like the peers' one queue/stream), after a
//   warm-up on its own topic (WARMUP messages produced, drained by push and pull):
//     produce batched: N × SIZE B, BATCH messages per POST over PRODUCE_CONNS keep-alive connections;
//       two groups exist before it (consumeFrom FIRST), so both drains below read the same backlog
//     push drain:  one WebSocket (`ws`), maxInflight INFLIGHT, every frame acked at once in one ack
//                  frame; ends when all N came and the group reports lag 0 and nothing in flight
//     pull drain:  CONSUMERS loops of receive (≤ RECEIVE_MAX) + ack, until N acked
//     produce ws:  N more with the SDK's ProducerStream (docs/api.md, one WebSocket): one message per
//                  send() call, WS_WINDOW calls unanswered, like the peers' 1,000 publishes in flight
//                  (the stream sends the calls of one event-loop turn in frames of up to 256; idempotent: false,
//                  as the peers do not deduplicate); then WS_RAW_N as raw frames of one message each
//     produce single: 1 message per POST over SINGLE_CONNS connections, closed loop, SINGLE_SECONDS
//     health:      GET /v1/health over SINGLE_CONNS connections, closed loop (the Worker's request rate
//                  without storage: the ceiling of the single-message produce)
//     latency:     a push consumer at the log's end; LAT_N messages published one per POST, open loop
//                  at RATE/s; e2e = receive − publish call, publish→ack = 201 − publish call;
//                  then the same with each message one send on a produce channel (latencyWs)
//     floors:      the same channel at RATE/s with sends the Worker refuses at once (wsFloor: no object,
//                  no storage), and the disk's fdatasync tail in the server's state directory (disk),
//                  measured alone: what every latency above sits on
//   wrangler dev's own floor (FLOOR, a second server the bench starts after each edgemq run and stops
//     after its steps, bench/lib/floor-entry.ts): the same dev server with a Worker that does no work: GETs over SINGLE_CONNS
//     connections for HEALTH_SECONDS and N messages in POSTs of BATCH over PRODUCE_CONNS, as above,
//     each answered at once (a POST's body read, then a fixed answer of a produce's size): what of
//     edgemq's rates and CPU is the dev server's, not edgemq's; then LAT_N single-message POSTs and
//     LAT_N sends on a channel that stores nothing, open loop at RATE/s: the dev server's own tail
//     under the latency targets
//   the disk's share (RAM, a third server with its state in /dev/shm, after each run's floor): its
//     warm-up, then the WebSocket latency step (latencyWs): commits there wait for no disk
//   edgemq past wrangler's dev proxy (DIRECT, a server the bench started): the same server at the
//     port of the workerd running edgemq, which the proxy forwards to; after each edgemq run, the
//     measurements that cross the proxy per request or per message are repeated there (batched,
//     push drain, single, health, both latencies, the WebSocket floor). Informative: the targets
//     are judged through the proxy, which is what `npm start` serves.
//   peers (bench/lib/peers.mjs: ../shared/peers/bench.mjs, unchanged, in a child process): the same
//     N, SIZE, 1,000 publishes in flight, drain acking each message (prefetch 1,000), LAT_N at RATE/s;
//     then a short pass with SINGLE_WINDOW (16) publishes in flight, the analogue of 16 connections
//     each sending one message per request.
// Reports medians over runs (with ranges), per-run ratios edgemq/peer for the targets, and client,
// server and other CPU (cores) of every edgemq measurement so that the client is seen not to be
// the bottleneck. The peers' list: env BENCH_PEERS (default rabbitmq,rabbitmq-quorum,redis-always,
// nats-async; "none" skips them).
import WebSocket from 'ws';
import os from 'node:os';
import { existsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeClient } from './lib/http.mjs';
import { openPush } from './lib/push.mjs';
import { openProduce, pipelined, pipelinedStream } from './lib/produce-ws.mjs';
import { Producer } from '../dist/client.mjs';
import { closedLoop, cpuMeter, fmt, latencySummary, openLoop, round, waitQuiet } from './lib/stats.mjs';
import { startJitterProbe } from './lib/jitter.mjs';
import { fsyncProbe } from './lib/disk.mjs';
import { ACK_MEANS, LABEL, findPeers, startPeers } from './lib/peers.mjs';
import { groupCpuSec, startServer } from './lib/server.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export const DEFAULTS = {
  compareRuns: 3,
  compareN: 100_000,
  compareSize: 256,
  compareQueues: 1,
  compareBatch: 100,
  compareProduceConns: 8,
  compareSingleConns: 16,
  compareSingleSeconds: 5,
  compareHealthSeconds: 5,
  compareInflight: 1000, // push maxInflight (API: ≤ 1024)
  compareConsumers: 8, // pull loops
  compareReceiveMax: 100,
  compareLatN: 5000,
  compareRate: 1000,
  compareLatLowRate: 100, // also measured at this rate, below the HTTP saturation of wrangler dev (0 skips)
  compareLatLowN: 500,
  compareWarmup: 5000,
  compareLingerMs: 5, // also: the latency published with the SDK's ProducerStream and this lingerMs (0 skips)
  compareWsWindow: 1000, // produce over WebSocket: sends in flight on one connection (the peers' window)
  compareWsRawN: 10_000, // also: raw frames of one message each, no client-side coalescing (0 skips; the bench's raw client does not reconnect, so keep it under the ~5,000 appends after which the server recycles a connection)
  compareSingleWindow: 16, // peers: publishes in flight for the "single" row
  comparePeers: 1, // 0: edgemq only
  compareDirect: 1, // also measure past wrangler's dev proxy (the per-request measurements; 0 skips)
  compareFloor: 1, // also measure wrangler dev serving a Worker that does no work (bench/lib/floor-entry.ts; 0 skips)
  compareRam: 1, // also the WebSocket latency step on a server whose state is in /dev/shm, where commits wait for no disk (0 skips)
  compareQuietCores: 0.3, // before each measurement wait (≤ compareQuietMaxMs) for the rest of the machine to use less
  compareQuietMaxMs: 5000,
  comparePhaseTimeoutSec: 300,
};
const DEFAULT_PEERS = 'rabbitmq,rabbitmq-quorum,redis-always,nats-async';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const enc = encodeURIComponent;
const median = (a) => {
  const s = a.filter(Number.isFinite).sort((x, y) => x - y);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : null;
};
function withTimeout(p, ms, what) {
  let t;
  return Promise.race([p.finally(() => clearTimeout(t)), new Promise((_, rej) => { t = setTimeout(() => rej(new Error(`timeout: ${what} > ${ms} ms`)), ms); })]);
}
function bodyText(size) {
  return randomBytes(Math.ceil(size * 0.75) + 3).toString('base64').replace(/[+/=]/g, 'x').slice(0, size);
}

/** Opens a push consumer; `onFrame(frame, at, ws)` gets every parsed text frame and when it came. */
function openPushParsed(url, topic, group, maxInflight, consumerId, onFrame) {
  return openPush(url, topic, group, { maxInflight, consumerId }, (text, ws) => {
    const at = performance.now();
    let f;
    try { f = JSON.parse(text); } catch { return; }
    onFrame(f, at, ws);
  });
}
const closeWs = (ws) => new Promise((r) => { if (ws.readyState === WebSocket.CLOSED) return r(); ws.once('close', r); ws.close(1000, 'bench done'); setTimeout(r, 3000); });

export async function runCompare({ url, directUrl = null, serverCpu, stateDir = os.tmpdir(), opts: o, log }) {
  const stamp = Date.now().toString(36);
  const phaseMs = o.comparePhaseTimeoutSec * 1000;
  const quiet = () => waitQuiet({ serverCpu, maxCores: o.compareQuietCores, maxMs: o.compareQuietMaxMs });

  /**
   * `n` requests issued open-loop at `rate`/s by `issue(i, settle)`, which calls `settle(i, ok)`
   * when request i is answered: how long the answers took (ms). Throws if any was not `ok`.
   */
  async function answeredIn({ what, wrong, n = o.compareLatN, rate = o.compareRate }, issue) {
    const took = new Float64Array(n).fill(NaN);
    const sentAt = new Float64Array(n);
    let done = 0, bad = 0, allDone;
    const answered = new Promise((r) => { allDone = r; });
    const settle = (i, ok) => { took[i] = performance.now() - sentAt[i]; if (!ok) bad++; if (++done === n) allDone(); };
    await withTimeout(openLoop({ n, rate, issue: (i) => { sentAt[i] = performance.now(); issue(i, settle); } }).then(() => answered), phaseMs, what);
    if (bad) throw new Error(`${what}: ${bad} of ${n} ${wrong}`);
    return latencySummary(took);
  }

  /**
   * The edgemq measurements against one address of the server: `direct` is the workerd running
   * edgemq itself, past wrangler's dev proxy (run.mjs finds it), where only the measurements that
   * cross the proxy per request or per message are repeated.
   */
  function edgemqSide(url, direct = false, { ram = false, cpuOf = serverCpu } = {}) {
    const admin = makeClient(url, { connections: 2 });
    const produceClient = makeClient(url, { connections: o.compareProduceConns });
    const singleClient = makeClient(url, { connections: o.compareSingleConns });
    const consumeClient = makeClient(url, { connections: o.compareConsumers });
    const clients = [admin, produceClient, singleClient, consumeClient];
    const batchBodies = Array.from({ length: 32 }, () => JSON.stringify({ messages: Array.from({ length: o.compareBatch }, () => ({ body: bodyText(o.compareSize) })) }));
    const singleBodies = Array.from({ length: 256 }, () => JSON.stringify({ body: bodyText(o.compareSize) }));
    const pad = bodyText(o.compareSize);
    const wsFrames = Array.from({ length: 256 }, () => JSON.stringify([{ body: bodyText(o.compareSize) }]));
    const wsBodies = Array.from({ length: 256 }, () => bodyText(o.compareSize));

    // ------------------------------------------------------------------ edgemq measurements
    const measured = (r, cpu, extra = {}) => ({
      messages: r.messages, seconds: round(r.ms / 1000, 2), msgPerSec: round((r.messages / r.ms) * 1000), cpu,
      serverCpuUsPerMsg: cpu.serverCpuSec === null ? null : round((cpu.serverCpuSec * 1e6) / r.messages, 1),
      proxyCpuUsPerMsg: cpu.proxyCpuSec == null ? null : round((cpu.proxyCpuSec * 1e6) / r.messages, 1), load1: round(os.loadavg()[0], 2), ...extra,
    });

    async function groupQueues(topic, group) {
      const g = (await admin.request('GET', `/v1/groups/${enc(group)}`)).json;
      return g.queues.filter((q) => q.topic === topic);
    }

    async function produceBatched(topic, n) {
      const requests = Math.ceil(n / o.compareBatch);
      let sent = 0, k = 0;
      const lat = [];
      const meter = cpuMeter(cpuOf);
      const r = await closedLoop({
        workers: o.compareProduceConns, seconds: phaseMs / 1000,
        step: async () => {
          if (sent >= requests) return false;
          sent++;
          const x = await produceClient.request('POST', `/v1/topics/${enc(topic)}/messages`, batchBodies[k++ % batchBodies.length]);
          if (x.json.messages.length !== o.compareBatch) throw new Error(`produce answered ${x.json.messages.length} results`);
          lat.push(x.ms);
          return o.compareBatch;
        },
      });
      if (r.messages < n) throw new Error(`produced ${r.messages} of ${n} within ${o.comparePhaseTimeoutSec} s`);
      return measured(r, meter(), { request: latencySummary(lat) });
    }

    async function produceSingle(topic, seconds) {
      const lat = [];
      let k = 0;
      const meter = cpuMeter(cpuOf);
      const r = await closedLoop({
        workers: o.compareSingleConns, seconds,
        step: async () => {
          const x = await singleClient.request('POST', `/v1/topics/${enc(topic)}/messages`, singleBodies[k++ % singleBodies.length]);
          lat.push(x.ms);
          return 1;
        },
      });
      return measured(r, meter(), { request: latencySummary(lat) });
    }

    async function produceWs(topic, n) {
      const stream = await new Producer({ url, idempotent: false }).openStream(topic);
      try {
        const meter = cpuMeter(cpuOf);
        const r = await pipelinedStream(stream, { n, window: o.compareWsWindow, bodies: wsBodies, timeoutMs: phaseMs });
        return measured(r, meter(), { send: latencySummary(r.lat), frames: r.frames });
      } finally { await stream.close(); }
    }

    async function produceWsRaw(topic, n) {
      const ch = await openProduce(url, topic);
      try {
        const meter = cpuMeter(cpuOf);
        const r = await pipelined(ch, { n, window: o.compareWsWindow, perSend: 1, frames: wsFrames, timeoutMs: phaseMs });
        return measured(r, meter(), { send: latencySummary(r.lat) });
      } finally { await ch.close(); }
    }

    async function health(seconds) {
      const lat = [];
      const meter = cpuMeter(cpuOf);
      const r = await closedLoop({ workers: o.compareSingleConns, seconds, step: async () => { lat.push((await singleClient.request('GET', '/v1/health')).ms); return 1; } });
      return measured(r, meter(), { request: latencySummary(lat) });
    }

    /** Push drain of `n` messages of `group`, acking every frame at once; ends when the broker has all acks. */
    async function pushDrain(topic, group, n) {
      let got = 0, frames = 0, dup = 0, redelivered = 0, badBody = 0, errors = 0, resolveDone;
      const done = new Promise((r) => { resolveDone = r; });
      const seen = new Set();
      const meter = cpuMeter(cpuOf);
      const t0 = performance.now();
      const ws = await openPushParsed(url, topic, group, o.compareInflight, `push-${group}`, (f, _at, sock) => {
        if (f.type === 'error') { errors++; log(`    push error frame: ${JSON.stringify(f).slice(0, 200)}`); return; }
        if (f.type !== 'messages') return;
        frames++;
        const handles = new Array(f.messages.length);
        for (let i = 0; i < f.messages.length; i++) {
          const m = f.messages[i];
          handles[i] = m.receiptHandle;
          const key = m.queueId * 1e9 + m.queueOffset;
          if (seen.has(key)) dup++; else seen.add(key);
          if (m.deliveryAttempt !== 1) redelivered++;
          if (m.body.length !== o.compareSize) badBody++;
        }
        sock.send(JSON.stringify({ type: 'ack', receiptHandles: handles }));
        got += f.messages.length;
        if (got >= n) resolveDone();
      });
      try {
        await withTimeout(done, phaseMs, `push drain (${got}/${n})`);
        const tAll = performance.now();
        // the acks are fire-and-forget frames: wait until the broker reports them all applied
        for (let i = 0; ; i++) {
          const qs = await groupQueues(topic, group);
          if (qs.every((q) => q.lag === 0 && q.inflight === 0)) break;
          if (i > 2000) throw new Error(`push drain: lag/inflight did not reach 0: ${JSON.stringify(qs)}`);
          await sleep(5);
        }
        const ms = performance.now() - t0;
        const cpu = meter();
        if (dup || redelivered || badBody || errors) throw new Error(`push drain: ${dup} duplicates, ${redelivered} redeliveries, ${badBody} bad bodies, ${errors} error frames`);
        return measured({ messages: got, ms }, cpu, { frames, avgFrame: round(got / frames, 1), ackSyncMs: round(performance.now() - tAll, 1) });
      } finally { await closeWs(ws); }
    }

    /** Pull drain: CONSUMERS loops of receive + ack until `n` acked. */
    async function pullDrain(topic, group, n) {
      let claimed = 0, empty = 0, notOk = 0, badBody = 0;
      const recv = [], ack = [];
      const meter = cpuMeter(cpuOf);
      const r = await closedLoop({
        workers: o.compareConsumers, seconds: phaseMs / 1000,
        step: async (w) => {
          const want = Math.min(o.compareReceiveMax, n - claimed);
          if (want <= 0) return false;
          claimed += want;
          const x = await consumeClient.request('POST', `/v1/topics/${enc(topic)}/subscriptions/${enc(group)}/receive`, { maxMessages: want, consumerId: `pull${w}` });
          recv.push(x.ms);
          const msgs = x.json.messages;
          claimed -= want - msgs.length;
          if (!msgs.length) { if (++empty > 200) throw new Error(`pull drain: receive keeps answering nothing (${claimed}/${n})`); await sleep(5); return 0; }
          for (const m of msgs) if (m.body.length !== o.compareSize) badBody++;
          const a = await consumeClient.request('POST', `/v1/topics/${enc(topic)}/subscriptions/${enc(group)}/ack`, { receiptHandles: msgs.map((m) => m.receiptHandle) });
          ack.push(a.ms);
          for (const s of a.json.results) if (s.status !== 'OK') notOk++;
          return msgs.length;
        },
      });
      const cpu = meter();
      if (r.messages !== n || notOk || badBody) throw new Error(`pull drain: ${r.messages}/${n} acked, ${notOk} acks not OK, ${badBody} bad bodies`);
      return measured(r, cpu, { receive: latencySummary(recv), ack: latencySummary(ack), emptyReceives: empty });
    }

    /** Push consumer at the log's end; LAT_N single-message POSTs at RATE/s, open loop. */
    async function latency(topic, group, n = o.compareLatN, rate = o.compareRate, via = 'http') {
      const ch = via === 'ws' ? await openProduce(url, topic) : null;
      // via 'linger': the SDK's ProducerStream, each message one send() call, with lingerMs
      const stream = via === 'linger' ? await new Producer({ url, idempotent: false }).openStream(topic, { lingerMs: o.compareLingerMs }) : null;
      await admin.request('PUT', `/v1/groups/${enc(group)}`, { consumeFrom: 'LAST' });
      await admin.request('POST', `/v1/groups/${enc(group)}/reset-offset`, { topic, to: 'LATEST' });
      const e2e = new Float64Array(n).fill(NaN), pubAck = new Float64Array(n).fill(NaN), sentAt = new Float64Array(n);
      const toStore = new Float64Array(n).fill(NaN), toConsumer = new Float64Array(n).fill(NaN), sentWall = new Float64Array(n);
      let got = 0, foreign = 0, acked = 0, lastGot = performance.now(), resolveDone;
      const done = new Promise((r) => { resolveDone = r; });
      const ws = await openPushParsed(url, topic, group, o.compareInflight, `lat-${group}`, (f, at, sock) => {
        if (f.type !== 'messages') return;
        const handles = [];
        for (const m of f.messages) {
          handles.push(m.receiptHandle);
          const i = Number(String(m.body).slice(0, String(m.body).indexOf(':')));
          if (!Number.isInteger(i) || i < 0 || i >= n || !Number.isNaN(e2e[i])) { foreign++; continue; }
          e2e[i] = at - sentAt[i];
          lastGot = at;
          const wall = Date.now();
          toStore[i] = m.storeTimestamp - sentWall[i];
          toConsumer[i] = wall - m.storeTimestamp;
          if (++got === n) resolveDone();
        }
        sock.send(JSON.stringify({ type: 'ack', receiptHandles: handles }));
      });
      let probe = null;
      try {
        await sleep(300);
        const meter = cpuMeter(cpuOf);
        probe = startJitterProbe();
        // the client's own event loop: a stall here (its GC, say) delays what it timestamps
        const loop = monitorEventLoopDelay({ resolution: 1 });
        loop.enable();
        const t0 = performance.now();
        let failed = null;
        await withTimeout(openLoop({
          n, rate, failed: () => failed,
          issue: (i) => {
            const head = `${i}:`;
            const body = JSON.stringify({ body: head + pad.slice(head.length) });
            const ts = performance.now();
            sentAt[i] = ts;
            sentWall[i] = Date.now();
            (stream ? stream.send({ body: head + pad.slice(head.length) }) : ch ? ch.send(`[${body}]`) : singleClient.request('POST', `/v1/topics/${enc(topic)}/messages`, body))
              .then(() => { pubAck[i] = performance.now() - ts; acked++; }, (e) => { failed = e; });
          },
        }), phaseMs, 'latency publish');
        const sendMs = performance.now() - t0;
        // past the HTTP path's capacity the POSTs queue up in the client: wait for them all, then for
        // the last deliveries; what never comes is reported as missing, not as a failed phase
        const tSent = performance.now();
        while (got < n && performance.now() - tSent < phaseMs) {
          if (failed) throw failed;
          if (acked === n && performance.now() - Math.max(lastGot, tSent) > 10_000) break;
          await Promise.race([done, sleep(100)]);
        }
        const drainMs = performance.now() - t0;
        const cpu = meter();
        const jitter = await probe.stop();
        loop.disable();
        const clientLoop = { p99: round(loop.percentile(99) / 1e6, 2), max: round(loop.max / 1e6, 2) };
        const r2 = (x) => round(x, 2);
        // when the slow ones were sent: one stall shows as one cluster of consecutive sends,
        // a wait at the start as a cluster at 0 ms
        const slow = [];
        for (let i = 0; i < n; i++) {
          if (!(e2e[i] > 20)) continue;
          const at = round(sentAt[i] - t0), last = slow[slow.length - 1];
          if (last && at - last.toMs <= 50) { last.toMs = at; last.count++; last.maxMs = Math.max(last.maxMs, r2(e2e[i])); }
          else slow.push({ fromMs: at, toMs: at, count: 1, maxMs: r2(e2e[i]) });
        }
        return {
          rate, achievedRate: round((n / sendMs) * 1000), messages: n, received: got, missing: n - got, publishAcked: acked, foreign,
          // what the server actually absorbed: all n published and delivered over this long
          servedRate: round((got / drainMs) * 1000),
          // the same split on the wall clock (ms resolution): publish call -> storeTimestamp -> frame received
          split: { toStore: latencySummary(toStore), storeToConsumer: latencySummary(toConsumer) },
          e2e: latencySummary(e2e), pubAck: latencySummary(pubAck),
          slowOver20ms: slow.slice(0, 20),
          // how late a separate idle process woke from 1-ms sleeps meanwhile: the machine's own floor
          jitter, clientLoop, via, cpu, load1: round(os.loadavg()[0], 2), ...(stream ? { frames: stream.stats.frames } : {}),
        };
      } finally { await probe?.stop(); await closeWs(ws); await ch?.close(); await stream?.close(); }
    }

    /**
     * The floor under the WebSocket latency: the same channel at the same rate, but each send is
     * refused by the Worker at once (an empty messages array), so no object and no storage is
     * involved; what is left is the client, wrangler's proxy and the Worker's own frame handling.
     */
    async function wsFloor(topic, n = o.compareLatN, rate = o.compareRate) {
      const ch = await openProduce(url, topic);
      try {
        const meter = cpuMeter(cpuOf);
        const answer = await answeredIn({ what: 'websocket floor', wrong: 'empty sends were not refused with BAD_REQUEST', n, rate },
          (i, settle) => ch.send('[]').then(() => settle(i, false), (e) => settle(i, /BAD_REQUEST/.test(e.message))));
        return { messages: n, rate, answer, cpu: meter() };
      } finally { await ch.close(); }
    }

    async function edgemqRun(run) {
      const tag = `${stamp}-${run}${direct ? '-d' : ram ? '-ram' : ''}`;
      const who = direct ? 'edgemq past the proxy' : ram ? 'edgemq, state in RAM' : 'edgemq';
      const r = { run, startedAt: new Date().toISOString(), load1: round(os.loadavg()[0], 2) };
      const step = async (name, fn) => {
        const q = await quiet();
        const x = await fn();
        x.quietWait = q;
        r[name] = x;
        const c = x.cpu;
        log(`    ${who} run ${run} ${name.padEnd(14)} ` + (x.msgPerSec !== undefined ? `${fmt(x.msgPerSec).padStart(7)}/s` : x.answer ? `refused sends answered p50 ${fmt(x.answer.p50, 2)} p99 ${fmt(x.answer.p99, 2)} ms` : `e2e p50 ${fmt(x.e2e.p50, 2)} p99 ${fmt(x.e2e.p99, 2)} ms, publish→ack p50 ${fmt(x.pubAck.p50, 2)} p99 ${fmt(x.pubAck.p99, 2)} ms, offered ${fmt(x.achievedRate)}/s, served ${fmt(x.servedRate)}/s, missing ${x.missing}, machine wake-up late p99 ${fmt(x.jitter?.p99, 2)} ms, client loop delay p99 ${fmt(x.clientLoop?.p99, 2)} max ${fmt(x.clientLoop?.max, 1)} ms`) +
          `  cores client ${fmt(c.clientCpuCores, 2)} server ${fmt(c.serverCpuCores, 2)} other ${fmt(c.otherCpuCores, 2)}` + (x.serverCpuUsPerMsg != null ? `  server ${fmt(x.serverCpuUsPerMsg, 1)} µs/msg` : ''));
      };
      // warm-up on its own topic, of what this side measures (past the proxy: no pull drain)
      const warm = `cmp-warm-${tag}`;
      await admin.request('POST', '/v1/topics', { name: warm, queues: o.compareQueues });
      for (const g of direct ? ['wpush'] : ['wpush', 'wpull']) await admin.request('PUT', `/v1/groups/${g}-${tag}`, { consumeFrom: 'FIRST' });
      await produceBatched(warm, o.compareWarmup);
      await pushDrain(warm, `wpush-${tag}`, o.compareWarmup);
      if (!direct) await pullDrain(warm, `wpull-${tag}`, o.compareWarmup);
      await produceSingle(warm, 1);
      if (ram) {
        await step('latencyWs', () => latency(warm, `cmp-latws-${tag}`, o.compareLatN, o.compareRate, 'ws'));
        await admin.request('DELETE', `/v1/topics/${enc(warm)}`, undefined, { expect: [204, 404] }).catch(() => {});
        return r;
      }

      const topic = `cmp-${tag}`;
      const gPush = `cmp-push-${tag}`, gPull = `cmp-pull-${tag}`;
      await admin.request('POST', '/v1/topics', { name: topic, queues: o.compareQueues });
      for (const g of [gPush, gPull]) await admin.request('PUT', `/v1/groups/${g}`, { consumeFrom: 'FIRST' });
      await step('produceBatch', () => produceBatched(topic, o.compareN));
      await step('pushDrain', () => pushDrain(topic, gPush, o.compareN));
      if (!direct) {
        await step('pullDrain', () => pullDrain(topic, gPull, o.compareN));
        await step('produceWs', () => produceWs(topic, o.compareN));
        if (o.compareWsRawN > 0) await step('produceWsRaw', () => produceWsRaw(topic, o.compareWsRawN));
      }
      await step('produceSingle', () => produceSingle(topic, o.compareSingleSeconds));
      await step('health', () => health(o.compareHealthSeconds));
      await step('latency', () => latency(topic, `cmp-lat-${tag}`));
      await step('latencyWs', () => latency(topic, `cmp-latws-${tag}`, o.compareLatN, o.compareRate, 'ws'));
      if (!direct && o.compareLingerMs > 0) await step('latencyLinger', () => latency(topic, `cmp-latlinger-${tag}`, o.compareLatN, o.compareRate, 'linger'));
      await step('wsFloor', () => wsFloor(topic));
      if (!direct) {
        // measured alone, between phases: the disk's fsync tail now, under the latencies just measured
        r.disk = await fsyncProbe(stateDir);
        log(`    edgemq run ${run} disk fdatasync (4 KB, one per ms, in the server's state directory) p50 ${fmt(r.disk.p50, 2)} p99 ${fmt(r.disk.p99, 2)} max ${fmt(r.disk.max, 2)} ms`);
        if (o.compareLatLowRate > 0) await step('latencyLow', () => latency(topic, `cmp-latlow-${tag}`, o.compareLatLowN, o.compareLatLowRate));
      }
      for (const t of [warm, topic]) await admin.request('DELETE', `/v1/topics/${enc(t)}`, undefined, { expect: [204, 404] }).catch(() => {});
      return r;
    }
    return { run: edgemqRun, clients };
  }

  const proxied = edgemqSide(url);
  const past = directUrl && o.compareDirect ? edgemqSide(directUrl, true) : null;
  const clients = [...proxied.clients, ...(past?.clients ?? [])];

  // ------------------------------------------------------------------ peers
  const peerList = (process.env.BENCH_PEERS ?? DEFAULT_PEERS).split(',').map((s) => s.trim()).filter((s) => s && s !== 'none');
  // the brokers run only during their own turn (started and stopped around it), so that an idle
  // broker (Erlang's schedulers spin) takes nothing from edgemq's measurements
  let found = null;
  const peerInfo = { requested: peerList, skipped: {}, missing: [], keptLogs: [] };
  if (o.comparePeers && peerList.length) {
    found = findPeers(ROOT);
    peerInfo.missing = found.missing;
    peerInfo.src = found.src; peerInfo.modules = found.modules;
    if (!found.src || !found.modules) {
      log(`peers skipped: ${found.missing.join('; ')}`);
      for (const v of peerList) peerInfo.skipped[v] = found.missing.join('; ');
      found = null;
    } else log(`peers: ${peerList.join(', ')} (benchmark ${found.src}/bench.mjs, clients ${found.modules})`);
  }
  const peerArgs = ['--n', String(o.compareN), '--size', String(o.compareSize), '--window', '1000', '--prefetch', '1000',
    '--lat-n', String(o.compareLatN), '--rate', String(o.compareRate), '--warmup', String(o.compareWarmup), '--ack', 'each', '--phase-timeout', String(o.comparePhaseTimeoutSec)];
  const singleN = 20_000;
  const peerSingleArgs = ['--n', String(singleN), '--size', String(o.compareSize), '--window', String(o.compareSingleWindow), '--prefetch', '1000',
    '--lat-n', '100', '--rate', String(o.compareRate), '--warmup', '1000', '--ack', 'each', '--phase-timeout', String(o.comparePhaseTimeoutSec)];

  async function peersRun(run) {
    if (!found) return null;
    const t0 = Date.now();
    const peers = await startPeers({ variants: peerList, found, log });
    for (const [v, why] of Object.entries(peers.skipped)) { if (!peerInfo.skipped[v]) log(`peers: ${v} skipped: ${why}`); peerInfo.skipped[v] = why; }
    if (!peers.variants.length) { await peers.stop(); return null; }
    let main = [], single = [], q;
    try {
      q = await quiet();
      main = await peers.runPass(peerArgs, { label: `run ${run}` });
      single = await peers.runPass(peerSingleArgs, { label: `run ${run} (window ${o.compareSingleWindow})` });
    } finally {
      const failed = main.length < peers.variants.length || single.length < peers.variants.length || main.some((x) => x.error);
      await peers.stop({ keep: failed });
      if (failed) { peerInfo.keptLogs.push(peers.dir); log(`peers: run ${run} had failures; logs kept in ${peers.dir}`); }
    }
    for (const v of peers.variants) delete peerInfo.skipped[v];
    const out = {};
    for (const row of main) {
      const s = single.find((x) => x.broker === row.broker);
      out[row.broker] = { ...row, single_mps: s && !s.error ? s.produce_mps : null, single_clientCpu: s?.produce_clientCpu, single_brokerCpu: s?.produce_brokerCpu, single_error: s?.error, quietWait: q };
      const x = out[row.broker];
      log(`    peer run ${run} ${row.broker.padEnd(16)} ` + (row.error ? `ERROR ${row.error}` :
        `produce ${fmt(row.produce_mps)}/s  drain ${fmt(row.drain_mps)}/s  single(${o.compareSingleWindow}) ${fmt(x.single_mps)}/s  e2e p50 ${fmt(row.e2e_p50, 2)} p99 ${fmt(row.e2e_p99, 2)} ms  ` +
        `client CPU prod ${fmt(row.produce_clientCpu, 1)} s drain ${fmt(row.drain_clientCpu, 1)} s`));
    }
    log(`  peers run ${run} took ${Math.round((Date.now() - t0) / 1000)} s`);
    return out;
  }

  // ------------------------------------------------------------------ wrangler dev's own floor
  // A second dev server, started for its own measurements and stopped after them: left idle beside
  // edgemq's runs, its wrangler process ran V8's idle-time full collections there, on both cores
  // (perf -a during a WebSocket latency step: 0.26 s of CPU in 7 s, in bursts of concurrent marking).
  const floorBodies = Array.from({ length: 32 }, () => JSON.stringify({ messages: Array.from({ length: o.compareBatch }, () => ({ body: bodyText(o.compareSize) })) }));
  let floorLogged = false, perRunRetries = 0; // the retries of the servers started for each run (floor, RAM)

  /**
   * Starts a server (startServer's `opts`) for one run's steps `what`, hands it and a list for the
   * clients made on it to `use`, then closes those and stops it; null when it could not start.
   */
  async function onOwnServer(what, run, opts, use) {
    let srv;
    try {
      srv = await startServer({ root: ROOT, logFile: join(os.tmpdir(), `edgemq-bench-${what}-${process.pid}.log`), ...opts });
    } catch (e) { log(`    ${what} run ${run} skipped: ${e.message}`); return null; }
    const clients = [];
    try { return await use(srv, clients); } finally {
      perRunRetries += clients.reduce((n, c) => n + c.stats.retries, 0);
      await Promise.all(clients.map((c) => c.close().catch(() => {})));
      await srv.stop();
    }
  }

  /** Starts the floor server, runs floorSteps on it, and stops it; null when it could not start. */
  async function floorRun(run) {
    if (!o.compareFloor) return null;
    return onOwnServer('floor', run, { entry: join(ROOT, 'bench', 'lib', 'floor-entry.ts') }, (floor, clients) => {
      if (!floorLogged) log(`floor: wrangler dev serving a Worker that does no work (bench/lib/floor-entry.ts), started for each run's floor steps`);
      floorLogged = true;
      const get = makeClient(floor.url, { connections: o.compareSingleConns });
      const post = makeClient(floor.url, { connections: o.compareProduceConns });
      clients.push(get, post);
      return floorSteps(run, floor, get, post);
    });
  }

  /** The floor's GETs and batched POSTs, shaped as edgemq's health and produceBatch steps. */
  async function floorSteps(run, floor, floorGet, floorPost) {
    const floorCpu = () => groupCpuSec(floor.pgid);
    const usPer = (cpu, n) => round((cpu.serverCpuSec * 1e6) / n, 1);
    // a fresh server: warmed on every path it is measured on, as edgemq's is by its warm-up topic,
    // then left to settle (a dev server's first seconds are busier than its steady state)
    const single = JSON.stringify({ body: bodyText(o.compareSize) });
    for (let i = 0; i < 500; i++) await floorGet.request('GET', '/v1/health');
    for (let i = 0; i < 50; i++) await floorPost.request('POST', '/v1/topics/floor/messages', floorBodies[i % floorBodies.length]);
    const warm = await openProduce(floor.url, 'floor');
    try {
      await openLoop({ n: 2000, rate: o.compareRate, issue: () => { void floorGet.request('POST', '/v1/topics/floor/messages', single).catch(() => {}); void warm.send(`[${single}]`).catch(() => {}); } });
    } finally { await warm.close(); }
    await sleep(3000);
    await quiet();
    let meter = cpuMeter(floorCpu);
    const h = await closedLoop({ workers: o.compareSingleConns, seconds: o.compareHealthSeconds, step: async () => { await floorGet.request('GET', '/v1/health'); return 1; } });
    const health = { reqPerSec: round(h.msgPerSec), serverCpuUsPerReq: usPer(meter(), h.messages) };
    await quiet();
    meter = cpuMeter(floorCpu);
    const requests = Math.ceil(o.compareN / o.compareBatch);
    let sent = 0, k = 0;
    const b = await closedLoop({
      workers: o.compareProduceConns, seconds: phaseMs / 1000,
      step: async () => {
        if (sent >= requests) return false;
        sent++;
        await floorPost.request('POST', '/v1/topics/floor/messages', floorBodies[k++ % floorBodies.length]);
        return o.compareBatch;
      },
    });
    const produceBatch = { msgPerSec: round(b.msgPerSec), serverCpuUsPerMsg: usPer(meter(), b.messages) };
    log(`    floor run ${run} (a Worker that does no work) GET ${fmt(health.reqPerSec)}/s, ${fmt(health.serverCpuUsPerReq, 1)} µs each; ` +
      `${o.compareBatch}-message POSTs ${fmt(produceBatch.msgPerSec)} msg/s, ${fmt(produceBatch.serverCpuUsPerMsg, 1)} µs/msg`);
    // the latency steps' traffic, shaped as edgemq's: single-message POSTs, then sends on a channel
    const out = { health, produceBatch };
    try {
      await quiet();
      const latency = await answeredIn({ what: 'floor latency', wrong: 'POSTs were not answered 201' },
        (i, settle) => floorGet.request('POST', '/v1/topics/floor/messages', single).then((r) => settle(i, r.status === 201), () => settle(i, false)));
      await quiet();
      const ch = await openProduce(floor.url, 'floor');
      const frame = `[${single}]`;
      const latencyWs = await answeredIn({ what: 'floor latency', wrong: 'sends were not answered sent' },
        (i, settle) => ch.send(frame).then(() => settle(i, true), () => settle(i, false))).finally(() => ch.close());
      log(`    floor run ${run} at ${fmt(o.compareRate)}/s: single POSTs answered p50 ${fmt(latency.p50, 2)} p99 ${fmt(latency.p99, 2)} max ${fmt(latency.max, 1)} ms; ` +
        `channel sends answered p50 ${fmt(latencyWs.p50, 2)} p99 ${fmt(latencyWs.p99, 2)} max ${fmt(latencyWs.max, 1)} ms`);
      Object.assign(out, { latency, latencyWs });
    } catch (e) { log(`    floor run ${run} latency failed: ${e.message}`); }
    return out;
  }

  /**
   * The WebSocket latency step on a second edgemq server whose state is in /dev/shm, where a
   * commit's fsync waits for no disk (informative: RAM is not durable storage). Through its own
   * proxy, on its warm-up topic; stopped after.
   */
  async function ramRun(run) {
    if (!o.compareRam || !existsSync('/dev/shm')) return null;
    return onOwnServer('ram', run, { under: '/dev/shm' }, (srv, clients) => {
      const side = edgemqSide(srv.url, false, { ram: true, cpuOf: () => groupCpuSec(srv.pgid) });
      clients.push(...side.clients);
      return side.run(run);
    });
  }

  // ------------------------------------------------------------------ runs, alternating
  const result = { config: { ...o, peers: peerList, peerSingleN: singleN }, peerInfo, runs: [] };
  try {
    for (let run = 1; run <= o.compareRuns; run++) {
      log(`compare run ${run}/${o.compareRuns}: ${run % 2 ? 'edgemq, then peers' : 'peers, then edgemq'}`);
      const rr = { run };
      const edgemq = async () => {
        rr.edgemq = await proxied.run(run);
        if (past) rr.edgemqDirect = await past.run(run);
        // informative: a failure here is logged, not the bench's
        rr.floor = await floorRun(run).catch((e) => { log(`    floor run ${run} failed: ${e.message}`); return null; });
        rr.ram = await ramRun(run).catch((e) => { log(`    ram run ${run} failed: ${e.message}`); return null; });
      };
      if (run % 2) { await edgemq(); rr.peers = await peersRun(run); } else { rr.peers = await peersRun(run); await edgemq(); }
      result.runs.push(rr);
    }
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => {})));
  }
  result.retries = clients.reduce((n, c) => n + c.stats.retries, 0) + perRunRetries;
  result.summary = summarizeCompare(result);
  return result;
}

// ------------------------------------------------------------------ summary
const TARGETS = [
  { id: 'produceVsRedis', what: 'batched produce ≥ Redis Streams (appendfsync always)', peer: 'redis-always', mine: (e) => e.produceBatch.msgPerSec, theirs: (p) => p.produce_mps, min: 1 },
  { id: 'produceVsRabbit', what: 'batched produce ≥ 3 × RabbitMQ classic durable', peer: 'rabbitmq', mine: (e) => e.produceBatch.msgPerSec, theirs: (p) => p.produce_mps, min: 3 },
  { id: 'produceWsVsRedis', what: 'produce over WebSocket (SDK stream, 1 message per send()) ≥ Redis Streams (appendfsync always)', peer: 'redis-always', mine: (e) => e.produceWs?.msgPerSec ?? NaN, theirs: (p) => p.produce_mps, min: 1 },
  { id: 'produceWsVsRabbit', what: 'produce over WebSocket ≥ 3 × RabbitMQ classic durable', peer: 'rabbitmq', mine: (e) => e.produceWs?.msgPerSec ?? NaN, theirs: (p) => p.produce_mps, min: 3 },
  { id: 'pushDrainVsQuorum', what: 'push drain ≥ RabbitMQ quorum queue drain', peer: 'rabbitmq-quorum', mine: (e) => e.pushDrain.msgPerSec, theirs: (p) => p.drain_mps, min: 1 },
];

/** Target `t`'s ratio edgemq / peer within each run (null where either is missing), of the run's `side`. */
function ratiosPerRun(runs, t, side = 'edgemq') {
  return runs.map((r) => {
    const p = r.peers?.[t.peer];
    if (!r[side] || !p || p.error) return null;
    const x = round(t.mine(r[side]) / t.theirs(p), 3);
    return Number.isFinite(x) ? x : null;
  });
}

function summarizeCompare(res) {
  const ok = res.runs.filter((r) => r.edgemq);
  const em = (f) => median(ok.map((r) => f(r.edgemq)));
  const range = (f) => { const v = ok.map((r) => f(r.edgemq)).filter(Number.isFinite); return v.length ? [Math.min(...v), Math.max(...v)] : null; };
  const edgemq = {};
  const metrics = {
    produceBatch: (e) => e.produceBatch.msgPerSec, produceWs: (e) => e.produceWs?.msgPerSec ?? NaN, produceWsRaw: (e) => e.produceWsRaw?.msgPerSec ?? NaN, produceSingle: (e) => e.produceSingle.msgPerSec, health: (e) => e.health.msgPerSec,
    pushDrain: (e) => e.pushDrain.msgPerSec, pullDrain: (e) => e.pullDrain.msgPerSec,
    e2eP50: (e) => e.latency.e2e.p50, e2eP99: (e) => e.latency.e2e.p99, ackP50: (e) => e.latency.pubAck.p50, ackP99: (e) => e.latency.pubAck.p99,
    latRate: (e) => e.latency.achievedRate, latServed: (e) => e.latency.servedRate ?? NaN, latMissing: (e) => e.latency.missing ?? 0,
    lowE2eP50: (e) => e.latencyLow?.e2e.p50 ?? NaN, lowE2eP99: (e) => e.latencyLow?.e2e.p99 ?? NaN,
    lowAckP50: (e) => e.latencyLow?.pubAck.p50 ?? NaN, lowAckP99: (e) => e.latencyLow?.pubAck.p99 ?? NaN,
    lowStoreToConsumerP50: (e) => e.latencyLow?.split.storeToConsumer.p50 ?? NaN, lowStoreToConsumerP99: (e) => e.latencyLow?.split.storeToConsumer.p99 ?? NaN,
    wsE2eP50: (e) => e.latencyWs?.e2e.p50 ?? NaN, wsE2eP99: (e) => e.latencyWs?.e2e.p99 ?? NaN,
    lingerE2eP50: (e) => e.latencyLinger?.e2e.p50 ?? NaN, lingerE2eP99: (e) => e.latencyLinger?.e2e.p99 ?? NaN,
    lingerFrames: (e) => e.latencyLinger?.frames ?? NaN, lingerServed: (e) => e.latencyLinger?.servedRate ?? NaN,
    jitterP99: (e) => e.latency.jitter?.p99 ?? NaN, wsJitterP99: (e) => e.latencyWs?.jitter?.p99 ?? NaN,
    wsJitterMax: (e) => e.latencyWs?.jitter?.max ?? NaN,
    wsAckP50: (e) => e.latencyWs?.pubAck.p50 ?? NaN, wsAckP99: (e) => e.latencyWs?.pubAck.p99 ?? NaN,
    wsLatServed: (e) => e.latencyWs?.servedRate ?? NaN, wsLatMissing: (e) => e.latencyWs?.missing ?? 0,
    wsStoreToConsumerP50: (e) => e.latencyWs?.split.storeToConsumer.p50 ?? NaN, wsStoreToConsumerP99: (e) => e.latencyWs?.split.storeToConsumer.p99 ?? NaN,
    storeToConsumerP50: (e) => e.latency.split.storeToConsumer.p50, storeToConsumerP99: (e) => e.latency.split.storeToConsumer.p99,
    floorP50: (e) => e.wsFloor?.answer.p50 ?? NaN, floorP99: (e) => e.wsFloor?.answer.p99 ?? NaN,
    diskP50: (e) => e.disk?.p50 ?? NaN, diskP99: (e) => e.disk?.p99 ?? NaN, diskMax: (e) => e.disk?.max ?? NaN,
  };
  for (const [k, f] of Object.entries(metrics)) edgemq[k] = { median: em(f), range: range(f), runs: ok.map((r) => f(r.edgemq)) };
  const cpu = {};
  for (const k of ['produceBatch', 'produceWs', 'produceWsRaw', 'latencyWs', 'latencyLinger', 'pushDrain', 'pullDrain', 'produceSingle', 'health', 'latency', 'latencyLow']) {
    if (!ok.length || !ok[0].edgemq[k]) continue;
    cpu[k] = {
      client: em((e) => e[k].cpu.clientCpuCores), server: em((e) => e[k].cpu.serverCpuCores), other: em((e) => e[k].cpu.otherCpuCores),
      proxy: em((e) => (e[k].cpu.proxyCpuSec == null ? NaN : e[k].cpu.proxyCpuSec / e[k].cpu.wallSec)),
      serverUsPerMsg: k.startsWith('latency') ? null : em((e) => e[k].serverCpuUsPerMsg),
      proxyUsPerMsg: k.startsWith('latency') ? null : em((e) => e[k].proxyCpuUsPerMsg ?? NaN),
    };
  }
  const peers = {};
  for (const v of res.config.peers) {
    const rows = res.runs.map((r) => r.peers?.[v]).filter((x) => x && !x.error);
    if (!rows.length) continue;
    const m = (k) => median(rows.map((x) => x[k]));
    const rg = (k) => { const xs = rows.map((x) => x[k]).filter(Number.isFinite); return xs.length ? [Math.min(...xs), Math.max(...xs)] : null; };
    peers[v] = {
      runsOk: rows.length, durability: rows[0].durability,
      produce: { median: m('produce_mps'), range: rg('produce_mps') }, single: { median: m('single_mps'), range: rg('single_mps') },
      drain: { median: m('drain_mps'), range: rg('drain_mps') },
      e2eP50: m('e2e_p50'), e2eP99: m('e2e_p99'), ackP50: m('ack_p50'), ackP99: m('ack_p99'),
      clientCpuSec: { produce: m('produce_clientCpu'), drain: m('drain_clientCpu') }, brokerCpuSec: { produce: m('produce_brokerCpu'), drain: m('drain_brokerCpu') },
      wallSec: { produce: res.config.compareN / m('produce_mps'), drain: res.config.compareN / m('drain_mps') },
    };
  }
  // targets: ratios within each run (edgemq and the peer measured minutes apart), then their median
  const targets = TARGETS.map((t) => {
    const per = ratiosPerRun(res.runs, t);
    const med = median(per.filter((x) => x !== null));
    return { id: t.id, what: t.what, perRun: per, median: med, need: t.min, pass: med === null ? null : med >= t.min };
  });
  const p99 = edgemq.e2eP99.median;
  targets.push({ id: 'pushP99', what: 'push e2e p99 ≤ 5 ms at 1,000 msg/s (published by single POSTs)', perRun: edgemq.e2eP99.runs, median: p99, need: 5, pass: p99 === null ? null : p99 <= 5, unit: 'ms' });
  const wp99 = edgemq.wsE2eP99.median;
  targets.push({ id: 'pushP99Ws', what: 'push e2e p99 ≤ 5 ms at 1,000 msg/s (published over a produce WebSocket)', perRun: edgemq.wsE2eP99.runs, median: wp99, need: 5, pass: wp99 === null ? null : wp99 <= 5, unit: 'ms' });
  const single = res.runs.map((r) => (r.edgemq ? round(r.edgemq.produceSingle.msgPerSec / r.edgemq.health.msgPerSec, 3) : null));
  const sm = median(single.filter((x) => x !== null));
  targets.push({ id: 'singleVsHealth', what: 'single-message produce ≥ 0.5 × /v1/health request rate', perRun: single, median: sm, need: 0.5, pass: sm === null ? null : sm >= 0.5 });
  return { edgemq, cpu, peers, targets, direct: summarizeDirect(res) };
}

/**
 * The measurements repeated past wrangler's dev proxy (informative: the targets above are judged
 * through the proxy, as `npm start` serves), with the same per-run ratios to the peers.
 */
function summarizeDirect(res) {
  const runs = res.runs.filter((r) => r.edgemq && r.edgemqDirect);
  if (!runs.length) return null;
  const of = (f) => { const v = runs.map(f); return { median: median(v), runs: v }; };
  const ratio = (id) => { const v = ratiosPerRun(runs, TARGETS.find((t) => t.id === id), 'edgemqDirect'); return { median: median(v.filter((x) => x !== null)), runs: v }; };
  return {
    produceBatch: of((r) => r.edgemqDirect.produceBatch.msgPerSec), produceBatchProxied: of((r) => r.edgemq.produceBatch.msgPerSec),
    pushDrain: of((r) => r.edgemqDirect.pushDrain.msgPerSec),
    produceSingle: of((r) => r.edgemqDirect.produceSingle.msgPerSec), health: of((r) => r.edgemqDirect.health.msgPerSec),
    e2eP50: of((r) => r.edgemqDirect.latency.e2e.p50), e2eP99: of((r) => r.edgemqDirect.latency.e2e.p99), latServed: of((r) => r.edgemqDirect.latency.servedRate),
    wsE2eP50: of((r) => r.edgemqDirect.latencyWs.e2e.p50), wsE2eP99: of((r) => r.edgemqDirect.latencyWs.e2e.p99),
    floorP99: of((r) => r.edgemqDirect.wsFloor.answer.p99),
    batchUsPerMsg: of((r) => r.edgemqDirect.produceBatch.serverCpuUsPerMsg ?? NaN), singleUsPerMsg: of((r) => r.edgemqDirect.produceSingle.serverCpuUsPerMsg ?? NaN),
    healthUsPerMsg: of((r) => r.edgemqDirect.health.serverCpuUsPerMsg ?? NaN),
    batchVsRedis: ratio('produceVsRedis'), batchVsRabbit: ratio('produceVsRabbit'), drainVsQuorum: ratio('pushDrainVsQuorum'),
    singleVsHealth: of((r) => round(r.edgemqDirect.produceSingle.msgPerSec / r.edgemqDirect.health.msgPerSec, 3)),
  };
}

function directMarkdown(r) {
  const d = r.summary.direct, c = r.config;
  if (!d) return [];
  const per = (x, digits = 2) => `${fmt(x.median, digits)} (per run ${x.runs.map((v) => fmt(v, digits)).join(', ')})`;
  return [
    '**The same server past wrangler\'s dev proxy** (informative; the targets above are judged through the proxy, which is what `npm start` serves). ' +
      'After each edgemq run, the per-request measurements were repeated against the workerd that runs edgemq, at the port wrangler\'s proxy forwards to (bench/lib/server.mjs `userWorkerUrl`): ' +
      'the same Worker, Durable Objects, storage and fsyncs, without the second workerd in front. A deployed Worker has no such proxy; Cloudflare\'s front end takes its place, on other machines than the object\'s.',
    '',
    '| measurement | past the proxy | ratio in the same run |',
    '|---|---:|---|',
    `| produce batched msg/s | ${per(d.produceBatch, 0)} | ${fmt(d.batchVsRedis.median, 2)}× Redis Streams AOF always (per run ${d.batchVsRedis.runs.map((x) => fmt(x, 2)).join(', ')}); ${fmt(d.batchVsRabbit.median, 2)}× RabbitMQ classic; through the proxy ${fmt(d.produceBatchProxied.median)} |`,
    `| push drain msg/s | ${per(d.pushDrain, 0)} | ${fmt(d.drainVsQuorum.median, 2)}× RabbitMQ quorum |`,
    `| produce single msg/s | ${per(d.produceSingle, 0)} | ${fmt(d.singleVsHealth.median, 2)}× its /v1/health rate (${fmt(d.health.median)} req/s) |`,
    `| push e2e p50 / p99 ms at ${fmt(c.compareRate)}/s, published by single POSTs | ${fmt(d.e2eP50.median, 2)} / ${per(d.e2eP99)} | delivered at ${fmt(d.latServed.median)}/s |`,
    `| push e2e p50 / p99 ms at ${fmt(c.compareRate)}/s, published over a produce WebSocket | ${fmt(d.wsE2eP50.median, 2)} / ${per(d.wsE2eP99)} | floor (refused sends) p99 ${per(d.floorP99)} |`,
    `| server CPU µs per message: batched / single / health | ${fmt(d.batchUsPerMsg.median, 1)} / ${fmt(d.singleUsPerMsg.median, 0)} / ${fmt(d.healthUsPerMsg.median, 0)} | |`,
    '',
  ];
}

const rngTxt = (m, r, d = 0) => (m === null || m === undefined ? '-' : `${fmt(m, d)}${r && r[0] !== r[1] ? ` (${fmt(r[0], d)}–${fmt(r[1], d)})` : ''}`);

export const EDGEMQ_ACK = 'produce: 201 after the batch\'s SQLite transaction in the queue\'s Durable Object has committed; under wrangler dev workerd fsyncs each commit ' +
  '(on its only thread; concurrent produces share a commit: strace on this setup, 79 fsyncs for 200 batched produce requests), in production the commit is confirmed once replicated; ack: a fire-and-forget frame (push), HTTP 200 after commit (pull)';

/** The WebSocket latency step with the state in RAM beside the same step on disk, when measured. */
function ramMarkdown(r) {
  const runs = r.runs.filter((x) => x.ram?.latencyWs && x.edgemq?.latencyWs);
  if (!runs.length) return [];
  const per = (f) => runs.map((x) => fmt(f(x), 2)).join(', ');
  const m = (f) => fmt(median(runs.map(f)), 2);
  return ['', `**The disk's share of that tail** (informative): after each run, a second edgemq server with its state (sources and SQLite files) in /dev/shm, where a commit's fsync waits for no disk, ` +
    `served the same WebSocket latency step through its own proxy, on its warm-up topic: e2e p50/p99 ${m((x) => x.ram.latencyWs.e2e.p50)} / ${m((x) => x.ram.latencyWs.e2e.p99)} ms (p99 per run: ${per((x) => x.ram.latencyWs.e2e.p99)}), ` +
    `against ${per((x) => x.edgemq.latencyWs.e2e.p99)} with the state on disk. RAM is not durable storage: this shows what the disk adds, not a way to run.`, ''];
}

/** wrangler dev's own floor beside edgemq's rates and CPU, when the compare phase measured it. */
function floorMarkdown(r) {
  const runs = r.runs.filter((x) => x.floor && x.edgemq);
  if (!runs.length) return [];
  const m = (f) => median(runs.map(f));
  const per = (f, d = 0) => runs.map((x) => fmt(f(x), d)).join(', ');
  const lat = runs.filter((x) => x.floor.latency && x.edgemq.latency && x.edgemq.latencyWs);
  const ml = (f) => median(lat.map(f));
  const perl = (f, d = 2) => lat.map((x) => fmt(f(x), d)).join(', ');
  const c = r.config;
  return [
    `**wrangler dev's own floor** (medians; per run in brackets): the same dev server serving a Worker that does no work (bench/lib/floor-entry.ts: a GET answers {"status":"ok"}, a POST's body is read and a fixed answer of a ${c.compareBatch}-result produce's size sent), ` +
      `through its proxy, after each edgemq run and under the same load. ` +
      `GETs over ${c.compareSingleConns} connections: ${fmt(m((x) => x.floor.health.reqPerSec))} req/s (${per((x) => x.floor.health.reqPerSec)}) at ${fmt(m((x) => x.floor.health.serverCpuUsPerReq), 1)} µs of server CPU each, against edgemq's GET /v1/health ${fmt(m((x) => x.edgemq.health.msgPerSec))} req/s at ${fmt(m((x) => x.edgemq.health.serverCpuUsPerMsg), 1)} µs. ` +
      `${c.compareBatch}-message POSTs over ${c.compareProduceConns} connections: ${fmt(m((x) => x.floor.produceBatch.msgPerSec))} msg/s (${per((x) => x.floor.produceBatch.msgPerSec)}) at ${fmt(m((x) => x.floor.produceBatch.serverCpuUsPerMsg), 1)} µs per message, against edgemq's batched produce ${fmt(m((x) => x.edgemq.produceBatch.msgPerSec))} msg/s at ${fmt(m((x) => x.edgemq.produceBatch.serverCpuUsPerMsg), 1)} µs. ` +
      'What edgemq adds to a request is the difference; the rest is the dev server\'s (its proxy, miniflare\'s entry worker, the runtime), which a deployed Worker does not run on the same machine.',
    '',
    ...(lat.length ? [
      `**The floor under the latency targets** (the same floor server, after its GETs and POSTs above; ${fmt(c.compareLatN)} requests issued open-loop at ${fmt(c.compareRate)}/s, as edgemq's latency steps): ` +
        `single-message POSTs (${c.compareSingleConns} connections), each answered at once, took p50/p99 ${fmt(ml((x) => x.floor.latency.p50), 2)} / ${fmt(ml((x) => x.floor.latency.p99), 2)} ms from send to 201 (p99 per run: ${perl((x) => x.floor.latency.p99)}; max ${perl((x) => x.floor.latency.max, 1)}), ` +
        `against edgemq's send → delivered to the push consumer p99 ${perl((x) => x.edgemq.latency.e2e.p99)} and send → 201 p99 ${perl((x) => x.edgemq.latency.pubAck.p99)}. ` +
        `Sends on a produce channel that stores nothing, each answered at once, took p50/p99 ${fmt(ml((x) => x.floor.latencyWs.p50), 2)} / ${fmt(ml((x) => x.floor.latencyWs.p99), 2)} ms (p99 per run: ${perl((x) => x.floor.latencyWs.p99)}; max ${perl((x) => x.floor.latencyWs.max, 1)}), ` +
        `against edgemq's send → delivered p99 ${perl((x) => x.edgemq.latencyWs.e2e.p99)} and send → sent p99 ${perl((x) => x.edgemq.latencyWs.pubAck.p99)}. ` +
        'A floor p99 over the 5 ms target is a tail the dev server has with no work behind it.',
      '',
    ] : []),
  ];
}

export function compareMarkdown(r) {
  const s = r.summary, e = s.edgemq, c = r.config;
  const rows = [];
  rows.push(['**edgemq** (wrangler dev, ' + `${c.compareQueues} queue${c.compareQueues > 1 ? 's' : ''})`, rngTxt(e.produceBatch.median, e.produceBatch.range), rngTxt(e.produceWs.median, e.produceWs.range) + (e.produceWsRaw.median ? `; raw 1-message frames ${rngTxt(e.produceWsRaw.median, e.produceWsRaw.range)}` : ''), rngTxt(e.produceSingle.median, e.produceSingle.range),
    rngTxt(e.health.median, e.health.range), rngTxt(e.pushDrain.median, e.pushDrain.range), rngTxt(e.pullDrain.median, e.pullDrain.range),
    `${fmt(e.e2eP50.median, 2)} / ${fmt(e.e2eP99.median, 2)} (POST); ${fmt(e.wsE2eP50.median, 2)} / ${fmt(e.wsE2eP99.median, 2)} (WebSocket)`,
    `${fmt(e.ackP50.median, 2)} / ${fmt(e.ackP99.median, 2)} (POST); ${fmt(e.wsAckP50.median, 2)} / ${fmt(e.wsAckP99.median, 2)} (WebSocket)`, EDGEMQ_ACK]);
  for (const v of c.peers) {
    const p = s.peers[v];
    if (!p) { rows.push([LABEL[v] ?? v, 'skipped', '', '', '', '', '', '', '', r.peerInfo.skipped[v] ?? 'failed in every run']); continue; }
    rows.push([`${LABEL[v] ?? v}${p.runsOk < c.compareRuns ? ` (${p.runsOk}/${c.compareRuns} runs ok)` : ''}`, rngTxt(p.produce.median, p.produce.range), '(= its pipelined produce, left)', rngTxt(p.single.median, p.single.range), 'n/a',
      rngTxt(p.drain.median, p.drain.range) + (v.startsWith('redis') ? ' (XREADGROUP loop)' : ''), 'n/a (push only here)', `${fmt(p.e2eP50, 2)} / ${fmt(p.e2eP99, 2)}`, `${fmt(p.ackP50, 2)} / ${fmt(p.ackP99, 2)}`, ACK_MEANS[v] ?? p.durability]);
  }
  const tg = s.targets.map((t) => `| ${t.what} | ${t.perRun.map((x) => fmt(x, 2)).join(', ')} | ${fmt(t.median, 2)}${t.unit ? ' ' + t.unit : '×'} | ${t.pass === null ? 'n/a (peer not measured)' : t.pass ? '**PASS**' : '**MISS**'} |`);
  const cp = s.cpu;
  const cpuRow = (k, label) => `| ${label} | ${fmt(cp[k].client, 2)} | ${fmt(cp[k].server, 2)} | ${fmt(cp[k].proxy, 2)} | ${fmt(cp[k].other, 2)} | ${fmt(cp[k].serverUsPerMsg, 1)} | ${fmt(cp[k].proxyUsPerMsg, 1)} |`;
  const peerCpu = Object.entries(s.peers).map(([v, p]) => `${LABEL[v] ?? v}: client ${fmt(p.clientCpuSec.produce / p.wallSec.produce, 2)} / ${fmt(p.clientCpuSec.drain / p.wallSec.drain, 2)} cores, broker ${fmt(p.brokerCpuSec.produce / p.wallSec.produce, 2)} / ${fmt(p.brokerCpuSec.drain / p.wallSec.drain, 2)} cores (produce / drain)`);
  const loads = r.runs.map((x) => x.edgemq?.load1).filter(Number.isFinite);
  return [
    `### edgemq beside the peer brokers: ${fmt(c.compareN)} × ${c.compareSize} B, ${c.compareRuns} runs alternating (medians, range in brackets)`,
    '',
    '| system | produce batched msg/s (peers: 1,000 publishes in flight) | produce over WebSocket msg/s (' + fmt(c.compareWsWindow) + ' sends unanswered) | produce single msg/s | /v1/health req/s | push drain msg/s (acks) | pull drain msg/s (acks) | e2e p50 / p99 ms at ' + fmt(c.compareRate) + '/s | publish→ack p50 / p99 ms | what its ack means |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---|',
    ...rows.map((x) => `| ${x.join(' | ')} |`),
    '',
    `- edgemq: batched = ${c.compareBatch} messages per POST over ${c.compareProduceConns} keep-alive connections (undici Pool); ` +
      `over WebSocket = the SDK's ProducerStream on one produce channel (docs/api.md), one message per send() call, ${fmt(c.compareWsWindow)} calls unanswered (idempotent: false, as the peers do not deduplicate; the stream sends the calls of one event-loop turn in frames of up to 256, and the produce channel (in the queue's Broker, for a topic of one queue) coalesces what waits for a queue into one append); ` +
      `raw = ${fmt(c.compareWsRawN)} messages as frames of one message each, ${fmt(c.compareWsWindow)} in flight (no coalescing in the client); single = 1 message per POST over ${c.compareSingleConns} connections, ${c.compareSingleSeconds} s; ` +
      `push drain = one WebSocket, maxInflight ${c.compareInflight}, each frame acked at once with one ack frame, timed until the group reports lag 0 and nothing in flight; ` +
      `pull drain = ${c.compareConsumers} loops of receive (≤ ${c.compareReceiveMax}) + ack; latency = ${fmt(c.compareLatN)} single-message POSTs at ${fmt(c.compareRate)}/s to a running push consumer.`,
    `- Peers: ../shared/peers/bench.mjs unchanged (one producer and one consumer connection, ≤ 1,000 unacked publishes, drain acking each message with prefetch 1,000); ` +
      `their "single" column is a second pass with ${c.compareSingleWindow} publishes in flight (${fmt(r.config.peerSingleN)} messages), the analogue of ${c.compareSingleConns} connections sending one message per request. ` +
      'Their drain is their push consumer (Redis: an XREADGROUP loop, which is a pull); they have no health endpoint.',
    '',
    '**Targets** (ratio edgemq / peer within each run, then the median of the runs):',
    '',
    '| target | per run | median | |',
    '|---|---|---:|---|',
    ...tg,
    '',
    `**Latency, edgemq** (medians of the runs): at ${fmt(c.compareRate)}/s offered (POSTs issued at ${fmt(e.latRate.median)}/s; all ${fmt(c.compareLatN)} published and delivered at ${fmt(e.latServed.median)}/s${e.latMissing.runs.some((x) => x > 0) ? `; never delivered within the wait: ${e.latMissing.runs.join(', ')} per run` : ''}) e2e p50/p99 ${fmt(e.e2eP50.median, 2)} / ${fmt(e.e2eP99.median, 2)} ms, of which storeTimestamp → frame received p50/p99 ${fmt(e.storeToConsumerP50.median)} / ${fmt(e.storeToConsumerP99.median)} ms` +
      (c.compareLatLowRate > 0 ? `; at ${fmt(c.compareLatLowRate)}/s (${fmt(c.compareLatLowN)} messages) e2e p50/p99 ${fmt(e.lowE2eP50.median, 2)} / ${fmt(e.lowE2eP99.median, 2)} ms, publish→201 ${fmt(e.lowAckP50.median, 2)} / ${fmt(e.lowAckP99.median, 2)} ms, storeTimestamp → frame received ${fmt(e.lowStoreToConsumerP50.median)} / ${fmt(e.lowStoreToConsumerP99.median)} ms` : '') +
      `; published over a produce WebSocket at ${fmt(c.compareRate)}/s (delivered at ${fmt(e.wsLatServed.median)}/s${e.wsLatMissing.runs.some((x) => x > 0) ? `; missing ${e.wsLatMissing.runs.join(', ')} per run` : ''}) e2e p50/p99 ${fmt(e.wsE2eP50.median, 2)} / ${fmt(e.wsE2eP99.median, 2)} ms, publish→sent ${fmt(e.wsAckP50.median, 2)} / ${fmt(e.wsAckP99.median, 2)} ms, storeTimestamp → frame received ${fmt(e.wsStoreToConsumerP50.median)} / ${fmt(e.wsStoreToConsumerP99.median)} ms` +
      (Number.isFinite(e.lingerE2eP99.median) ? `; published with the SDK's ProducerStream at ${fmt(c.compareRate)}/s, one send() call each, lingerMs ${fmt(c.compareLingerMs)} (delivered at ${fmt(e.lingerServed.median)}/s, in ${fmt(e.lingerFrames.median)} frames for ${fmt(c.compareLatN)} messages) e2e p50/p99 ${fmt(e.lingerE2eP50.median, 2)} / ${fmt(e.lingerE2eP99.median, 2)} ms (per run p99 ${e.lingerE2eP99.runs.map((x) => fmt(x, 2)).join(', ')})` : '') +
      `. Meanwhile a separate idle process sleeping 1 ms at a time woke late by p99 ${fmt(e.jitterP99.median, 2)} ms (POSTs) and ${fmt(e.wsJitterP99.median, 2)} ms, max ${fmt(e.wsJitterMax.median, 1)} ms (WebSocket): the machine's own scheduling tail, under every hop of a message` +
      `. A single-message POST rate below the offered rate (see produce single) means the ${fmt(c.compareRate)}/s measurement queues up in the HTTP path and its latency is that queue's.`,
    '',
    ...(Number.isFinite(e.floorP99.median) || Number.isFinite(e.diskP99.median) ? [
      `**Floors under those latencies, measured in the same runs** (medians): the same produce channel at ${fmt(c.compareRate)}/s with every send refused by the Worker at once ` +
        `(an empty messages array: no Durable Object, no storage; only the client, wrangler's proxy and the Worker's frame handling) answered in p50/p99 ${fmt(e.floorP50.median, 2)} / ${fmt(e.floorP99.median, 2)} ms (per run: ${e.floorP99.runs.map((x) => fmt(x, 2)).join(', ')}). ` +
        `The disk under the server's state, alone between phases (4 KB appended and fdatasynced once per ms, ${fmt(c.compareRate)} commits/s), took p50/p99/max ${fmt(e.diskP50.median, 2)} / ${fmt(e.diskP99.median, 2)} / ${fmt(e.diskMax.median, 2)} ms (p99 per run: ${e.diskP99.runs.map((x) => fmt(x, 2)).join(', ')}): ` +
        'under wrangler dev each commit of a Durable Object is one fsync made on workerd\'s only thread (strace), and a message is answered and delivered only after its commit\'s fsync, so that tail sits under every produce and delivery (Redis with appendfsync always waits for the same disk).',
    ] : []),
    ...ramMarkdown(r),
    '',
    ...floorMarkdown(r),
    ...directMarkdown(r),
    '**CPU while measuring** (cores; 1.00 = one core busy; the machine has ' + os.cpus().length + '). edgemq (medians over runs):',
    '',
    '| measurement | client | server (wrangler + workerd) | of it wrangler\'s dev proxy | other processes | server µs/msg | of it proxy µs/msg |',
    '|---|---:|---:|---:|---:|---:|---:|',
    cpuRow('produceBatch', 'produce batched'), ...(cp.produceWs ? [cpuRow('produceWs', 'produce over WebSocket (SDK stream)')] : []), ...(cp.produceWsRaw ? [cpuRow('produceWsRaw', 'produce over WebSocket (raw 1-message frames)')] : []), cpuRow('produceSingle', 'produce single'), cpuRow('health', 'GET /v1/health'), cpuRow('pushDrain', 'push drain'), cpuRow('pullDrain', 'pull drain'), cpuRow('latency', `latency (${fmt(c.compareRate)}/s)`),
    ...(cp.latencyWs ? [cpuRow('latencyWs', `latency over WebSocket (${fmt(c.compareRate)}/s)`)] : []),
    ...(cp.latencyLinger ? [cpuRow('latencyLinger', `latency over the SDK stream, lingerMs ${fmt(c.compareLingerMs)} (${fmt(c.compareRate)}/s)`)] : []),
    ...(cp.latencyLow ? [cpuRow('latencyLow', `latency (${fmt(c.compareLatLowRate)}/s)`)] : []),
    '',
    ...(cp.produceBatch?.proxyUsPerMsg != null ? [
      `"Of it wrangler's dev proxy": the workerd process that listens on the server's port and forwards every request to the workerd running edgemq (wrangler dev's ProxyWorker, there for live reload; a deployed Worker has no such hop). ` +
        `It took ${fmt(cp.produceBatch.proxyUsPerMsg, 1)} of the ${fmt(cp.produceBatch.serverUsPerMsg, 1)} µs per message of a batched produce, and ${fmt(cp.health.proxyUsPerMsg, 0)} of the ${fmt(cp.health.serverUsPerMsg, 0)} µs of a GET /v1/health; ` +
        'after the upgrade it forwards WebSocket frames at a small cost (see the WebSocket rows).',
      '',
    ] : []),
    ...(peerCpu.length ? [`Peers (medians): ${peerCpu.join('; ')}.`, ''] : []),
    `Load average (1 min) when each edgemq run began: ${loads.map((x) => fmt(x, 2)).join(', ')}. ` +
      (Object.keys(r.peerInfo.skipped).length ? `Skipped peers: ${Object.entries(r.peerInfo.skipped).map(([k, v]) => `${k} (${v})`).join('; ')}.` : ''),
  ].join('\n');
}
