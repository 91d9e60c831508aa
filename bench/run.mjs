#!/usr/bin/env node
// edgemq benchmark harness (`npm run bench`).
//
//   node bench/run.mjs [--phases compare,cost,backlog,scheduled] [--backlog 1000000] [--url http://127.0.0.1:PORT]
//                      [--rounds 5] [--batch-requests 500] [--single-seconds 4] [--fill-batch 1000]
//                      [--consumers 8] [--quiet-max-ms 10000] [--out bench/out] [--timeout 1800]
// (a phase's options are the keys of its DEFAULTS, in kebab-case; see bench/backlog.mjs)
//
// Without --url it starts its own server: `node_modules/.bin/wrangler dev` on a free port with a
// fresh --persist-to directory and --var ALLOW_ANONYMOUS:true, waits for GET /v1/health, runs the
// phases, then kills the whole process group and removes the temporary directory. The server
// runs a copy of src/ + wrangler.toml bundled once (`wrangler deploy --dry-run`) and served with
// --no-bundle, with its own dev registry: other wrangler sessions and edits or `npm install`s
// made meanwhile on this machine would otherwise make wrangler reload the Worker mid-measurement.
// Results: bench/out/<phase>-<time>.json (+ .md), and a markdown summary on stdout; a run of every
// phase (no --phases) also writes it to bench/RESULTS.md. The server runs src/index.ts as shipped,
// except for the cost phase, which restarts it built from bench/lib/cost-entry.ts (src/index.ts plus
// request counters and GET /__bench/cost).
// Peers for the compare phase: bench/lib/peers.mjs (env BENCH_PEERS=none skips them).
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import { execFileSync } from 'node:child_process';
import { startServer, groupCpuSec, groupProcs, listenerPid, pidCpuSec, userWorkerUrl } from './lib/server.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const PHASES = {
  // edgemq beside RabbitMQ, Redis Streams, NATS JetStream (bench/compare.mjs; --compare-* options)
  compare: async () => {
    const m = await import('./compare.mjs');
    return { defaults: m.DEFAULTS, run: m.runCompare, markdown: m.compareMarkdown };
  },
  // rows written/read and requests per message, $ per million messages (bench/cost.mjs; --cost-* options)
  cost: async () => {
    const m = await import('./cost.mjs');
    return { defaults: m.DEFAULTS, run: m.runCost, markdown: m.costMarkdown };
  },
  backlog: async () => {
    const m = await import('./backlog.mjs');
    return { defaults: m.DEFAULTS, run: m.runBacklog, markdown: m.backlogMarkdown };
  },
  // a bounded soak: steady producers and consumers, memory/latency/errors over time (bench/soak.mjs; --soak-* options)
  soak: async () => {
    const m = await import('./soak.mjs');
    return { defaults: m.DEFAULTS, run: m.runSoak, markdown: m.soakMarkdown };
  },
  // lookups by id, key and time on a 1,000,000-message queue vs a small one (bench/query.mjs; --query-* options)
  query: async () => {
    const m = await import('./query.mjs');
    return { defaults: m.DEFAULTS, run: m.runQuery, markdown: m.queryMarkdown };
  },
  // where the thread running edgemq spends a push flow of 1,000 msg/s, from perf's scheduler events (bench/offcpu.mjs; --offcpu-* options)
  offcpu: async () => {
    const m = await import('./offcpu.mjs');
    return { defaults: m.DEFAULTS, run: m.runOffcpu, markdown: m.offcpuMarkdown };
  },
  // lateness of 10,000 scheduled messages due over 3 s in one queue (bench/scheduled.mjs; --scheduled-* options)
  scheduled: async () => {
    const m = await import('./scheduled.mjs');
    return { defaults: m.DEFAULTS, run: m.runScheduled, markdown: m.scheduledMarkdown };
  },
};

