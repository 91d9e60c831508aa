#!/usr/bin/env node
// Scheduled phase: how late are scheduled messages?
//
// COUNT messages go into a topic of ONE queue (one Broker object: its due-work table and its one
// alarm), with deliverAt spread evenly over SPREAD ms starting LEAD ms after the first produce
// request (all are stored before the first is due). Batches of BATCH messages, each batch spread
// over the whole window (batch k holds messages k, k + n, k + 2n, ...: the due-work table is not
// filled in due order). A WebSocket push consumer (GET /v1/topics/{t}/subscriptions/{g}/ws),
// connected before the first produce, acks every frame at once.
//
// lateness = the consumer's receive time (Date.now() when the frame arrives) - deliverAt; client
// and server share this machine's clock. Reports p50/p90/p99/max lateness, how many came early
// (lateness < 0: must be 0), missing (never came within the wait), duplicates, and how many came
// out of due order. Target: p99 <= 100 ms locally.
//
//   node bench/scheduled.mjs [--url http://127.0.0.1:PORT] [--scheduled-count 10000]
//        [--scheduled-spread-ms 3000] [--scheduled-lead-ms 5000] [--scheduled-batch 1000]
//        [--scheduled-inflight 1024] [--scheduled-wait-ms 30000] [--out bench/out]
// Without --url it starts its own wrangler dev (bench/lib/server.mjs) and stops it afterwards.
// Also a phase of bench/run.mjs: node bench/run.mjs --phases scheduled.
import os from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeClient } from './lib/http.mjs';
import { openPush } from './lib/push.mjs';
import { cpuMeter, fmt, pct, round, waitQuiet } from './lib/stats.mjs';

