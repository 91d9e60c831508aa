/**
 * A real `wrangler dev` for the end-to-end tests: started on a free port with its state in a
 * temporary --persist-to directory, stopped by signalling its whole process group (wrangler and
 * its workerd), and restartable on the same persisted state. It runs a snapshot of the project
 * taken when the test file starts (see projectDir), so edits made meanwhile do not reload it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { Api } from './client';

const ROOT = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');
const WRANGLER = join(ROOT, 'node_modules', '.bin', 'wrangler');
/** Left out of the snapshot: big, irrelevant, or local settings (.dev.vars) that would change auth. */
const NOT_COPIED = new Set(['node_modules', '.git', '.wrangler', 'test', 'test-artifacts', 'bench', 'docs', '.dev.vars', '.env']);
const START_TIMEOUT_MS = 90_000;
const LOG_KEEP = 200_000;

export interface ServerOptions {
  /** `--var` bindings, e.g. { ALLOW_ANONYMOUS: 'true' } (the default) or { ADMIN_TOKEN: 's3cret' }; {} for none. */
  vars?: Record<string, string>;
  /** Reuse a state directory (another server's `persistTo`); a fresh temporary one otherwise. */
  persistTo?: string;
  port?: number;
}

/**
 * A port nobody listens on right now, taken below Linux's ephemeral range (32768+): ports the
 * kernel hands out for outgoing connections and workerd's own `:0` sockets never collide with it.
 * 8787 is someone else's.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (port === 8787) continue;
    const ok = await new Promise<boolean>((res) => {
      const s = createServer();
      s.unref();
      s.once('error', () => res(false));
      s.listen(port, '127.0.0.1', () => s.close(() => res(true)));
    });
    if (ok) return port;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every group we started, so that a crashing test file never leaves a wrangler behind. */
const live = new Set<number>();
let snapshot: string | null = null;
process.once('exit', () => {
  for (const pid of live) { try { process.kill(-pid, 'SIGKILL'); } catch { /* gone */ } }
  if (snapshot) rmSync(snapshot, { recursive: true, force: true });
});

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

/**
 * The directory wrangler dev runs in. wrangler dev reloads the Worker whenever a source file
 * changes, which fails requests in flight ("Your worker restarted mid-request"); so by default a
 * test file runs a copy of the project taken when its first server starts (inside .wrangler/ so
 * that node_modules still resolves). EDGEMQ_E2E_LIVE=1 runs the working tree itself instead.
 */
function projectDir(): string {
  if (process.env.EDGEMQ_E2E_LIVE === '1') return ROOT;
  if (!snapshot) {
    // copies left by runs that were killed
    for (const e of existsSync(join(ROOT, '.wrangler')) ? readdirSync(join(ROOT, '.wrangler')) : []) {
      const pid = /^e2e-src-(\d+)$/.exec(e)?.[1];
      if (pid && !alive(Number(pid))) rmSync(join(ROOT, '.wrangler', e), { recursive: true, force: true });
    }
    const dir = join(ROOT, '.wrangler', `e2e-src-${process.pid}`);
    rmSync(dir, { recursive: true, force: true });
    for (const e of readdirSync(ROOT)) if (!NOT_COPIED.has(e)) cpSync(join(ROOT, e), join(dir, e), { recursive: true });
    snapshot = dir;
  }
  return snapshot;
}

export class DevServer {
  private proc: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  private out = '';
  readonly ownsDir: boolean;
  readonly persistTo: string;
  readonly vars: Record<string, string>;
  port: number;

  private constructor(opts: ServerOptions, port: number) {
    this.vars = opts.vars ?? { ALLOW_ANONYMOUS: 'true' };
    this.ownsDir = !opts.persistTo;
    this.persistTo = opts.persistTo ?? mkdtempSync(join(tmpdir(), 'edgemq-e2e-'));
    this.port = port;
  }

  static async start(opts: ServerOptions = {}): Promise<DevServer> {
    if (process.env.EDGEMQ_E2E_LIVE === '1' && existsSync(join(ROOT, '.dev.vars'))) {
      // wrangler dev always loads .dev.vars: an ADMIN_TOKEN there would change what these tests see
      console.warn('test/e2e: a .dev.vars file exists in the project; its variables apply to these servers too');
    }
    const s = new DevServer(opts, opts.port ?? (await freePort()));
    await s.launch();
    return s;
  }

  get url(): string { return `http://127.0.0.1:${this.port}`; }
  get running(): boolean { return this.proc !== null; }
  /** wrangler's output so far (the tail), for failure messages. */
  get log(): string { return this.out; }

