/**
 * A push consumer over a real WebSocket (the `ws` package: Node 20 has no global WebSocket) for
 * the end-to-end tests: it records every frame the server sends and can wait for conditions.
 */
import { afterEach } from 'vitest';
import WebSocket from 'ws';
import type { Json } from './client';

export interface WsOpts {
  consumerId?: string;
  filter?: string;
  sql?: string;
  maxInflight?: number;
  token?: string;
}

/** The server answered the upgrade request with an HTTP response instead of 101. */
export class UpgradeRefused extends Error {
  constructor(readonly status: number, readonly body: Json, readonly text: string) {
    super(`upgrade refused: ${status} ${text}`);
  }
}

export function wsPath(topic: string, group: string, o: WsOpts = {}): string {
  const q = new URLSearchParams();
  if (o.consumerId !== undefined) q.set('consumerId', o.consumerId);
  if (o.filter !== undefined) q.set('filter', o.filter);
  if (o.sql !== undefined) q.set('sql', o.sql);
  if (o.maxInflight !== undefined) q.set('maxInflight', String(o.maxInflight));
  if (o.token !== undefined) q.set('token', o.token);
  const qs = q.toString();
  return `/v1/topics/${encodeURIComponent(topic)}/subscriptions/${group}/ws${qs ? `?${qs}` : ''}`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class PushClient {
  /** every message pushed, in arrival order */
  readonly messages: Json[] = [];
  /** every `messages` frame, as it came */
  readonly frames: Json[][] = [];
  readonly errors: Json[] = [];
  /** frames that were neither `messages` nor `error` */
  readonly other: unknown[] = [];
  /** receipt handles received and not yet acked or nacked by this client */
  readonly unacked = new Map<string, Json>();
  /**
   * What happened, in order: deliveries and the acks/nacks this client sent. Several clients may
   * share one array (assign the same one) to see the order across them.
   */
  log: { ev: 'recv' | 'ack' | 'nack'; id: string; attempt: number; by: string }[] = [];
  /** the most messages this client held unacked at once (its own view: acks still in flight count as held) */
  peak = 0;
  closeCode: number | null = null;
  closeReason = '';
  readonly closed: Promise<void>;

  private constructor(readonly ws: WebSocket, readonly label: string) {
    this.closed = new Promise((res) => ws.once('close', (code, reason) => {
      this.closeCode = code;
      this.closeReason = reason.toString();
      res();
    }));
    ws.on('message', (data, isBinary) => {
      if (isBinary) { this.other.push(data); return; }
      let f: Json;
      try { f = JSON.parse(data.toString()); } catch { this.other.push(data.toString()); return; }
      if (f?.type === 'messages' && Array.isArray(f.messages)) {
        this.frames.push(f.messages);
        for (const m of f.messages) {
          this.messages.push(m);
          this.unacked.set(m.receiptHandle, m);
          this.log.push({ ev: 'recv', id: m.messageId, attempt: m.deliveryAttempt, by: this.label });
        }
        this.peak = Math.max(this.peak, this.unacked.size);
      } else if (f?.type === 'error') this.errors.push(f);
      else this.other.push(f);
    });
    ws.on('error', () => { /* surfaced as close */ });
  }

  /** Opens the socket; rejects with UpgradeRefused when the server answers with a status. */
  static connect(base: string, topic: string, group: string, o: WsOpts = {}, label = o.consumerId ?? 'ws'): Promise<PushClient> {
    const url = base.replace(/^http/, 'ws') + wsPath(topic, group, o);
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { handshakeTimeout: 20_000 });
      const c = new PushClient(ws, label);
      ws.once('open', () => resolve(c));
      ws.once('unexpected-response', (_req, res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => { text += d; });
        res.on('end', () => {
          let body: Json;
          try { body = JSON.parse(text); } catch { body = undefined; }
          reject(new UpgradeRefused(res.statusCode ?? 0, body, text));
          ws.terminate();
        });
      });
      ws.once('error', (e) => reject(e));
    });
  }

  get open(): boolean { return this.ws.readyState === WebSocket.OPEN; }

  send(frame: unknown): void { this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame)); }
  sendBinary(data: Uint8Array): void { this.ws.send(data, { binary: true }); }

  ack(msgs: (Json | string)[]): void {
    const hs = msgs.map((m) => (typeof m === 'string' ? m : m.receiptHandle));
    this.settled('ack', hs);
    this.send({ type: 'ack', receiptHandles: hs });
  }

  nack(msgs: (Json | string)[], delayMs?: number): void {
    const hs = msgs.map((m) => (typeof m === 'string' ? m : m.receiptHandle));
    this.settled('nack', hs);
    this.send({ type: 'nack', receiptHandles: hs, ...(delayMs !== undefined ? { delayMs } : {}) });
  }

  private settled(ev: 'ack' | 'nack', hs: string[]): void {
    for (const h of hs) {
      const m = this.unacked.get(h);
      if (m) this.log.push({ ev, id: m.messageId, attempt: m.deliveryAttempt, by: this.label });
      this.unacked.delete(h);
    }
  }

  /** Acks everything received so far and, from now on, every message as it arrives. */
  autoAck(): void {
    if (this.unacked.size) this.ack([...this.unacked.keys()]);
    this.ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      try {
        const f = JSON.parse(data.toString());
        if (f?.type === 'messages' && f.messages.length) this.ack(f.messages);
      } catch { /* recorded by the main listener */ }
    });
  }

  /** Waits until `cond()` holds; throws with `what` and the client's state after `ms`. */
  async until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
    const end = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > end) {
        throw new Error(`${this.label}: timed out waiting for ${what} (have ${this.messages.length} messages, `
          + `errors ${JSON.stringify(this.errors)}, close ${this.closeCode})`);
      }
      await sleep(20);
    }
  }

  /** Waits until at least `n` messages came in all. */
  untilCount(n: number, ms = 10_000): Promise<void> {
    return this.until(() => this.messages.length >= n, `${n} messages`, ms);
  }

  /** Waits for the next error frame after the `seen` ones; answers it. */
  async nextError(seen: number, ms = 5_000): Promise<Json> {
    await this.until(() => this.errors.length > seen, 'an error frame', ms);
    return this.errors[seen];
  }

  /** Closes and waits for the close handshake (or a terminate after 5 s). */
  async close(code = 1000): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.ws.close(code, 'test done');
    await Promise.race([this.closed, sleep(5000).then(() => this.ws.terminate())]);
  }
}

/** Waits until `cond()` (async) holds, polling every `every` ms; throws `what` after `ms`. */
export async function eventually<T>(fn: () => Promise<T>, ok: (v: T) => boolean, what: string, ms = 10_000, every = 100): Promise<T> {
  const end = Date.now() + ms;
  let last: T;
  for (;;) {
    last = await fn();
    if (ok(last)) return last;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last).slice(0, 2000)}`);
    await sleep(every);
  }
}

/**
 * Push clients of one test file: `connect` opens one on the file's server, and each is closed
 * after its test.
 */
export function usePushClients(url: () => string) {
  const clients: PushClient[] = [];
  afterEach(async () => { await Promise.all(clients.splice(0).map((c) => c.close())); });
  async function connect(topic: string, group: string, o: WsOpts = {}, label?: string): Promise<PushClient> {
    const c = await PushClient.connect(url(), topic, group, o, label);
    clients.push(c);
    return c;
  }
  return { clients, connect };
}