export const DEFAULTS = {
  scheduledCount: 10_000,
  scheduledSpreadMs: 3000, // deliverAt spread evenly over this window...
  scheduledLeadMs: 5000, // ...which starts this long after the first produce request
  scheduledBatch: 1000, // messages per produce request
  scheduledInflight: 1024, // the consumer's maxInflight (1..1024)
  scheduledWaitMs: 30_000, // after the last due time, wait this long for stragglers
  scheduledAckEveryMs: 0, // 0: ack each frame as it arrives; else collect acks and send them this often
  targetP99Ms: 100,
  quietCores: 0.3, // before producing, wait until the rest of the machine uses less than this many cores...
  quietMaxMs: 20_000, // ...for at most this long
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const enc = encodeURIComponent;


/**
 * Runs the measurement against a server at `url`. `opts` overrides DEFAULTS; `serverCpu` (optional)
 * answers the server's CPU seconds so far; `log` prints progress.
 */
export async function runScheduled({ url, opts = {}, log = (s) => console.error(s), serverCpu = () => null }) {
  const o = { ...DEFAULTS, ...opts };
  const n = o.scheduledCount;
  url = url.replace(/\/+$/, '');
  const http = makeClient(url, { connections: 4 });
  const topic = `bench-sched-${Date.now().toString(36)}`;
  const group = `bench-sched-g-${Date.now().toString(36)}`;
  await http.request('POST', '/v1/topics', { name: topic, queues: 1, type: 'DELAY' });
  await http.request('PUT', `/v1/groups/${group}`, { consumeFrom: 'FIRST' });

  const recvAt = new Float64Array(n).fill(NaN); // first receive time per message index
  const dueOf = new Float64Array(n).fill(NaN);
  const storeOf = new Float64Array(n).fill(NaN); // storeTimestamp: when the broker's alarm appended it
  let received = 0, duplicates = 0, foreign = 0, errors = 0, outOfOrder = 0, lastDue = -Infinity;
  const errorFrames = [];
  const onFrame = (text, at, socket) => {
    let f;
    try { f = JSON.parse(text); } catch { return; }
    if (f.type === 'error') { errors++; if (errorFrames.length < 5) errorFrames.push(f); return; }
    if (f.type !== 'messages') return;
    const handles = [];
    for (const m of f.messages) {
      handles.push(m.receiptHandle);
      const i = typeof m.body === 'object' && m.body ? m.body.i : undefined;
      if (!Number.isInteger(i) || i < 0 || i >= n) { foreign++; continue; }
      if (!Number.isNaN(recvAt[i])) { duplicates++; continue; }
      recvAt[i] = at;
      storeOf[i] = m.storeTimestamp;
      // the message's own deliverAt (as the server kept it) must be the one we sent
      if (m.deliverAt !== dueOf[i]) foreign++;
      if (m.deliverAt < lastDue) outOfOrder++;
      lastDue = Math.max(lastDue, m.deliverAt);
      received++;
    }
    if (!handles.length) return;
    if (o.scheduledAckEveryMs > 0) { pendingAcks.push(...handles); ackSocket = socket; return; }
    socket.send(JSON.stringify({ type: 'ack', receiptHandles: handles }));
  };
  let pendingAcks = [], ackSocket = null;
  const ackTimer = o.scheduledAckEveryMs > 0 ? setInterval(() => {
    while (pendingAcks.length && ackSocket) ackSocket.send(JSON.stringify({ type: 'ack', receiptHandles: pendingAcks.splice(0, 1000) }));
  }, o.scheduledAckEveryMs) : null;
  const ws = await openPush(url, topic, group, { maxInflight: o.scheduledInflight, consumerId: 'bench-sched' },
    (text, sock) => onFrame(text, Date.now(), sock));
  const closed = new Promise((r) => ws.once('close', (code, reason) => r({ code, reason: reason.toString() })));
  let closeInfo = null;
  closed.then((c) => { closeInfo = c; });

  // ---- produce: every message stored before the first is due
  const quiet = await waitQuiet({ serverCpu, maxCores: o.quietCores, maxMs: o.quietMaxMs });
  if (quiet.otherCores !== null && quiet.otherCores > o.quietCores) log(`scheduled: the machine is busy (${quiet.otherCores} cores used by other processes): lateness will show it`);
  const t0 = Date.now();
  const start = t0 + o.scheduledLeadMs;
  for (let i = 0; i < n; i++) dueOf[i] = start + Math.floor((i * o.scheduledSpreadMs) / n);
  const batches = Math.ceil(n / o.scheduledBatch);
  const cpu = cpuMeter(serverCpu);
  const produceMs = [];
  await Promise.all(Array.from({ length: batches }, async (_, k) => {
    const messages = [];
    for (let i = k; i < n; i += batches) messages.push({ body: { i }, deliverAt: dueOf[i] });
    const r = await http.request('POST', `/v1/topics/${enc(topic)}/messages`, { messages });
    produceMs.push(r.ms);
    if (r.json.messages.some((m) => m.queueOffset !== null)) throw new Error('a scheduled message was stored as due at once');
  }));
  const producedAt = Date.now();
  log(`scheduled: ${n} messages stored in ${producedAt - t0} ms (${batches} requests); first due in ${start - producedAt} ms`);
  if (producedAt > start) log(`scheduled: WARNING: producing took longer than the lead (${o.scheduledLeadMs} ms); raise --scheduled-lead-ms`);

  // ---- wait for every message (or the deadline)
  const end = start + o.scheduledSpreadMs + o.scheduledWaitMs;
  let lastLog = 0;
  while (received < n && Date.now() < end && !closeInfo) {
    await sleep(50);
    if (Date.now() - lastLog > 2000) { lastLog = Date.now(); log(`scheduled: ${received}/${n} received`); }
  }
  // a little longer: anything arriving now would be a duplicate
  await sleep(500);
  const usage = cpu();
  if (ackTimer) clearInterval(ackTimer);
  ws.close(1000, 'bench done');
  await Promise.race([closed, sleep(3000)]);
  try { await http.request('DELETE', `/v1/topics/${enc(topic)}`, undefined, { expect: [204, 404] }); } catch (e) { log(`scheduled: cleanup: ${e.message}`); }
  await http.close();

  const late = [];
  let early = 0, missing = 0, over = 0, minLate = Infinity;
  for (let i = 0; i < n; i++) {
    if (Number.isNaN(recvAt[i])) { missing++; continue; }
    const l = recvAt[i] - dueOf[i];
    late.push(l);
    if (l < 0) early++;
    if (l > o.targetP99Ms) over++;
    minLate = Math.min(minLate, l);
  }
  const s = Float64Array.from(late).sort();
  const lateness = {
    n: s.length, min: s.length ? s[0] : null, p50: pct(s, 50), p90: pct(s, 90), p99: pct(s, 99), max: s.length ? s[s.length - 1] : null,
    mean: s.length ? round(s.reduce((a, b) => a + b, 0) / s.length, 1) : null,
  };
  // where the time goes: the alarm (storeTimestamp - deliverAt) and the push path (receive - storeTimestamp)
  const part = (f) => {
    const xs = [];
    for (let i = 0; i < n; i++) if (!Number.isNaN(recvAt[i])) xs.push(f(i));
    const sx = Float64Array.from(xs).sort();
    return { p50: pct(sx, 50), p99: pct(sx, 99), max: sx.length ? sx[sx.length - 1] : null };
  };
  const breakdown = { alarm: part((i) => storeOf[i] - dueOf[i]), push: part((i) => recvAt[i] - storeOf[i]) };
  // lateness over the window: does it grow (the broker falls behind) or stay flat?
  const buckets = 10;
  const byWindow = Array.from({ length: buckets }, (_, b) => {
    const xs = [];
    for (let i = Math.floor((b * n) / buckets); i < Math.floor(((b + 1) * n) / buckets); i++) if (!Number.isNaN(recvAt[i])) xs.push(recvAt[i] - dueOf[i]);
    const sx = Float64Array.from(xs).sort();
    return { fromMs: Math.round((b * o.scheduledSpreadMs) / buckets), p50: pct(sx, 50), p99: pct(sx, 99), max: sx.length ? sx[sx.length - 1] : null };
  });
  const pass = missing === 0 && early === 0 && duplicates === 0 && lateness.p99 !== null && lateness.p99 <= o.targetP99Ms;
  return {
    opts: o, topic, count: n, received, early, missing, duplicates, outOfOrder, foreign, errors, errorFrames,
    overTarget: over, lateness, breakdown, byWindow, pass,
    produce: { requests: batches, totalMs: producedAt - t0, leadLeftMs: start - producedAt, requestMs: { p50: pct(Float64Array.from(produceMs).sort(), 50), max: Math.max(...produceMs) } },
    closedEarly: closeInfo && received < n ? closeInfo : null,
    cpu: usage, quiet, loadavg1: os.loadavg()[0],
  };
}

export function scheduledMarkdown(r) {
  const L = r.lateness;
  return [
    `### scheduled: ${fmt(r.count)} messages in one queue, due over ${fmt(r.opts.scheduledSpreadMs)} ms, WebSocket push consumer ` +
      `(maxInflight ${r.opts.scheduledInflight}, ${r.opts.scheduledAckEveryMs > 0 ? `acks sent every ${r.opts.scheduledAckEveryMs} ms` : 'acks each frame at once'})`,
    '',
    '| lateness (receive − deliverAt) | ms |',
    '|---|---:|',
    `| p50 | ${fmt(L.p50)} |`, `| p90 | ${fmt(L.p90)} |`, `| p99 | ${fmt(L.p99)} |`, `| max | ${fmt(L.max)} |`, `| min | ${fmt(L.min)} |`,
    '',
    `where it goes (p50/p99/max ms): alarm, storeTimestamp − deliverAt: ${fmt(r.breakdown.alarm.p50)}/${fmt(r.breakdown.alarm.p99)}/${fmt(r.breakdown.alarm.max)} · ` +
      `push, receive − storeTimestamp: ${fmt(r.breakdown.push.p50)}/${fmt(r.breakdown.push.p99)}/${fmt(r.breakdown.push.max)}`,
    '',
    `by due time (ms into the window: p50/p99/max): ${r.byWindow.map((b) => `${b.fromMs}: ${fmt(b.p50)}/${fmt(b.p99)}/${fmt(b.max)}`).join(' · ')}`,
    '',
    `early: **${r.early}** (must be 0) · missing: **${r.missing}** · duplicates: ${r.duplicates} · out of due order: ${r.outOfOrder} · ` +
      `over ${r.opts.targetP99Ms} ms: ${fmt(r.overTarget)} · error frames: ${r.errors}`,
    `target p99 ≤ ${r.opts.targetP99Ms} ms: **${r.pass ? 'PASS' : 'FAIL'}** · produce: ${r.produce.requests} requests in ${fmt(r.produce.totalMs)} ms ` +
      `(${fmt(r.produce.leadLeftMs)} ms to spare before the first due time)` +
      (r.cpu?.serverCpuSec != null ? ` · server CPU ${r.cpu.serverCpuSec} s` : '') +
      ` · other processes used ${fmt(r.cpu?.otherCpuCores ?? r.quiet?.otherCores, 2)} cores meanwhile (load average ${fmt(r.loadavg1, 1)})`,
  ].join('\n');
}

// ---------------------------------------------------------------- standalone
const self = fileURLToPath(import.meta.url);
if (process.argv[1] && resolve(process.argv[1]) === self) {
  const argv = process.argv.slice(2);
  const flags = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h') { console.log('usage: node bench/scheduled.mjs [--url URL] [--scheduled-count N] [--scheduled-spread-ms MS] [--scheduled-lead-ms MS] [--scheduled-batch N] [--scheduled-inflight N] [--scheduled-wait-ms MS] [--out DIR]'); process.exit(0); }
    if (!a.startsWith('--')) { console.error(`unexpected argument ${a}`); process.exit(2); }
    const [k, inline] = a.slice(2).split('=', 2);
    const v = inline ?? argv[++i];
    flags[k.replace(/-([a-z])/g, (_, c) => c.toUpperCase())] = v;
  }
  const opts = {};
  for (const [k, v] of Object.entries(flags)) {
    if (k === 'url' || k === 'out') continue;
    if (!(k in DEFAULTS) || !Number.isFinite(Number(v))) { console.error(`unknown or bad option --${k}`); process.exit(2); }
    opts[k] = Number(v);
  }
  const root = resolve(dirname(self), '..');
  const outDir = resolve(flags.out ?? join(root, 'bench', 'out'));
  mkdirSync(outDir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
  let server = null;
  let url = flags.url;
  let serverCpu = () => null;
  const log = (s) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${s}`);
  let code = 1;
  try {
    if (!url) {
      const { startServer, groupCpuSec } = await import('./lib/server.mjs');
      log('starting wrangler dev');
      server = await startServer({ root, logFile: join(outDir, `wrangler-scheduled-${stamp}.log`) });
      url = server.url;
      serverCpu = () => groupCpuSec(server.pgid);
    }
    const r = await runScheduled({ url, opts, log, serverCpu });
    writeFileSync(join(outDir, `scheduled-${stamp}.json`), JSON.stringify(r, null, 2));
    console.log(scheduledMarkdown(r));
    code = r.pass ? 0 : 1;
  } catch (e) {
    log(`FAILED: ${e.stack || e.message}`);
  } finally {
    if (server) await server.stop();
  }
  process.exit(code);
}
