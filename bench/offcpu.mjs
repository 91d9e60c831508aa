#!/usr/bin/env node
// Off-CPU phase: where the thread that runs edgemq spends a push flow of 1,000 msg/s.
//
// workerd runs the Worker and every Durable Object of the server on one thread, and under
// wrangler dev that thread also makes each commit's fsync. This phase sends MESSAGES one-message
// frames over a produce channel at RATE/s to a topic with a push consumer (acking each frame),
// while `perf record` takes the scheduler's switches and wake-ups and the fsync system calls of
// the whole machine. It reports, for the span of the flow, the share of that thread's time spent
// running, waiting for a CPU, blocked in the kernel (state D: the fsyncs, and WAL writes that wait
// for pages still being written back) and idle, the fsyncs per message and how long each block
// lasted, and the flow's produce→deliver latency.
//
// Needs Linux `perf` with access to tracepoints (root or kernel.perf_event_paranoid <= -1);
// without it the phase is skipped and says why. Only with a server the bench started (its
// processes must be known): node bench/run.mjs --phases offcpu.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { makeClient } from './lib/http.mjs';
import { openProduce } from './lib/produce-ws.mjs';
import { openPush } from './lib/push.mjs';
import { fmt, openLoop, pct, round } from './lib/stats.mjs';
import { edgemqWorkerds } from './lib/server.mjs';

