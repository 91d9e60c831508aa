/**
 * A producer over the WebSocket produce channel (docs/api.md "Produce over WebSocket"): sends are
 * pipelined, and the sends made in one turn of the event loop go together (in frames of up to 256),
 * so a loop of `send()` calls without awaiting each costs a few frames, not a request per message;
 * with `lingerMs`, sends made one at a time also share a frame for up to that long.
 *
 * Every frame carries an idempotencyKey (`idempotent: false` on the Producer turns that off): the
 * stream's random id and the frame's. Then a dropped connection loses nothing: the stream
 * reconnects with backoff and sends the unanswered frames again, and the server stores each once.
 * Otherwise sends that were unanswered when the connection dropped fail with NETWORK_ERROR (they
 * may have been stored), unless all of a frame's messages have a dedupId.
 * A message too big for a WebSocket frame goes over HTTP instead.
 */
import { LIMITS } from '../model/limits';
import { byteLen } from '../model/message';
import { messageSizes } from './batch';
import { EdgeMQError, errorFromFailure, isFatal } from './errors';
import { backoffDelay, seg, type HttpClient, type RetryOptions } from './http';
import { randomId } from './ids';
import { defaultSocketFactory, type Socket, type SocketFactory, type WebSocketConstructor } from './socket';
import type { MessageInput, SendResult } from './types';

export interface ProducerStreamOptions {
  /** messages sent and not yet answered; send() waits beyond this (default 10000) */
  maxPendingMessages?: number;
  /**
   * How long a send may wait for others to share its frame, ms (default 0: the sends of one
   * event-loop turn go together, and no longer wait). Like Kafka's `linger.ms`: at a steady rate
   * of sends made one at a time, a few ms put several messages in each frame, so the server
   * stores them in one append (fewer commits, fewer rows written and requests billed), for at
   * most that much more latency. A full frame goes at once.
   */
  lingerMs?: number;
  /** a send unanswered this long fails with TIMEOUT, ms (default 30000) */
  sendTimeoutMs?: number;
  /** backoff between reconnects (default 100 ms doubling up to 5 s) */
  reconnect?: RetryOptions;
  /** Node: ping this often and drop a silent connection (default 15000; 0: never) */
  heartbeatMs?: number;
  /** a WebSocket constructor (default: `ws` in Node, the global one elsewhere) */
  WebSocket?: WebSocketConstructor;
}

interface Item { message: MessageInput; json: string; bytes: number; resolve(r: SendResult): void; reject(e: EdgeMQError): void }
interface Frame {
  id: number; items: Item[]; text: string; at: number;
  /** sent with an idempotencyKey: safe to send again */
  keyed: boolean;
  /** answered OVERLOADED and not sent since: certainly not stored, so safe to send again */
  notStored?: boolean;
}

/** A frame's JSON must stay under the platform's 1 MiB WebSocket message limit. */
const FRAME_BUDGET = LIMITS.wsFrameBytesMax - 4096;
/**
 * A burst is split into frames of at most this many messages (and about FRAME_TARGET_BYTES): a
 * frame is answered once its whole append is durable, so one big frame per burst is stop-and-wait,
 * while several let the server store one as the next arrives (it coalesces them into one append
 * anyway). With 1,000 sends in flight under `wrangler dev`: about 34,000 msg/s in one frame per
 * burst, 60,000-79,000 with frames of 128-500 (bench/RESULTS.md).
 */
const FRAME_MESSAGES = 256;
const FRAME_TARGET_BYTES = 256 * 1024;
/** Refusals of a frame that may be caused by one of its messages: its sends are retried one by one. */
const PER_MESSAGE = new Set(['BAD_REQUEST', 'MESSAGE_TOO_LARGE', 'MESSAGE_TYPE_MISMATCH', 'BATCH_TOO_LARGE']);
/** Longest linger accepted: past this a send would rather wait for a timeout than for company. */
const LINGER_MAX_MS = 1000;

function lingerOf(ms: number | undefined): number {
  if (ms === undefined) return 0;
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0 || ms > LINGER_MAX_MS) {
    throw new EdgeMQError('BAD_REQUEST', `lingerMs must be a number of milliseconds from 0 to ${LINGER_MAX_MS}`);
  }
  return ms;
}

