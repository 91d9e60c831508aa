/**
 * PushConsumer: messages pushed over a WebSocket to your handler. A handler that returns acks
 * the message; one that throws nacks it (redelivered after the group's backoff, or after the
 * error's `delayMs`). At most `concurrency` handlers run at once. A dropped connection is
 * reopened with backoff; `shutdown()` stops taking messages, lets running handlers finish and
 * acks them before it closes.
 *
 * Acks go over the socket the message came on (that frees room for the next push). When that
 * socket is gone, or while shutting down, they go over HTTP instead: the server takes them the
 * same way, and the socket's room is not given back, so nothing new is pushed during a shutdown.
 */
import { EdgeMQError, errorFromFailure, isFatal } from './errors';
import { backoffDelay, HttpClient, seg, type ClientOptions, type RetryOptions } from './http';
import { Settlements } from './settlements';
import { SimpleConsumer } from './simple-consumer';
import { defaultSocketFactory, type Socket, type SocketFactory, type WebSocketConstructor } from './socket';
import type { ClientFrame, Filter, ReceivedMessage } from './types';

export interface HandlerContext {
  /** aborted when shutdown() gives up waiting (its timeoutMs) */
  signal: AbortSignal;
  consumer: PushConsumer;
}

/** Return (or resolve) to ack; throw (or reject) to nack. An error with a numeric `delayMs` sets the redelivery delay. */
export type MessageHandler = (message: ReceivedMessage, ctx: HandlerContext) => unknown;

export interface PushConsumerOptions extends ClientOptions {
  topic: string;
  group: string;
  handler: MessageHandler;
  /** names this consumer in the group's listing; required by BROADCASTING groups */
  consumerId?: string;
  /** a tag expression (`"a || b"`) or `{ sql }` */
  filter?: Filter;
  /** handlers running at once (default 4) */
  concurrency?: number;
  /** unacked messages the server may push ahead (default: concurrency) */
  maxInflight?: number;
  /** redelivery delay of a nacked message, ms (default: the group's backoff) */
  nackDelayMs?: number;
  /** backoff between reconnects (default 250 ms doubling up to 10 s; `retries` is ignored: it keeps trying) */
  reconnect?: RetryOptions;
  /** how long start() keeps trying to connect (default 30000 ms) */
  startTimeoutMs?: number;
  /** Node: ping this often and drop a connection that stops answering (default 30000; 0 = never) */
  heartbeatMs?: number;
  /** a WebSocket constructor, where the runtime has none (or to use another) */
  WebSocket?: WebSocketConstructor;
}

export interface PushConsumerStats {
  /** messages pushed to this consumer (redeliveries included) */
  received: number;
  handled: number;
  /** handler threw */
  failed: number;
  acked: number;
  nacked: number;
  /** acks or nacks the server answered EXPIRED (lease ran out or superseded: the message comes again) */
  expired: number;
  reconnects: number;
  /** handlers running now */
  active: number;
}

type Events = {
  connect: { reconnect: boolean };
  disconnect: { code: number; reason: string };
  error: Error;
  stopped: { error?: Error };
};
type Listener<K extends keyof Events> = (e: Events[K]) => void;

interface Delivery { m: ReceivedMessage; gen: number }
type State = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';

const fatal = isFatal;

export class PushConsumer {
  readonly topic: string;
  readonly group: string;
  readonly http: HttpClient;
  readonly stats: PushConsumerStats = { received: 0, handled: 0, failed: 0, acked: 0, nacked: 0, expired: 0, reconnects: 0, active: 0 };
  /** resolves once the consumer has stopped (shutdown, or a refusal it cannot get past: see `error`) */
  readonly closed: Promise<void>;
  /** why the consumer stopped on its own, if it did */
  error?: Error;

  private readonly o: PushConsumerOptions & { concurrency: number; maxInflight: number; startTimeoutMs: number; heartbeatMs: number };
  private readonly reconnectOpts: Required<RetryOptions>;
  private readonly pull: SimpleConsumer;
  private state: State = 'new';
  private factory: SocketFactory | null = null;
  private socket: Socket | null = null;
  /** generation of the newest connection: a message is acked over the socket it came on */
  private gen = 0;
  private waiting: Delivery[] = [];
  private running = new Map<string, Promise<boolean>>();
  private overSocket = new Settlements();
  private overHttp = new Settlements();
  private flushTimer: ReturnType<typeof setTimeout> | undefined;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private attempt = 0;
  private connectedAt = 0;
  private inHttp = new Set<Promise<void>>();
  private idle: (() => void)[] = [];
  private readonly abort = new AbortController();
  private stopping: Promise<void> | null = null;
  private markClosed!: () => void;
  private listeners: { [K in keyof Events]: Set<Listener<K>> } = { connect: new Set(), disconnect: new Set(), error: new Set(), stopped: new Set() };

