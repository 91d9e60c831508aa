// The machine's own scheduling noise: a separate, nearly idle process sleeps 1 ms at a time and
// records how much later than asked it woke up. Its tail is a floor under any latency measured
// on this machine at the same time (a message crosses several processes, each woken this way).
import { spawn } from 'node:child_process';

const PROBE = `
const late = [];
let last = performance.now();
const tick = () => { const now = performance.now(); late.push(now - last - 1); last = now; t = setTimeout(tick, 1); };
let t = setTimeout(tick, 1);
process.stdin.on('data', () => {
  clearTimeout(t);
  const v = Float64Array.from(late).sort();
  const p = (k) => (v.length ? v[Math.min(v.length - 1, Math.floor(k * (v.length - 1)))] : null);
  process.stdout.write(JSON.stringify({ wakeups: v.length, p50: p(0.5), p99: p(0.99), max: p(1), over5ms: v.filter((x) => x > 5).length }));
  process.exit(0);
});`;

/** Starts the probe; `stop()` resolves to its wake-up lateness in ms ({ wakeups, p50, p99, max, over5ms }). */
export function startJitterProbe() {
  const child = spawn(process.execPath, ['-e', PROBE], { stdio: ['pipe', 'pipe', 'ignore'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  const done = new Promise((resolve) => child.on('exit', () => { try { resolve(JSON.parse(out)); } catch { resolve(null); } }));
  let stopped = null;
  const stop = async () => {
    child.stdin.write('x');
    const r = await done;
    return r && { ...r, p50: round2(r.p50), p99: round2(r.p99), max: round2(r.max) };
  };
  return { stop: () => (stopped ??= stop()) }; // once: a second call gets the same answer
}

const round2 = (x) => (x === null ? null : Math.round(x * 100) / 100);
