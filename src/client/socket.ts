/**
 * One WebSocket API over the three runtimes the SDK runs in:
 * - Node: the `ws` package (Node 20 has no global WebSocket), which sends the token as a header
 *   and shows why an upgrade was refused (status and error body);
 * - Cloudflare Workers: `fetch` with `Upgrade: websocket` (the answer's status when refused);
 * - browsers (and any other runtime with a global WebSocket): the token goes in `?token=`; the
 *   browser hides why an upgrade failed, so the same URL is asked over plain HTTP to find out.
 */
import { EdgeMQError, errorFromFailure, errorFromResponse } from './errors';

export interface SocketEvents {
  onMessage(data: string): void;
  onClose(code: number, reason: string): void;
}

export interface Socket {
  readonly isOpen: boolean;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export interface OpenRequest {
  /** http(s) URL of the WebSocket endpoint, with its query */
  url: string;
  token?: string;
  headers?: Record<string, string>;
  handshakeTimeoutMs: number;
  /** Node only: ping this often, and drop a connection silent for two of these (0: never) */
  heartbeatMs: number;
  /** why the endpoint refuses, asked over plain HTTP (for runtimes that hide it) */
  probe: () => Promise<EdgeMQError | null>;
}

/** Opens a socket; rejects with EdgeMQError (with the HTTP status when the server refused). */
export type SocketFactory = (req: OpenRequest, events: SocketEvents) => Promise<Socket>;

/** A constructor compatible with the standard WebSocket (or `ws`), to supply one explicitly. */
export type WebSocketConstructor = new (url: string, ...rest: any[]) => any; // eslint-disable-line @typescript-eslint/no-explicit-any

const g = globalThis as unknown as {
  WebSocket?: WebSocketConstructor;
  WebSocketPair?: unknown;
  process?: { versions?: { node?: string } };
};
const isWorkers = () => typeof g.WebSocketPair === 'function';
const isNode = () => !!g.process?.versions?.node && !isWorkers();
// a variable, so that bundlers for browsers and Workers leave `ws` alone
const WS_MODULE = 'ws';

let nodeWs: Promise<WebSocketConstructor | null> | null = null;
function loadWs(): Promise<WebSocketConstructor | null> {
  nodeWs ??= import(/* @vite-ignore */ WS_MODULE).then((m) => (m.WebSocket ?? m.default) as WebSocketConstructor, () => null);
  return nodeWs;
}

const toWs = (url: string) => url.replace(/^http/i, 'ws');

/** The factory for this runtime, or around an explicitly given WebSocket constructor. */
export async function defaultSocketFactory(ctor?: WebSocketConstructor): Promise<SocketFactory> {
  if (ctor) return isWsPackage(ctor) ? wsPackageFactory(ctor) : standardFactory(ctor);
  if (isWorkers()) return workersFactory;
  if (isNode()) {
    const ws = await loadWs();
    if (ws) return wsPackageFactory(ws);
    if (g.WebSocket) return standardFactory(g.WebSocket);
    throw new EdgeMQError('BAD_REQUEST', 'PushConsumer needs a WebSocket: this Node has no global WebSocket (Node < 22); `npm install ws`, or pass { WebSocket } in the options');
  }
  if (g.WebSocket) return standardFactory(g.WebSocket);
  throw new EdgeMQError('BAD_REQUEST', 'PushConsumer needs a WebSocket: this runtime has none; pass { WebSocket } in the options');
}

function isWsPackage(ctor: WebSocketConstructor): boolean {
  const p = (ctor as unknown as { prototype?: Record<string, unknown> }).prototype;
  return !!p && typeof p.on === 'function' && typeof p.terminate === 'function';
}

/** Node's `ws`: headers, the refusal's status and body, and ping/pong liveness. */
function wsPackageFactory(WS: WebSocketConstructor): SocketFactory {
  return (req, events) => new Promise<Socket>((resolve, reject) => {
    const headers: Record<string, string> = { ...(req.headers ?? {}) };
    if (req.token) headers.Authorization = `Bearer ${req.token}`;
    const ws = new WS(toWs(req.url), { headers, handshakeTimeout: req.handshakeTimeoutMs, perMessageDeflate: false });
    let opened = false;
    let settled = false;
    let heartbeat: ReturnType<typeof setInterval> | undefined;
    let lastHeard = Date.now();
    const fail = (e: EdgeMQError) => { if (!settled) { settled = true; reject(e); } };
    const socket: Socket = {
      get isOpen() { return ws.readyState === 1; },
      send: (d) => ws.send(d),
      close: (code = 1000, reason = '') => { try { ws.close(code, reason); } catch { ws.terminate(); } },
    };
    ws.on('open', () => {
      opened = true; settled = true;
      lastHeard = Date.now();
      if (req.heartbeatMs > 0) {
        heartbeat = setInterval(() => {
          // nothing (no pong, no frame) for two intervals: the connection is gone without a close
          if (Date.now() - lastHeard > 2 * req.heartbeatMs) { ws.terminate(); return; }
          try { ws.ping(); } catch { /* closing */ }
        }, req.heartbeatMs);
        (heartbeat as { unref?: () => void }).unref?.();
      }
      resolve(socket);
    });
    ws.on('pong', () => { lastHeard = Date.now(); });
    ws.on('message', (data: { toString(): string }, isBinary: boolean) => {
      lastHeard = Date.now();
      if (!isBinary) events.onMessage(data.toString());
    });
    ws.on('unexpected-response', (_req: unknown, res: { statusCode?: number; headers: Record<string, string | undefined>; setEncoding(e: string): void; on(ev: string, cb: (d?: string) => void): void }) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d ?? ''; });
      res.on('end', () => {
        fail(errorFromResponse(res.statusCode ?? 0, text, res.headers['retry-after']));
        ws.terminate();
      });
    });
    ws.on('error', (e: unknown) => { if (!opened) fail(errorFromFailure(e, `the edgemq WebSocket at ${req.url.split('?')[0]}`)); });
    ws.on('close', (code: number, reason: { toString(): string }) => {
      if (heartbeat) clearInterval(heartbeat);
      if (opened) events.onClose(code, reason.toString());
      else fail(new EdgeMQError('NETWORK_ERROR', `the WebSocket at ${req.url.split('?')[0]} closed before it opened (${code})`));
    });
  });
}