export const DEFAULTS = {
  offcpuMessages: 4000, // below a produce channel's 5,000 appends (it is recycled after them)
  offcpuRate: 1000,
  offcpuRuns: 2,
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const enc = encodeURIComponent;
const mono = () => Number(process.hrtime.bigint()) / 1e6; // CLOCK_MONOTONIC ms, perf's clock below
const EVENTS = ['sched:sched_switch', 'sched:sched_waking', 'syscalls:sys_enter_fsync', 'syscalls:sys_enter_fdatasync'];

/** Why perf cannot record here, or null when it can. */
function perfMissing(dir) {
  const r = spawnSync('perf', ['record', '-q', '-a', '-k', 'CLOCK_MONOTONIC', '-o', join(dir, 'probe.data'), ...EVENTS.flatMap((e) => ['-e', e]), '--', 'true'], { encoding: 'utf8' });
  if (r.error) return `perf is not installed (${r.error.code})`;
  if (r.status !== 0) return `perf cannot record scheduler tracepoints here: ${(r.stderr || '').trim().split('\n')[0]}`;
  return null;
}

/** Parses `perf script` output into switch / wake / fsync events (ms, CLOCK_MONOTONIC). */
function readEvents(file) {
  const r = spawnSync('perf', ['script', '-i', file, '-F', 'pid,tid,cpu,time,event,trace'], { encoding: 'utf8', maxBuffer: 1 << 30 });
  const out = [];
  for (const line of r.stdout.split('\n')) {
    const m = /^\s*(\d+)\/(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+(\S+):\s*(.*)$/.exec(line);
    if (!m) continue;
    const t = Number(m[4]) * 1000;
    if (m[5] === 'sched:sched_switch') {
      const x = /prev_pid=(\d+) .*prev_state=(\S+) ==> .*next_pid=(\d+)/.exec(m[6]);
      if (x) out.push({ t, kind: 'switch', prev: Number(x[1]), prevState: x[2], next: Number(x[3]) });
    } else if (m[5] === 'sched:sched_waking') {
      const x = /pid=(\d+)/.exec(m[6]);
      if (x) out.push({ t, kind: 'wake', tid: Number(x[1]) });
    } else if (m[5].startsWith('syscalls:')) out.push({ t, kind: 'fsync', pid: Number(m[1]) });
  }
  return out;
}

/** ms per state of thread `tid` within [from, to]: run, wait (runnable, no CPU), blocked (D), idle (S). */
function threadStates(events, tid, from, to) {
  const ms = { run: 0, wait: 0, blocked: 0, idle: 0 };
  const blocked = [];
  let state = null, since = from;
  const enter = (s, t) => {
    if (state !== null) {
      const a = Math.max(since, from), b = Math.min(t, to);
      if (b > a) ms[state] += b - a;
      if (state === 'blocked' && since >= from && t <= to) blocked.push(t - since);
    }
    state = s; since = t;
  };
  for (const e of events) {
    if (e.kind === 'switch') {
      if (e.prev === tid) enter(e.prevState.startsWith('R') ? 'wait' : e.prevState.startsWith('D') ? 'blocked' : 'idle', e.t);
      if (e.next === tid) enter('run', e.t);
    } else if (e.kind === 'wake' && e.tid === tid && state !== 'run') enter('wait', e.t);
  }
  enter(null, to);
  const span = to - from;
  const share = Object.fromEntries(Object.entries(ms).map(([k, v]) => [k, round(v / span, 3)]));
  blocked.sort((a, b) => a - b);
  return { share, blockedMs: { n: blocked.length, p50: round(pct(blocked, 50), 3), p99: round(pct(blocked, 99), 3), max: round(blocked[blocked.length - 1] ?? NaN, 2) } };
}

async function oneRun({ url, o, user, proxy, dir, log }) {
  const http = makeClient(url, { connections: 2 });
  const stamp = Date.now().toString(36);
  const topic = `bench-offcpu-${stamp}`, group = `bench-offcpu-g-${stamp}`;
  await http.request('POST', '/v1/topics', { name: topic, queues: 1 });
  await http.request('PUT', `/v1/groups/${enc(group)}`, { consumeFrom: 'LAST' });
  const n = o.offcpuMessages;
  const sentAt = new Float64Array(n), gotAt = new Float64Array(n).fill(NaN);
  let got = 0;
  const push = await openPush(url, topic, group, { maxInflight: 1000, consumerId: 'offcpu' }, (text, ws) => {
    const at = mono();
    const f = JSON.parse(text);
    if (f.type !== 'messages') return;
    for (const m of f.messages) {
      const i = Number(String(m.body).slice(0, String(m.body).indexOf(':')));
      if (Number.isInteger(i) && i >= 0 && i < n && Number.isNaN(gotAt[i])) { gotAt[i] = at; got++; }
    }
    ws.send(JSON.stringify({ type: 'ack', receiptHandles: f.messages.map((m) => m.receiptHandle) }));
  });
  const pad = 'x'.repeat(250);
  const warm = await openProduce(url, topic);
  for (let i = 0; i < 300; i++) await warm.send(JSON.stringify([{ body: `w${i}:${pad}` }]));
  await warm.close();
  const file = join(dir, `run-${stamp}.data`);
  const rec = spawn('perf', ['record', '-q', '-a', '-k', 'CLOCK_MONOTONIC', '-o', file, ...EVENTS.flatMap((e) => ['-e', e])], { stdio: 'ignore' });
  const recorded = new Promise((r) => rec.once('exit', r));
  let ch = null, failed = null;
  try {
    await sleep(1500); // perf is recording
    ch = await openProduce(url, topic);
    await openLoop({
      n, rate: o.offcpuRate, failed: () => failed,
      issue: (i) => {
        sentAt[i] = mono();
        ch.send(JSON.stringify([{ body: `${i}:${pad}` }])).catch((e) => { failed = e; });
      },
    });
    for (const t = performance.now(); got < n && performance.now() - t < 10_000;) await sleep(20);
  } finally {
    rec.kill('SIGINT'); // a system-wide recording must not outlive the run
    await recorded;
    await ch?.close();
    push.close();
    await http.close();
  }
  if (failed) throw failed;
  const from = sentAt[0], to = Math.max(...gotAt.filter((x) => !Number.isNaN(x)));
  const events = readEvents(file);
  rmSync(file, { force: true });
  const fsyncs = events.filter((e) => e.kind === 'fsync' && e.pid === user && e.t >= from && e.t <= to).length;
  const e2e = Float64Array.from(Array.from(gotAt, (x, i) => x - sentAt[i]).filter((x) => !Number.isNaN(x))).sort();
  const r = {
    messages: n, delivered: got, spanMs: round(to - from), events: events.length,
    e2e: { p50: round(pct(e2e, 50), 2), p99: round(pct(e2e, 99), 2), max: round(e2e[e2e.length - 1], 2) },
    fsyncs, fsyncsPerMessage: round(fsyncs / n, 3),
    edgemqThread: threadStates(events, user, from, to),
    proxyThread: proxy === null ? null : threadStates(events, proxy, from, to),
  };
  log(`    ${n} at ${o.offcpuRate}/s: e2e p50/p99 ${fmt(r.e2e.p50, 2)} / ${fmt(r.e2e.p99, 2)} ms; edgemq's thread ${JSON.stringify(r.edgemqThread.share)}, ${r.fsyncsPerMessage} fsyncs/msg`);
  return r;
}

export async function runOffcpu({ url, serverCpu = () => null, opts = {}, log = (s) => console.error(s) }) {
  const o = { ...DEFAULTS, ...opts };
  const dir = mkdtempSync(join(os.tmpdir(), 'edgemq-offcpu-'));
  try {
    const procs = serverCpu.procs ? serverCpu.procs() : [];
    const proxy = serverCpu.proxyPid ?? null;
    const user = edgemqWorkerds(procs, proxy);
    const why = user.length !== 1 ? `the server's workerd is not known (${user.length} candidates; a server given by --url is not traced)` : perfMissing(dir);
    if (why) { log(`  skipped: ${why}`); return { skipped: why, opts: o }; }
    const runs = [];
    for (let k = 0; k < o.offcpuRuns; k++) runs.push(await oneRun({ url: url.replace(/\/+$/, ''), o, user: user[0], proxy, dir, log }));
    return { opts: o, runs };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function offcpuMarkdown(r) {
  const head = '### Where the thread running edgemq spends a push flow of ' + fmt(r.opts.offcpuRate) + ' msg/s';
  if (r.skipped) return `${head}\n\nSkipped: ${r.skipped}.`;
  const pc = (x) => `${fmt(x * 100, 0)}%`;
  const row = (x, k) => `| ${k + 1} | ${fmt(x.e2e.p50, 2)} / ${fmt(x.e2e.p99, 2)} | ${pc(x.edgemqThread.share.run)} | ${pc(x.edgemqThread.share.wait)} | ${pc(x.edgemqThread.share.blocked)} | ${pc(x.edgemqThread.share.idle)} | ${fmt(x.fsyncsPerMessage, 2)} | ${fmt(x.edgemqThread.blockedMs.p50, 2)} / ${fmt(x.edgemqThread.blockedMs.p99, 2)} | ${x.proxyThread ? `${pc(x.proxyThread.share.run)} / ${pc(x.proxyThread.share.wait)}` : '-'} |`;
  return [
    head,
    '',
    `${fmt(r.opts.offcpuMessages)} one-message frames over a produce channel at ${fmt(r.opts.offcpuRate)}/s to a 1-queue topic with a push consumer acking each frame, while \`perf record\` took the scheduler's switches and wake-ups and the fsync calls (bench/offcpu.mjs). ` +
      'workerd runs the Worker and every Durable Object on one thread, and under wrangler dev that thread makes each commit\'s fsync itself; the shares below are of that thread\'s time from the first send to the last delivery.',
    '',
    '| run | e2e p50 / p99 ms | running | runnable, waiting for a CPU | blocked on the disk (D: fsync, WAL writes) | idle | fsyncs per message | each block p50 / p99 ms | wrangler\'s proxy running / waiting |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...r.runs.map(row),
    '',
    'A thread blocked on the disk runs nothing else: the frames that arrive meanwhile wait, and share the next commit. ' +
      'When it is blocked most of the time, the flow runs near that thread\'s capacity, and its latency tail is a queue behind the disk. ' +
      'In production a Durable Object\'s commit is replicated off the isolate\'s thread, and this share does not exist.',
  ].join('\n');
}