// ---------------------------------------------------------------- options
const argv = process.argv.slice(2);
if (argv.includes('--help') || argv.includes('-h')) {
  console.log(readHelp());
  process.exit(0);
}
const flags = {};
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (!a.startsWith('--')) die(`unexpected argument "${a}"`);
  const [k, inline] = a.slice(2).split('=', 2);
  const v = inline ?? argv[++i];
  if (v === undefined) die(`--${k} needs a value`);
  flags[k.replace(/-([a-z])/g, (_, c) => c.toUpperCase())] = v;
}
const phases = (flags.phases ?? Object.keys(PHASES).join(',')).split(',').filter(Boolean);
for (const p of phases) if (!PHASES[p]) die(`unknown phase "${p}"; phases: ${Object.keys(PHASES).join(', ')}`);
const outDir = resolve(flags.out ?? join(ROOT, 'bench', 'out'));
const globalTimeoutSec = Number(flags.timeout ?? 3600);
const allPhases = flags.phases === undefined;
const urlFlag = flags.url;
delete flags.phases; delete flags.out; delete flags.url; delete flags.timeout;

function die(msg) { console.error(`bench: ${msg}\n\n${readHelp()}`); process.exit(2); }
function readHelp() {
  return 'usage: node bench/run.mjs [--phases compare,cost,backlog,soak,query,offcpu,scheduled] [--compare-runs N] [--backlog N] [--url URL] [--rounds N] [--batch-requests N]\n' +
    '         [--single-seconds S] [--fill-batch N] [--consumers N] [--size BYTES] [--out DIR] [--timeout SEC]';
}

/** Phase options: the phase's defaults, overridden by the numeric flags that match them. */
function phaseOptions(defaults) {
  const o = { ...defaults };
  for (const [k, v] of Object.entries(flags)) {
    if (!(k in defaults)) continue;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) die(`--${k} must be a number`);
    o[k] = n;
  }
  return o;
}
const known = new Set();
for (const p of phases) for (const k of Object.keys((await PHASES[p]()).defaults)) known.add(k);
for (const k of Object.keys(flags)) if (!known.has(k)) die(`unknown option --${k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}`);