/** Workers: `fetch` with `Upgrade: websocket` answers the socket, or the refusal. */
const workersFactory: SocketFactory = async (req, events) => {
  const headers: Record<string, string> = { ...(req.headers ?? {}), Upgrade: 'websocket' };
  if (req.token) headers.Authorization = `Bearer ${req.token}`;
  let res: Response;
  try {
    res = await fetch(req.url, { headers, signal: AbortSignal.timeout(req.handshakeTimeoutMs) });
  } catch (e) {
    throw errorFromFailure(e, `the edgemq WebSocket at ${req.url.split('?')[0]}`);
  }
  const ws = (res as Response & { webSocket?: WebSocketLike & { accept(): void } }).webSocket;
  if (res.status !== 101 || !ws) throw errorFromResponse(res.status, await res.text().catch(() => ''), res.headers.get('Retry-After'));
  ws.accept();
  ws.addEventListener('close', (e) => events.onClose(e.code ?? 1005, e.reason ?? ''));
  return attachStandard(ws, events);
};

interface WebSocketLike {
  readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: string, listener: (e: { data?: unknown; code?: number; reason?: string }) => void): void;
}

/** Messages in, and the Socket over it (each factory reports `close` itself). */
function attachStandard(ws: WebSocketLike, events: SocketEvents): Socket {
  ws.addEventListener('message', (e) => { if (typeof e.data === 'string') events.onMessage(e.data); });
  return {
    get isOpen() { return ws.readyState === 1; },
    send: (d) => ws.send(d),
    close: (code = 1000, reason = '') => { try { ws.close(code, reason); } catch { /* already closed */ } },
  };
}

/** The standard WebSocket: the token goes in the URL; a refusal is explained by the probe. */
function standardFactory(WS: WebSocketConstructor): SocketFactory {
  return (req, events) => new Promise<Socket>((resolve, reject) => {
    const u = new URL(toWs(req.url));
    if (req.token) u.searchParams.set('token', req.token);
    const ws = new WS(u.toString()) as WebSocketLike;
    let opened = false;
    let done = false;
    const timer = setTimeout(() => { if (!opened) { ws.close(); failed(); } }, req.handshakeTimeoutMs);
    const failed = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      void req.probe().then((why) => reject(why ?? new EdgeMQError('NETWORK_ERROR', `cannot open the edgemq WebSocket at ${req.url.split('?')[0]}`)),
        (e) => reject(errorFromFailure(e, `the edgemq server at ${new URL(req.url).origin}`)));
    };
    const socket = attachStandard(ws, events);
    ws.addEventListener('open', () => { opened = true; done = true; clearTimeout(timer); resolve(socket); });
    ws.addEventListener('close', (e) => { if (opened) events.onClose(e.code ?? 1005, e.reason ?? ''); else failed(); });
    ws.addEventListener('error', () => { if (!opened) failed(); });
  });
}