export class ProducerStream {
  private socket: Socket | null = null;
  private factory: SocketFactory | null = null;
  private queued: Item[] = [];
  private inflight = new Map<number, Frame>();
  private pending = 0;
  private roomWaiters: (() => void)[] = [];
  private nextId = 1;
  /** this stream's part of its frames' idempotency keys (the frame id is the other) */
  private readonly streamKey = randomId();
  private flushing = false;
  private lingerTimer: ReturnType<typeof setTimeout> | undefined;
  /** bytes of `queued` as framed (what a full frame is measured by) */
  private queuedBytes = 0;
  private state: 'open' | 'closing' | 'closed' = 'open';
  private failure: EdgeMQError | null = null;
  private attempt = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private sweepTimer: ReturnType<typeof setInterval> | undefined;
  private drained: (() => void)[] = [];
  /** frames sent (a resent frame counts again), reconnects, and frames sent again after one */
  readonly stats = { frames: 0, reconnects: 0, resent: 0 };
  private readonly o: Required<Omit<ProducerStreamOptions, 'WebSocket' | 'reconnect'>> & { reconnect: Required<RetryOptions> };

  /** Use Producer.openStream(topic). */
  constructor(private http: HttpClient, readonly topic: string, private idempotent: boolean,
    private restSend: (m: MessageInput) => Promise<SendResult>, private opts: ProducerStreamOptions = {}) {
    this.o = {
      maxPendingMessages: opts.maxPendingMessages ?? 10_000,
      lingerMs: lingerOf(opts.lingerMs),
      sendTimeoutMs: opts.sendTimeoutMs ?? 30_000,
      heartbeatMs: opts.heartbeatMs ?? 15_000,
      reconnect: { retries: Infinity, initialMs: 100, maxMs: 5_000, multiplier: 2, ...(opts.reconnect ?? {}) },
    };
  }

  /** Connects; rejects on a refusal (unknown topic, no PUB permission) or an unreachable server. */
  async open(): Promise<this> {
    this.factory = await defaultSocketFactory(this.opts.WebSocket);
    await this.connect();
    return this;
  }

  get isConnected(): boolean { return !!this.socket?.isOpen; }
  /** Messages sent or queued and not answered yet. */
  get pendingMessages(): number { return this.pending; }

  /** Sends one message; resolves once it is durably stored (as a 201 from POST .../messages). */
  async send(message: MessageInput): Promise<SendResult> {
    if (this.state !== 'open') throw this.failure ?? new EdgeMQError('ABORTED', 'the stream is closed');
    if (!message || typeof message !== 'object' || Array.isArray(message)) {
      throw new EdgeMQError('BAD_REQUEST', 'send(message): message must be an object like { body: "hello" }');
    }
    messageSizes(this.topic, [message]); // refuses what the server would, before anything is sent
    const json = JSON.stringify(message);
    const bytes = byteLen(json);
    if (bytes > FRAME_BUDGET) return this.restSend(message);
    if (this.pending >= this.o.maxPendingMessages || this.roomWaiters.length) {
      await new Promise<void>((r) => this.roomWaiters.push(r));
      if (this.state !== 'open') throw this.failure ?? new EdgeMQError('ABORTED', 'the stream is closed');
    }
    this.pending++;
    return new Promise<SendResult>((resolve, reject) => {
      this.queued.push({ message, json, bytes, resolve, reject });
      this.queuedBytes += bytes + 1;
      this.flushSoon();
    });
  }

  /** Sends many messages, pipelined; one result per message, in order. */
  sendBatch(messages: MessageInput[]): Promise<SendResult[]> {
    if (!Array.isArray(messages)) return Promise.reject(new EdgeMQError('BAD_REQUEST', 'sendBatch(messages): messages must be an array'));
    return Promise.all(messages.map((m) => this.send(m)));
  }