// ---------------------------------------------------------------- run
const log = (s) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${s}`);
mkdirSync(outDir, { recursive: true });
const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
const machine = {
  node: process.version, cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memGiB: Math.round(os.totalmem() / 2 ** 30),
  platform: `${os.platform()} ${os.release()}`, loadavg1: os.loadavg()[0],
};

/** The code measured: commit, files changed since, and (when the bench starts it) a hash of the copy run. */
function gitInfo() {
  const git = (...a) => { try { return execFileSync('git', a, { cwd: ROOT, encoding: 'utf8' }).trim(); } catch { return null; } };
  const dirty = git('status', '--short', '--', 'src', 'wrangler.toml', 'package.json');
  return { commit: git('rev-parse', '--short', 'HEAD'), uncommitted: dirty ? dirty.split('\n') : [] };
}
const code = gitInfo();

let server = null;
const stopServer = async () => { if (server) { const s = server; server = null; await s.stop(); } };
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, async () => { log(`${sig}: stopping`); await stopServer(); process.exit(130); });
}
const globalTimer = setTimeout(async () => {
  log(`global timeout after ${globalTimeoutSec} s: stopping`);
  await stopServer();
  process.exit(3);
}, globalTimeoutSec * 1000);

let url = urlFlag;
/** the workerd running edgemq, past wrangler's dev proxy (a server the bench started only) */
let directUrl = null;
let serverCpu = () => null;
let failed = false;
const summaries = [];
try {
  // Every phase but cost measures the Worker as shipped (src/index.ts); cost needs the build with
  // request counters (bench/lib/cost-entry.ts, whose stub wrappers cost about 5% of CPU), so the
  // server is restarted with it for that phase.
  let serverEntry;
  let starts = 0;
  const ensureServer = async (entry) => {
    if (server && serverEntry === entry) return;
    await stopServer();
    const logFile = join(outDir, `wrangler-${stamp}-${++starts}${entry ? '-counting' : ''}.log`);
    log(`starting wrangler dev${entry ? ' (build with request counters)' : ''} (log: ${logFile})`);
    // the counting build also turns on the Brokers' SQL counters (off in the Worker as shipped)
    server = await startServer({ root: ROOT, logFile, entry, vars: entry ? ['COST_COUNTERS:true'] : [] });
    serverEntry = entry;
    url = server.url;
    const pgid = server.pgid;
    serverCpu = () => groupCpuSec(pgid);
    serverCpu.procs = () => groupProcs(pgid);
    const proxy = listenerPid(pgid, Number(new URL(url).port));
    serverCpu.proxy = () => (proxy === null ? null : pidCpuSec(proxy));
    serverCpu.proxyPid = proxy;
    directUrl = proxy === null ? null : await userWorkerUrl(pgid, proxy);
    if (!entry) code.sourceHash = server.sourceHash;
    log(`server ${url} healthy after ${server.startMs} ms (sources copied and state kept in ${server.dir}); past wrangler's dev proxy: ${directUrl ?? 'not found'}`);
  };
  if (url) {
    url = url.replace(/\/+$/, '');
    log(`using the running server at ${url} (its CPU is not measured)`);
  }
  for (const name of phases) {
    if (!urlFlag) await ensureServer(name === 'cost' ? join(ROOT, 'bench', 'lib', 'cost-entry.ts') : null);
    const phase = await PHASES[name]();
    const opts = phaseOptions(phase.defaults);
    log(`phase ${name}: ${JSON.stringify(opts)}`);
    const t0 = Date.now();
    let result;
    try {
      // the disk under the server's state (a server given by --url: this machine's temporary directory)
      const stateDir = server ? join(server.dir, 'state') : os.tmpdir();
      result = await phase.run({ url, directUrl, serverCpu, stateDir, opts, log });
    } catch (e) {
      failed = true;
      log(`phase ${name} FAILED: ${e.stack || e.message}`);
      writeFileSync(join(outDir, `${name}-${stamp}.json`), JSON.stringify({ phase: name, error: String(e.stack || e), opts, machine }, null, 2));
      continue;
    }
    result.phase = name;
    result.machine = machine;
    result.code = code;
    result.server = server ? 'wrangler dev (local workerd), started by the bench' : url;
    result.startedAt = new Date(t0).toISOString();
    result.totalSeconds = Math.round((Date.now() - t0) / 1000);
    const file = join(outDir, `${name}-${stamp}.json`);
    writeFileSync(file, JSON.stringify(result, null, 2));
    const md = phase.markdown(result);
    writeFileSync(join(outDir, `${name}-${stamp}.md`), md + '\n');
    summaries.push(md + `\n\n(phase took ${result.totalSeconds} s; full results: ${file})`);
    log(`phase ${name} done in ${result.totalSeconds} s`);
  }
} catch (e) {
  failed = true;
  log(`FAILED: ${e.stack || e.message}`);
} finally {
  await stopServer();
  clearTimeout(globalTimer);
}
const report = (`## edgemq bench ${new Date().toISOString()}\n\nnode ${machine.node}, ${machine.cpus} × ${machine.cpuModel}, ${machine.memGiB} GiB, ${machine.platform}; ` +
  `server: ${urlFlag ?? 'wrangler dev (local workerd), started by the bench'}; client and server share this machine.\n` +
  `code: commit ${code.commit}${code.uncommitted.length ? ` + ${code.uncommitted.length} uncommitted change(s) in src/` : ''}${code.sourceHash ? ` (sources hash ${code.sourceHash})` : ''}.\n`) +
  `\n${summaries.join('\n\n')}\n`;
console.log(report);
if (allPhases && summaries.length) {
  writeFileSync(join(ROOT, 'bench', 'RESULTS.md'), `# edgemq benchmark results\n\nWritten by \`npm run bench\` (bench/run.mjs, every phase); the JSON of each phase is in ${outDir.replace(ROOT + '/', '')}/*-${stamp}.json.\n` +
    (failed ? '\n**Some phases failed in this run: see the log and bench/out.**\n' : '') + `\n${report.replace(/^## /, '## Run of ')}`);
  log(`wrote ${join(ROOT, 'bench', 'RESULTS.md')}`);
}
process.exit(failed ? 1 : 0);
