// Starts and stops a local `wrangler dev` for the benchmark, and reads its CPU time from /proc.
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, readdirSync, readFileSync, readlinkSync, symlinkSync, createWriteStream } from 'node:fs';
import { createHash } from 'node:crypto';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A TCP port that was free a moment ago (the OS picks it). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

/** Waits until GET /v1/health answers 200, or throws after `timeoutMs` (or when `alive()` turns false). */
export async function waitHealthy(url, timeoutMs = 120_000, alive = () => true) {
  const t0 = Date.now();
  let last = '';
  while (Date.now() - t0 < timeoutMs) {
    if (!alive()) throw new Error('the server exited before it became healthy');
    try {
      const r = await fetch(`${url}/v1/health`, { signal: AbortSignal.timeout(2000) });
      await r.arrayBuffer();
      if (r.status === 200) return Date.now() - t0;
      last = `status ${r.status}`;
    } catch (e) { last = e.message; }
    await sleep(250);
  }
  throw new Error(`server at ${url} not healthy after ${timeoutMs} ms (${last})`);
}

/** Files the Worker is built from; the bench runs a copy, so edits made meanwhile do not reload it. */
const SNAPSHOT = ['src', 'wrangler.toml', 'wrangler.json', 'wrangler.jsonc', 'package.json', 'tsconfig.json'];

/** Copies the Worker's sources into `dir` (node_modules linked); returns a hash of what was copied. */
function snapshot(root, dir, extra = []) {
  mkdirSync(dir, { recursive: true });
  const h = createHash('sha256');
  const walk = (rel) => {
    const abs = join(root, rel);
    if (!existsSync(abs)) return;
    if (readdirSafe(abs)) { for (const e of readdirSafe(abs).sort()) walk(join(rel, e)); return; }
    h.update(rel).update('\0').update(readFileSync(abs)).update('\0');
  };
  for (const f of SNAPSHOT) {
    if (!existsSync(join(root, f))) continue;
    cpSync(join(root, f), join(dir, f), { recursive: true });
    walk(f);
  }
  for (const f of extra) h.update(f).update('\0').update(readFileSync(join(dir, f))).update('\0');
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return h.digest('hex').slice(0, 16);
}
function readdirSafe(p) { try { return readdirSync(p); } catch { return null; } }

/**
 * Spawns `node_modules/.bin/wrangler dev` in its own process group, on a snapshot of the
 * sources and with fresh persisted state, both in one temporary directory.
 * Returns { url, pgid, sourceHash, stop() }; stop() kills the whole group and removes the directory.
 * `under`: where that directory goes (the system's temporary directory; /dev/shm keeps the state in RAM).
 */
export async function startServer({ root, logFile, entry = null, vars = [], under = tmpdir() }) {
  const port = await freePort();
  const tmp = mkdtempSync(join(under, 'edgemq-bench-'));
  const app = join(tmp, 'app');
  const persist = join(tmp, 'state');
  // `entry` (optional): a module that wraps src/index.ts (bench/lib/cost-entry.ts), built instead of `main`;
  // `vars`: more `NAME:value` Worker variables (COST_COUNTERS:true for the cost phase)
  const entryCopy = entry ? join('bench-entry', 'index.ts') : null;
  if (entry) { mkdirSync(join(app, 'bench-entry'), { recursive: true }); cpSync(entry, join(app, entryCopy)); }
  const sourceHash = snapshot(root, app, entry ? [entryCopy] : []);
  const bin = join(root, 'node_modules', '.bin', 'wrangler');
  // Isolated from the other wrangler sessions on this machine: its own dev registry, no config
  // watching, and a bundle built once up front and served with --no-bundle, so that an
  // `npm install` or a source edit elsewhere cannot make wrangler reload the Worker mid-run.
  const env = {
    ...process.env, WRANGLER_SEND_METRICS: 'false', CI: '1', NO_COLOR: '1',
    WRANGLER_REGISTRY_PATH: join(tmp, 'registry'), WRANGLER_CI_DISABLE_CONFIG_WATCHING: 'true',
  };
  try {
    await promisify(execFile)(bin, ['deploy', ...(entryCopy ? [entryCopy] : []), '--dry-run', '--outdir', join(app, 'dist')], { cwd: app, env, maxBuffer: 1 << 24 });
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw new Error(`building the Worker failed: ${(e.stdout || '') + (e.stderr || e.message)}`);
  }
  const args = ['dev', join('dist', 'index.js'), '--no-bundle', '--port', String(port), '--ip', '127.0.0.1', '--persist-to', persist,
    '--var', 'ALLOW_ANONYMOUS:true', ...vars.flatMap((v) => ['--var', v]), '--log-level', process.env.BENCH_WRANGLER_LOG_LEVEL || 'warn', '--show-interactive-dev-session=false'];
  const log = createWriteStream(logFile);
  const child = spawn(bin, args, {
    cwd: app, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env,
  });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  let exited = false;
  child.on('exit', () => { exited = true; });
  const url = `http://127.0.0.1:${port}`;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    const kill = (sig) => { try { process.kill(-child.pid, sig); } catch { /* already gone */ } };
    kill('SIGTERM');
    for (let i = 0; i < 50 && groupPids(child.pid).length; i++) await sleep(100);
    if (groupPids(child.pid).length) kill('SIGKILL');
    for (let i = 0; i < 30 && groupPids(child.pid).length; i++) await sleep(100);
    rmSync(tmp, { recursive: true, force: true });
    log.end();
  };
  try {
    const ms = await waitHealthy(url, 180_000, () => !exited);
    return { url, pgid: child.pid, dir: tmp, sourceHash, startMs: ms, stop };
  } catch (e) {
    await stop();
    throw new Error(`${e.message}; see ${logFile}`);
  }
}

