// A bounded soak: producers and consumers at a steady rate for a few minutes, reporting memory,
// latency and errors over time (issue: "a bounded soak in the benchmark suite ... that reports
// memory, latency and error figures over time"). Producers send small batches over HTTP at
// `soakRate` msg/s; a WebSocket push consumer and a pull consumer (two groups) ack everything.
// Every `soakSampleMs` it records produce latency, produce→deliver latency, errors, lag and the
// server's resident memory; at the end it checks that every produced message reached both groups.
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { makeClient } from './lib/http.mjs';
import { openPush } from './lib/push.mjs';
import { fmt, latencySummary, round } from './lib/stats.mjs';

export const DEFAULTS = {
  soakMinutes: 3,
  soakRate: 500, // messages per second, produced in batches of soakBatch
  soakBatch: 10,
  soakQueues: 4,
  soakSampleMs: 15_000,
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function rssMb(serverCpu) {
  const procs = serverCpu.procs ? serverCpu.procs() : [];
  let kb = 0;
  for (const p of procs) {
    const pid = p.split(' ')[0];
    try { kb += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0); } catch { /* gone */ }
  }
  return procs.length ? kb / 1024 : null;
}

export async function runSoak({ url, opts = {}, log = (s) => console.error(s), serverCpu = () => null }) {
  const o = { ...DEFAULTS, ...opts };
  url = url.replace(/\/+$/, '');
  const http = makeClient(url, { connections: 8 });
  const stamp = Date.now().toString(36);
  const topic = `bench-soak-${stamp}`;
  await http.request('POST', '/v1/topics', { name: topic, queues: o.soakQueues });
  const sent = new Map(); // body id -> send time (ms, performance clock)
  const gotPush = new Set(), gotPull = new Set();
  let window = { produce: [], e2e: [], errors: 0, produced: 0, pushed: 0, pulled: 0 };
  const samples = [];
  let stopping = false;

  // push consumer
  const ws = await openPush(url, topic, 'soak-push', { maxInflight: 512, consumerId: 'soak' }, (text, sock) => {
    const f = JSON.parse(text);
    if (f.type === 'error') { window.errors++; return; }
    if (f.type !== 'messages') return;
    const now = performance.now();
    for (const m of f.messages) {
      const t = sent.get(m.body);
      if (t !== undefined && !gotPush.has(m.body)) window.e2e.push(now - t);
      gotPush.add(m.body);
      window.pushed++;
    }
    sock.send(JSON.stringify({ type: 'ack', receiptHandles: f.messages.map((m) => m.receiptHandle) }));
  });

  // pull consumer
  const pull = (async () => {
    while (!stopping) {
      try {
        const r = await http.request('POST', `/v1/topics/${topic}/subscriptions/soak-pull/receive`, { maxMessages: 100, waitMs: 1000 });
        const ms = r.json.messages;
        if (!ms.length) continue;
        for (const m of ms) gotPull.add(m.body);
        window.pulled += ms.length;
        await http.request('POST', `/v1/topics/${topic}/subscriptions/soak-pull/ack`, { receiptHandles: ms.map((m) => m.receiptHandle) });
      } catch { window.errors++; await sleep(200); }
    }
  })();

  // producers: a steady rate, batches spread evenly
  const perSec = o.soakRate / o.soakBatch;
  const start = performance.now();
  const end = start + o.soakMinutes * 60_000;
  let seq = 0;
  const inflight = new Set();
  const produceLoop = (async () => {
    for (let i = 0; performance.now() < end; i++) {
      const due = start + (i * 1000) / perSec;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      const bodies = Array.from({ length: o.soakBatch }, () => `m${seq++}`);
      const t0 = performance.now();
      for (const b of bodies) sent.set(b, t0);
      const p = http.request('POST', `/v1/topics/${topic}/messages`, JSON.stringify({ messages: bodies.map((body) => ({ body })) }))
        .then((r) => { window.produce.push(r.ms); window.produced += bodies.length; },
          () => { window.errors++; for (const b of bodies) sent.delete(b); })
        .finally(() => inflight.delete(p));
      inflight.add(p);
    }
  })();

  // sampler
  let lastCpu = serverCpu();
  let lastAt = performance.now();
  const sampler = (async () => {
    while (performance.now() < end) {
      await sleep(o.soakSampleMs);
      const w = window;
      window = { produce: [], e2e: [], errors: 0, produced: 0, pushed: 0, pulled: 0 };
      const now = performance.now();
      const cpu = serverCpu();
      const g = await http.request('GET', `/v1/groups/soak-pull`).catch(() => null);
      samples.push({
        atSec: round((now - start) / 1000),
        produced: w.produced, pushed: w.pushed, pulled: w.pulled, errors: w.errors,
        produceMs: latencySummary(w.produce), e2eMs: latencySummary(w.e2e),
        pullLag: g?.json?.lag ?? null,
        serverRssMb: round(rssMb(serverCpu), 1),
        serverCores: cpu !== null && lastCpu !== null ? round((cpu - lastCpu) / ((now - lastAt) / 1000), 2) : null,
      });
      lastCpu = cpu; lastAt = now;
      log(`soak ${samples.at(-1).atSec}s: produced ${w.produced}, e2e p99 ${samples.at(-1).e2eMs.p99} ms, errors ${w.errors}, rss ${samples.at(-1).serverRssMb} MB`);
    }
  })();

  await produceLoop;
  await Promise.all(inflight);
  await sampler;
  // drain: both groups get everything
  const total = sent.size;
  const drainEnd = performance.now() + 60_000;
  while (performance.now() < drainEnd && (gotPush.size < total || gotPull.size < total)) await sleep(200);
  stopping = true;
  ws.close();
  await pull;
  await http.close();
  const missingPush = [...sent.keys()].filter((b) => !gotPush.has(b)).length;
  const missingPull = [...sent.keys()].filter((b) => !gotPull.has(b)).length;
  return { opts: o, produced: total, missingPush, missingPull, samples };
}

export function soakMarkdown(r) {
  return [
    `### soak: ${r.opts.soakMinutes} min at ${fmt(r.opts.soakRate)} msg/s (batches of ${r.opts.soakBatch}, ${r.opts.soakQueues} queues), one push and one pull group`,
    '',
    '| t (s) | produced | pushed | pulled | errors | produce p50/p99 ms | produce→push p50/p99 ms | pull lag | server RSS MB | server cores |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...r.samples.map((s) => `| ${s.atSec} | ${fmt(s.produced)} | ${fmt(s.pushed)} | ${fmt(s.pulled)} | ${s.errors} | ${s.produceMs.p50} / ${s.produceMs.p99} | ${s.e2eMs.p50} / ${s.e2eMs.p99} | ${fmt(s.pullLag)} | ${s.serverRssMb ?? '-'} | ${s.serverCores ?? '-'} |`),
    '',
    `${fmt(r.produced)} messages produced; missing at the end: push group ${r.missingPush}, pull group ${r.missingPull}.`,
  ].join('\n');
}