  constructor(opts: PushConsumerOptions) {
    if (!opts?.topic || !opts.group) throw new EdgeMQError('BAD_REQUEST', 'PushConsumer needs { topic, group, handler }');
    if (typeof opts.handler !== 'function') throw new EdgeMQError('BAD_REQUEST', 'PushConsumer needs a handler: async (message) => { ... }');
    const concurrency = Math.max(1, Math.floor(opts.concurrency ?? 4));
    this.o = {
      ...opts, concurrency, maxInflight: Math.max(1, Math.floor(opts.maxInflight ?? concurrency)),
      startTimeoutMs: opts.startTimeoutMs ?? 30_000, heartbeatMs: opts.heartbeatMs ?? 30_000,
    };
    this.reconnectOpts = { retries: Infinity, initialMs: 250, maxMs: 10_000, multiplier: 2, ...(opts.reconnect ?? {}) };
    this.topic = opts.topic;
    this.group = opts.group;
    this.http = new HttpClient(opts);
    this.pull = new SimpleConsumer(opts);
    this.closed = new Promise((r) => { this.markClosed = r; });
  }

  on<K extends keyof Events>(event: K, listener: Listener<K>): this { this.listeners[event].add(listener); return this; }
  off<K extends keyof Events>(event: K, listener: Listener<K>): this { this.listeners[event].delete(listener); return this; }

  private emit<K extends keyof Events>(event: K, e: Events[K]): void {
    for (const l of this.listeners[event]) {
      try { l(e); } catch { /* a listener's own failure is not the consumer's */ }
    }
    if (event === 'error' && !this.listeners.error.size) console.warn(`edgemq PushConsumer (${this.topic}/${this.group}):`, (e as Error).message);
  }

  /** True between start() and the end of shutdown(). */
  get isRunning(): boolean { return this.state === 'starting' || this.state === 'running'; }
  /** True while a socket is open. */
  get isConnected(): boolean { return !!this.socket?.isOpen; }