/** Pids of the processes in process group `pgid` (Linux /proc). */
export function groupPids(pgid) {
  const out = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const fields = statFields(d);
    if (fields && Number(fields[2]) === pgid && fields[0] !== 'Z') out.push(Number(d));
  }
  return out;
}

/**
 * CPU seconds (user + system) used so far by the processes of group `pgid`, including the
 * children they have reaped (so that a process that exits does not take its time along), or null.
 */
export function groupCpuSec(pgid) {
  if (!pgid) return null;
  let ticks = 0;
  for (const pid of groupPids(pgid)) {
    const x = statFields(pid); // gone meanwhile: null
    if (x) ticks += Number(x[11]) + Number(x[12]) + Number(x[13]) + Number(x[14]); // utime stime cutime cstime (CLK_TCK = 100)
  }
  return ticks / 100;
}

/** The processes of group `pgid` as "pid name" strings (a changed pid means a restart). */
export function groupProcs(pgid) {
  if (!pgid) return [];
  return groupPids(pgid).map((pid) => {
    try {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return `${pid} ${f.slice(f.indexOf('(') + 1, f.lastIndexOf(')'))}`;
    } catch { return null; }
  }).filter(Boolean).sort();
}

/** The TCP sockets in LISTEN state on this machine: socket inode -> port (Linux /proc/net/tcp). */
function listeningInodes() {
  const byPort = new Map();
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try { text = readFileSync(f, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const x = line.trim().split(/\s+/);
      if (x.length > 9 && x[3] === '0A') byPort.set(x[9], parseInt(x[1].split(':')[1], 16)); // 0A: LISTEN; inode -> port
    }
  }
  return byPort;
}

/** Socket inodes held open by process `pid`. */
function socketInodes(pid) {
  const out = [];
  let fds = [];
  try { fds = readdirSync(`/proc/${pid}/fd`); } catch { return out; }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) out.push(m[1]);
    } catch { /* closed meanwhile */ }
  }
  return out;
}

/**
 * The process of group `pgid` that listens on `port` (127.0.0.1), or null: under wrangler dev
 * that is wrangler's dev proxy (a workerd of its own that forwards every request and WebSocket
 * frame to the workerd running edgemq), which a deployed Worker does not have.
 */
export function listenerPid(pgid, port) {
  const listening = listeningInodes();
  for (const pid of groupPids(pgid)) {
    if (socketInodes(pid).some((i) => listening.get(i) === port)) return pid;
  }
  return null;
}

/** Of a group's processes (groupProcs), the workerd ones that are not wrangler's dev proxy: edgemq's. */
export function edgemqWorkerds(procs, proxyPid) {
  return procs.map((p) => p.split(' ')).filter(([pid, comm]) => comm === 'workerd' && Number(pid) !== proxyPid).map(([pid]) => Number(pid));
}

/**
 * The URL at which the workerd running edgemq answers directly, past wrangler's dev proxy, or
 * null: of the ports that the group's other workerd listens on, the one where GET /v1/health
 * answers 200 (wrangler picks them at random; the proxy forwards to it).
 */
export async function userWorkerUrl(pgid, proxyPid) {
  const listening = listeningInodes();
  for (const pid of edgemqWorkerds(groupProcs(pgid), proxyPid)) {
    for (const inode of socketInodes(pid)) {
      const port = listening.get(inode);
      if (port === undefined) continue;
      const url = `http://127.0.0.1:${port}`;
      try {
        const r = await fetch(`${url}/v1/health`, { signal: AbortSignal.timeout(2000) });
        if (r.ok && (await r.json()).status === 'ok') return url;
      } catch { /* another of its ports (inspector, loopback services) */ }
    }
  }
  return null;
}

/** CPU seconds (user + system) used so far by process `pid`, or null once it is gone. */
export function pidCpuSec(pid) {
  const x = statFields(pid);
  return x ? (Number(x[11]) + Number(x[12])) / 100 : null;
}

/** The fields of /proc/PID/stat after the command name (state first), or null once it is gone. */
function statFields(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return f.slice(f.lastIndexOf(')') + 2).split(' ');
  } catch { return null; }
}