  /** Waits for every send to be answered (up to `timeoutMs`), then closes the connection. */
  async close(timeoutMs = this.o.sendTimeoutMs): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closing';
    if (this.queued.length) this.flush(); // what lingers goes now
    for (const w of this.roomWaiters.splice(0)) w();
    if (this.pending > 0) {
      await new Promise<void>((r) => {
        const t = setTimeout(r, timeoutMs);
        this.drained.push(() => { clearTimeout(t); r(); });
      });
    }
    this.shut(new EdgeMQError('ABORTED', 'the stream was closed before the send was answered'));
  }

  // ---- frames -----------------------------------------------------------------------------

  /**
   * Without linger, at the end of this turn. With it, when the first queued send has waited
   * lingerMs, or at once (this turn) when a frame is full.
   */
  private flushSoon(): void {
    const full = this.queued.length >= FRAME_MESSAGES || this.queuedBytes >= FRAME_TARGET_BYTES;
    if (this.o.lingerMs > 0 && !full) {
      this.lingerTimer ??= setTimeout(() => { this.lingerTimer = undefined; this.flush(); }, this.o.lingerMs);
      return;
    }
    if (!this.flushing) { this.flushing = true; queueMicrotask(() => this.flush()); }
  }

  private flush(): void {
    this.flushing = false;
    clearTimeout(this.lingerTimer);
    this.lingerTimer = undefined;
    this.queuedBytes = 0;
    while (this.queued.length) {
      let n = 0;
      let bytes = 64;
      while (n < this.queued.length && n < FRAME_MESSAGES && (n === 0 || bytes + this.queued[n].bytes + 1 <= FRAME_TARGET_BYTES)) {
        bytes += this.queued[n].bytes + 1;
        n++;
      }
      this.emitFrame(this.queued.splice(0, n));
    }
  }

  private emitFrame(items: Item[]): void {
    const id = this.nextId++;
    const key = this.idempotent ? `,"idempotencyKey":"${this.streamKey}.${id}"` : '';
    const frame: Frame = { id, items, at: Date.now(), keyed: this.idempotent, text: `{"type":"send","id":${id},"messages":[${items.map((i) => i.json).join(',')}]${key}}` };
    this.inflight.set(id, frame);
    this.sweeper();
    if (this.socket?.isOpen) { this.socket.send(frame.text); this.stats.frames++; }
  }

  private onFrame(data: string): void {
    let f: { type?: string; id?: number; messages?: SendResult[]; code?: string; message?: string };
    try { f = JSON.parse(data); } catch { return; }
    const frame = typeof f.id === 'number' ? this.inflight.get(f.id) : undefined;
    if (!frame) return; // answered already (timed out, or sent twice around a reconnect)
    this.inflight.delete(frame.id);
    if (f.type === 'sent' && Array.isArray(f.messages) && f.messages.length === frame.items.length) {
      frame.items.forEach((it, i) => it.resolve(f.messages![i]));
      this.settled(frame.items.length);
    } else if (f.type === 'error') {
      const err = new EdgeMQError(f.code ?? 'INTERNAL', f.message ?? 'the send was refused', { status: f.code === 'OVERLOADED' ? 503 : 0 });
      if (f.code === 'OVERLOADED') {
        // refused before anything was stored (busy, or the server recycles this connection and
        // closes it next): the same frame again a little later, or after reconnecting
        frame.notStored = true;
        setTimeout(() => {
          if (this.state === 'closed') return;
          this.inflight.set(frame.id, frame);
          if (this.socket?.isOpen) { this.socket.send(frame.text); frame.notStored = false; this.stats.frames++; }
        }, 50 + Math.random() * 100);
      } else if (frame.items.length > 1 && PER_MESSAGE.has(err.code)) {
        // one message spoiled the frame (nothing of it was stored): each send on its own
        this.settled(0);
        for (const it of frame.items) this.emitFrame([it]);
      } else {
        for (const it of frame.items) it.reject(err);
        this.settled(frame.items.length);
      }
    } else {
      const err = new EdgeMQError('PROTOCOL_ERROR', `unexpected answer to a send: ${data.slice(0, 120)}`);
      for (const it of frame.items) it.reject(err);
      this.settled(frame.items.length);
    }
  }

  private settled(n: number): void {
    this.pending -= n;
    while (this.roomWaiters.length && this.pending < this.o.maxPendingMessages) this.roomWaiters.shift()!();
    if (this.pending === 0) for (const d of this.drained.splice(0)) d();
  }

  /** Fails sends unanswered for sendTimeoutMs; runs only while something is in flight. */
  private sweeper(): void {
    if (this.sweepTimer) return;
    this.sweepTimer = setInterval(() => {
      const now = Date.now();
      for (const fr of [...this.inflight.values()]) {
        if (now - fr.at < this.o.sendTimeoutMs) continue;
        this.inflight.delete(fr.id);
        const err = new EdgeMQError('TIMEOUT', `no answer to a send within ${this.o.sendTimeoutMs} ms (it may have been stored)`);
        for (const it of fr.items) it.reject(err);
        this.settled(fr.items.length);
      }
      if (!this.inflight.size) { clearInterval(this.sweepTimer); this.sweepTimer = undefined; }
    }, Math.min(1000, this.o.sendTimeoutMs));
    (this.sweepTimer as { unref?: () => void }).unref?.();
  }

  // ---- connection --------------------------------------------------------------------------

  private async connect(): Promise<void> {
    const url = this.http.url(`/v1/topics/${seg(this.topic)}/messages/ws`);
    let sock: Socket | null = null;
    const socket = await this.factory!({
      url, token: this.http.token, handshakeTimeoutMs: Math.min(this.http.timeoutMs, 20_000), heartbeatMs: this.o.heartbeatMs,
      probe: async () => {
        const e = await this.http.get(`/v1/topics/${seg(this.topic)}/messages/ws`, { retry: 'never' }).then(() => null, (x: EdgeMQError) => x);
        return e && e.status !== 426 ? e : null;
      },
    }, {
      onMessage: (d) => this.onFrame(d),
      onClose: (code) => this.onClose(sock, code),
    });
    if (this.state === 'closed') { socket.close(1000, 'stream closed'); return; }
    this.socket = sock = socket;
    if (!socket.isOpen) { this.onClose(socket); return; } // closed before we got here (why is unknown)
    // unanswered frames again, in order (their idempotency keys make a repeat harmless)
    for (const fr of [...this.inflight.values()].sort((a, b) => a.id - b.id)) {
      socket.send(fr.text);
      fr.notStored = false;
      this.stats.frames++;
      this.stats.resent++;
    }
  }

  /** 1012 from the server: it recycled the connection after answering every send it took. */
  private onClose(socket: Socket | null, code = 1006): void {
    if (socket === null || this.socket !== socket) return;
    this.socket = null;
    if (this.state === 'closed') return;
    // frames that cannot be repeated safely: they may or may not have been stored
    for (const fr of [...this.inflight.values()]) {
      if (code === 1012 || fr.notStored || fr.keyed || fr.items.every((it) => it.message.dedupId !== undefined)) continue;
      this.inflight.delete(fr.id);
      const err = new EdgeMQError('NETWORK_ERROR', 'the connection dropped before the send was answered (it may have been stored; give messages a dedupId to make resending safe)');
      for (const it of fr.items) it.reject(err);
      this.settled(fr.items.length);
    }
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.reconnectTimer || this.state === 'closed') return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.connect().then(() => { this.attempt = 0; this.stats.reconnects++; }, (e) => {
        const err = errorFromFailure(e, `the edgemq server at ${this.http.baseUrl}`);
        if (isFatal(err)) this.shut(err);
        else this.scheduleReconnect();
      });
    }, backoffDelay(++this.attempt, this.o.reconnect));
  }

  /** Ends the stream: whatever is unanswered fails with `err`. */
  private shut(err: EdgeMQError): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.failure = err;
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.lingerTimer);
    this.lingerTimer = undefined;
    clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
    const items = [...[...this.inflight.values()].flatMap((f) => f.items), ...this.queued.splice(0)];
    this.queuedBytes = 0;
    this.inflight.clear();
    for (const it of items) it.reject(err);
    this.settled(items.length);
    for (const w of this.roomWaiters.splice(0)) w();
    this.socket?.close(1000, 'stream closed');
    this.socket = null;
  }
}