  /**
   * Connects. Resolves once subscribed; keeps trying while the server is unreachable or busy
   * (up to startTimeoutMs), and rejects at once on a refusal (unknown topic, bad filter, 401/403).
   */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new EdgeMQError('BAD_REQUEST', `start() was already called (the consumer is ${this.state})`);
    this.state = 'starting';
    const deadline = Date.now() + this.o.startTimeoutMs;
    try {
      this.factory = await defaultSocketFactory(this.o.WebSocket);
      for (let attempt = 1; ; attempt++) {
        try {
          await this.connect();
          if (this.state !== 'starting') throw new EdgeMQError('ABORTED', 'shutdown() was called during start()');
          this.state = 'running';
          this.pump();
          return;
        } catch (e) {
          const err = errorFromFailure(e, `the edgemq server at ${this.http.baseUrl}`);
          if (this.state !== 'starting') throw err;
          const wait = backoffDelay(attempt, this.reconnectOpts);
          if (fatal(err) || Date.now() + wait > deadline) throw err;
          await new Promise((r) => setTimeout(r, wait));
        }
      }
    } catch (e) {
      if (this.state === 'starting') this.finish();
      throw e;
    }
  }

  private wsUrl(): string {
    const q: Record<string, string | number | undefined> = { consumerId: this.o.consumerId, maxInflight: this.o.maxInflight };
    const f = this.o.filter;
    if (typeof f === 'string') q.filter = f;
    else if (f && typeof f === 'object') q.sql = f.sql;
    return this.http.url(`/v1/topics/${seg(this.topic)}/subscriptions/${seg(this.group)}/ws`, q);
  }

  private async connect(): Promise<void> {
    const gen = ++this.gen;
    const url = this.wsUrl();
    const socket = await this.factory!({
      url, token: this.http.token, handshakeTimeoutMs: Math.min(this.http.timeoutMs, 20_000), heartbeatMs: this.o.heartbeatMs,
      headers: this.o.headers,
      probe: () => this.probe(url),
    }, {
      onMessage: (d) => this.onFrame(gen, d),
      onClose: (code, reason) => this.onClose(gen, code, reason),
    });
    if (gen !== this.gen || this.state === 'stopping' || this.state === 'stopped') {
      socket.close(1000, 'consumer stopped');
      throw new EdgeMQError('ABORTED', 'the consumer was shut down while connecting');
    }
    this.socket = socket;
    this.connectedAt = Date.now();
    this.emit('connect', { reconnect: gen > 1 });
  }

  /**
   * Why a subscription failed, for runtimes that hide the refusal (browsers): the same request
   * without the upgrade (a 426 means it passed auth and validation), then whether the topic exists.
   */
  private async probe(url: string): Promise<EdgeMQError | null> {
    const u = new URL(url);
    const asked = await this.http.get(u.pathname + u.search, { retry: 'never' }).then(() => null, (e: EdgeMQError) => e);
    if (asked && asked.status !== 426) return asked;
    const topic = await this.http.get(`/v1/topics/${seg(this.topic)}`, { retry: 'never' }).then(() => null, (e: EdgeMQError) => e);
    return topic && (topic.code === 'TOPIC_NOT_FOUND' || topic.code === 'INVALID_NAME') ? topic : null;
  }

  private onFrame(gen: number, data: string): void {
    if (gen !== this.gen) return;
    let f: { type?: string; messages?: ReceivedMessage[]; code?: string; message?: string };
    try { f = JSON.parse(data); } catch {
      this.emit('error', new EdgeMQError('PROTOCOL_ERROR', `the server sent a frame that is not JSON: ${data.slice(0, 80)}`));
      return;
    }
    if (f.type === 'messages' && Array.isArray(f.messages)) for (const m of f.messages) this.deliver(m, gen);
    else if (f.type === 'error') this.emit('error', new EdgeMQError(f.code ?? 'INTERNAL', f.message ?? 'the server sent an error frame'));
  }

  private onClose(gen: number, code: number, reason: string): void {
    if (gen !== this.gen) return;
    this.socket = null;
    // a connection that lasted resets the backoff; one refused or dropped at once keeps it growing
    if (Date.now() - this.connectedAt > 5000) this.attempt = 0;
    // what waited for a handler went back to the group with the socket; acks still to send go over HTTP
    this.waiting = this.waiting.filter((d) => d.gen !== gen);
    this.moveToHttp();
    this.emit('disconnect', { code, reason });
    if (this.state === 'running') this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.reconnectTimer || this.state !== 'running') return;
    const wait = backoffDelay(++this.attempt, this.reconnectOpts);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.reconnect();
    }, wait);
  }

  private async reconnect(): Promise<void> {
    if (this.state !== 'running') return;
    try {
      await this.connect();
      this.stats.reconnects++;
    } catch (e) {
      if (this.state !== 'running') return;
      const err = errorFromFailure(e, `the edgemq server at ${this.http.baseUrl}`);
      this.emit('error', err);
      if (fatal(err)) {
        this.error = err;
        void this.shutdown();
      } else this.scheduleReconnect();
    }
  }

  private deliver(m: ReceivedMessage, gen: number): void {
    this.stats.received++;
    // not taken while stopping: it goes back to the group when the socket closes
    if (this.state !== 'running' && this.state !== 'starting') return;
    const earlier = this.running.get(m.messageId);
    if (earlier) {
      // delivered again (after a reconnect) while a handler still works on it: settle this delivery as that one ends
      void earlier.then((ok) => this.settle(ok, { m, gen }, undefined));
      return;
    }
    this.waiting.push({ m, gen });
    this.pump();
  }

  private pump(): void {
    while (this.stats.active < this.o.concurrency && this.waiting.length && this.state === 'running') {
      const d = this.waiting.shift()!;
      const earlier = this.running.get(d.m.messageId);
      if (earlier) void earlier.then((ok) => this.settle(ok, d, undefined));
      else this.run(d);
    }
  }

  private run(d: Delivery): void {
    this.stats.active++;
    const outcome = (async () => {
      try {
        await this.o.handler(d.m, { signal: this.abort.signal, consumer: this });
        return { ok: true as const };
      } catch (error) {
        return { ok: false as const, error };
      }
    })();
    this.running.set(d.m.messageId, outcome.then((r) => r.ok));
    void outcome.then((r) => {
      this.stats.active--;
      this.running.delete(d.m.messageId);
      this.stats.handled++;
      if (!r.ok) this.stats.failed++;
      this.settle(r.ok, d, r.ok ? undefined : r.error);
      if (!this.stats.active && !this.running.size) for (const f of this.idle.splice(0)) f();
      this.pump();
    });
  }

  private settle(ok: boolean, d: Delivery, error: unknown): void {
    const socketOk = d.gen === this.gen && this.socket?.isOpen && this.state === 'running';
    const to = socketOk ? this.overSocket : this.overHttp;
    if (ok) to.ack(d.m.receiptHandle);
    else {
      const own = (error as { delayMs?: unknown } | null)?.delayMs;
      to.nack(d.m.receiptHandle, typeof own === 'number' && own >= 0 ? Math.floor(own) : this.o.nackDelayMs);
    }
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushTimer) return;
    this.flushTimer = setTimeout(() => { this.flushTimer = undefined; this.flush(); }, 0);
  }

  private moveToHttp(): void {
    for (const f of this.overSocket.drain()) this.overHttp.add(f);
  }

  private flush(): void {
    for (const f of this.overSocket.drain()) {
      if (this.socket?.isOpen) {
        try {
          this.socket.send(JSON.stringify(f));
          if (f.type === 'ack') this.stats.acked += f.receiptHandles.length;
          else this.stats.nacked += f.receiptHandles.length;
          continue;
        } catch { /* closing: over HTTP below */ }
      }
      this.overHttp.add(f);
    }
    for (const f of this.overHttp.drain()) {
      const p = this.settleOverHttp(f).finally(() => this.inHttp.delete(p));
      this.inHttp.add(p);
    }
  }

  private async settleOverHttp(f: ClientFrame): Promise<void> {
    try {
      const results = f.type === 'ack' ? await this.pull.ack(f.receiptHandles)
        : await this.pull.nack(f.receiptHandles, f.delayMs === undefined ? {} : { delayMs: f.delayMs });
      for (const r of results) {
        if (r.status === 'OK') { if (f.type === 'ack') this.stats.acked++; else this.stats.nacked++; }
        else this.stats.expired++;
      }
    } catch (e) {
      this.emit('error', errorFromFailure(e, `the edgemq server at ${this.http.baseUrl}`));
    }
  }

  /**
   * Stops taking messages, waits for running handlers (up to `timeoutMs`, default 30000; then
   * their `ctx.signal` aborts and their messages go back to the group), acks or nacks what they
   * did, and closes. Messages pushed but not started go back to the group at once (the server
   * counts that as a failed delivery). Calling it again answers the same promise.
   */
  shutdown(opts: { timeoutMs?: number } = {}): Promise<void> {
    if (this.stopping) return this.stopping;
    if (this.state === 'new' || this.state === 'stopped') {
      this.finish();
      return (this.stopping = Promise.resolve());
    }
    this.stopping = (async () => {
      this.state = 'stopping';
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = undefined;
      this.waiting = [];
      this.moveToHttp();
      this.flush();
      const timeoutMs = opts.timeoutMs ?? 30_000;
      if (this.stats.active || this.running.size) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const done = await Promise.race([
          new Promise<boolean>((r) => this.idle.push(() => r(true))),
          new Promise<boolean>((r) => { timer = setTimeout(() => r(false), timeoutMs); }),
        ]);
        clearTimeout(timer);
        if (!done) {
          this.abort.abort();
          this.emit('error', new EdgeMQError('TIMEOUT', `shutdown: ${this.stats.active} handler(s) still running after ${timeoutMs} ms; their messages go back to the group`));
        }
      }
      clearTimeout(this.flushTimer);
      this.flushTimer = undefined;
      this.flush();
      await Promise.allSettled([...this.inHttp]);
      this.socket?.close(1000, 'consumer shut down');
      this.socket = null;
      this.gen++;
      this.finish();
    })();
    return this.stopping;
  }

  private finish(): void {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    clearTimeout(this.reconnectTimer);
    this.markClosed();
    this.emit('stopped', this.error ? { error: this.error } : {});
  }
}