  /** Starts wrangler dev; if a port was taken between choosing and binding it, tries fresh ones. */
  private async launch(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.launchOnce();
      } catch (e) {
        if (attempt >= 5 || !/Address already in use/.test(String(e))) throw e;
        this.port = await freePort();
      }
    }
  }

  private async launchOnce(): Promise<void> {
    const args = ['dev', '--ip', '127.0.0.1', '--port', String(this.port), '--inspector-port', String(await freePort()),
      '--persist-to', this.persistTo, '--show-interactive-dev-session=false', '--log-level', 'info'];
    for (const [k, v] of Object.entries(this.vars)) args.push('--var', `${k}:${v}`);
    this.out = '';
    const proc = spawn(WRANGLER, args, {
      cwd: projectDir(),
      detached: true, // its own process group: stop() signals wrangler and workerd together
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, WRANGLER_SEND_METRICS: 'false', NO_COLOR: '1', FORCE_COLOR: '0', CI: '1' },
    });
    this.proc = proc;
    live.add(proc.pid!);
    let ready = false;
    const onData = (b: Buffer) => {
      this.out = (this.out + b.toString()).slice(-LOG_KEEP);
      if (/Ready on /.test(this.out)) ready = true;
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    let code: number | null = null;
    this.exited = new Promise((res) => proc.once('exit', (c, sig) => {
      code = c ?? (sig ? -1 : 0);
      live.delete(proc.pid!);
      if (this.proc === proc) this.proc = null;
      res();
    }));

    const until = Date.now() + START_TIMEOUT_MS;
    while (Date.now() < until) {
      if (code !== null) throw new Error(`wrangler dev exited (${code}) before it was ready:\n${this.out}`);
      if (ready) {
        // ready to listen; answers once the Worker is loaded (any status: a closed server says 401)
        try {
          const r = await fetch(`${this.url}/v1/health`, { signal: AbortSignal.timeout(10_000) });
          await r.arrayBuffer();
          return;
        } catch { /* not yet */ }
      }
      await sleep(100);
    }
    await this.stop('SIGKILL');
    throw new Error(`wrangler dev was not ready within ${START_TIMEOUT_MS} ms:\n${this.out}`);
  }

  /** Signals the whole process group and waits until it is gone and the port is free. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const proc = this.proc;
    if (!proc) return;
    const pid = proc.pid!;
    try { process.kill(-pid, signal); } catch { /* already gone */ }
    const done = await Promise.race([this.exited.then(() => true), sleep(15_000).then(() => false)]);
    if (!done) {
      try { process.kill(-pid, 'SIGKILL'); } catch { /* gone */ }
      await this.exited;
    }
    // workerd may outlive wrangler by a moment: make sure nothing of the group is left
    for (let i = 0; i < 50; i++) {
      try { process.kill(-pid, 0); } catch { break; }
      if (i === 20) { try { process.kill(-pid, 'SIGKILL'); } catch { /* gone */ } }
      await sleep(100);
    }
    live.delete(pid);
    this.proc = null;
  }

  /** Stops (SIGTERM or SIGKILL) and starts again on the same state directory and port. */
  async restart(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await this.stop(signal);
    await this.launch(); // on the same port, or a fresh one if the old is still held
  }

  /** Stops the server and removes its state directory if it created it. */
  async dispose(): Promise<void> {
    await this.stop('SIGTERM');
    if (this.ownsDir) rmSync(this.persistTo, { recursive: true, force: true });
    if (live.size === 0 && snapshot) { rmSync(snapshot, { recursive: true, force: true }); snapshot = null; }
  }
}

/**
 * One server for the test file: started before its tests, disposed after them; a failed test
 * prints the tail of wrangler's output (where the Worker logs its errors).
 */
export function useServer(opts: ServerOptions = {}): { readonly server: DevServer; readonly api: Api } {
  let server: DevServer | null = null;
  let api: Api | null = null;
  beforeAll(async () => {
    server = await DevServer.start(opts);
    api = new Api(() => server!.url);
  });
  afterEach((ctx) => {
    if (ctx.task.result?.state === 'fail' && server) console.error(`--- wrangler dev output (tail) ---\n${server.log.slice(-6000)}`);
  });
  afterAll(async () => { await server?.dispose(); });
  return {
    get server() { if (!server) throw new Error('the server is not started'); return server; },
    get api() { if (!api) throw new Error('the server is not started'); return api; },
  };
}
