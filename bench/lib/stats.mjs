// Percentiles, closed-loop load, CPU accounting and table formatting shared by the phases.
import { performance } from 'node:perf_hooks';
import { readFileSync } from 'node:fs';

export function pct(sorted, p) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** p50 / p90 / p99 / max of a list of latencies (ms); NaN entries (never answered, never arrived) are left out of it. */
export function latencySummary(ms) {
  const s = Float64Array.from(ms).filter((x) => !Number.isNaN(x)).sort();
  const r2 = (x) => (Number.isFinite(x) ? Math.round(x * 100) / 100 : null);
  return { n: s.length, p50: r2(pct(s, 50)), p90: r2(pct(s, 90)), p99: r2(pct(s, 99)), max: r2(s[s.length - 1]) };
}

/** Whole-machine CPU seconds from /proc/stat: busy (not idle, not iowait) and iowait; null off Linux. */
export function machineCpu() {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, idle, iowait, irq, softirq, steal] = f;
    return { busy: (user + nice + system + irq + softirq + steal) / 100, iowait: iowait / 100 };
  } catch { return null; }
}

/**
 * Client, server (when its process group is known) and whole-machine CPU over a measured span;
 * `otherCpuCores` is what the rest of the machine used meanwhile (noise from other processes).
 */
export function cpuMeter(serverCpu = () => null) {
  const c0 = process.cpuUsage(), s0 = serverCpu(), m0 = machineCpu(), t0 = performance.now();
  const p0 = serverCpu.procs ? serverCpu.procs() : [];
  const x0 = serverCpu.proxy ? serverCpu.proxy() : null;
  return () => {
    const x1 = serverCpu.proxy ? serverCpu.proxy() : null;
    const proxySec = x0 === null || x1 === null ? null : x1 - x0;
    const c = process.cpuUsage(c0), s1 = serverCpu(), m1 = machineCpu();
    const p1 = serverCpu.procs ? serverCpu.procs() : [];
    const gone = p0.filter((p) => !p1.includes(p)), started = p1.filter((p) => !p0.includes(p));
    const wallSec = (performance.now() - t0) / 1000;
    const clientSec = (c.user + c.system) / 1e6;
    const serverSec = s0 === null || s1 === null ? null : s1 - s0;
    const busy = m0 && m1 ? m1.busy - m0.busy : null;
    return {
      machineBusyCores: busy === null ? null : round(busy / wallSec, 3),
      machineIowaitCores: m0 && m1 ? round((m1.iowait - m0.iowait) / wallSec, 3) : null,
      otherCpuCores: busy === null || serverSec === null ? null : round(Math.max(0, busy - serverSec - clientSec) / wallSec, 3),
      wallSec: round(wallSec, 3),
      clientCpuSec: round(clientSec, 3),
      clientCpuCores: round(clientSec / wallSec, 3), // 1.0 = one core fully busy
      serverCpuSec: serverSec === null ? null : round(serverSec, 2),
      serverCpuCores: serverSec === null ? null : round(serverSec / wallSec, 3),
      // the part of serverCpuSec spent in wrangler's dev proxy (bench/lib/server.mjs listenerPid)
      proxyCpuSec: proxySec === null ? null : round(proxySec, 2),
      ...(gone.length || started.length ? { serverProcsGone: gone, serverProcsStarted: started } : {}),
    };
  };
}

export const round = (x, d = 0) => (Number.isFinite(x) ? Math.round(x * 10 ** d) / 10 ** d : null);

/**
 * Closed loop: `workers` concurrent loops each calling `step(workerIndex)` back to back until
 * `seconds` have passed or `step` returns false. `step` returns the messages it handled
 * (a number) or false when there is nothing left. Latencies are collected by the step itself.
 */
export async function closedLoop({ workers, seconds, step }) {
  const deadline = performance.now() + seconds * 1000;
  let messages = 0, requests = 0;
  const t0 = performance.now();
  let stop = false;
  await Promise.all(Array.from({ length: workers }, async (_, w) => {
    while (!stop && performance.now() < deadline) {
      const n = await step(w);
      if (n === false) { stop = true; break; }
      messages += n; requests++;
    }
  }));
  const ms = performance.now() - t0;
  return { messages, requests, ms, msgPerSec: (messages / ms) * 1000 };
}

/**
 * Open loop: calls `issue(i)` for i = 0..n-1 at `rate` per second (1-ms ticks, catching up when a
 * tick comes late), whatever the answers. Resolves once all are issued; rejects with what
 * `failed()` returns as soon as it returns something.
 */
export function openLoop({ n, rate, issue, failed = () => null }) {
  const t0 = performance.now();
  let sent = 0;
  return new Promise((resolve, reject) => {
    const tick = () => {
      const err = failed();
      if (err) return reject(err);
      const due = Math.min(n, Math.floor(((performance.now() - t0) * rate) / 1000) + 1);
      while (sent < due) issue(sent++);
      if (sent < n) setTimeout(tick, 1); else resolve();
    };
    tick();
  });
}

/** A progress line printer that writes at most every `everyMs`. */
export function throttle(everyMs, fn) {
  let last = 0;
  return (...a) => { const now = Date.now(); if (now - last >= everyMs) { last = now; fn(...a); } };
}

export const fmt = (x, d = 0) => (x === null || x === undefined || !Number.isFinite(x) ? '-' : x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }));

/**
 * Waits (up to `maxMs`) until the rest of the machine is quiet: over a `windowMs` window, the
 * CPU used by processes other than this one and the server stays under `maxCores`.
 * Returns { waitedMs, otherCores } (the last window's figure).
 */
export async function waitQuiet({ serverCpu = () => null, maxCores = 0.3, windowMs = 500, maxMs = 20_000 } = {}) {
  const t0 = performance.now();
  let other = null;
  for (;;) {
    const m0 = machineCpu(), s0 = serverCpu(), c0 = process.cpuUsage(), w0 = performance.now();
    await new Promise((r) => setTimeout(r, windowMs));
    const m1 = machineCpu(), s1 = serverCpu(), c = process.cpuUsage(c0), w = (performance.now() - w0) / 1000;
    if (!m0 || !m1) return { waitedMs: 0, otherCores: null };
    const used = (m1.busy - m0.busy) - (s0 === null || s1 === null ? 0 : s1 - s0) - (c.user + c.system) / 1e6;
    other = round(Math.max(0, used) / w, 2);
    if (other <= maxCores || performance.now() - t0 >= maxMs) return { waitedMs: round(performance.now() - t0), otherCores: other };
  }
}
