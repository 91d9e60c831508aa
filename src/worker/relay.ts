/**
 * A push subscription on a topic of several queues: the client's WebSocket ends in the Worker,
 * which opens one upstream WebSocket per queue to that queue's Broker (where it is hibernatable,
 * so an idle subscription costs no object time) and relays frames both ways. (On a topic of one
 * queue the client's socket ends at the Broker itself: src/routes/push.ts.)
 *
 * Flow control is credit-based: the relay owns the connection's `maxInflight` budget and grants
 * credit to brokers; a broker pushes at most its credit, and says `hungry` when it has more to
 * send. Credit freed by acks goes first to hungry brokers, else back where it came from. When a
 * broker is hungry and no credit is free, the relay reclaims the unused credit of the brokers that
 * are not (an idle queue must not keep the budget from a busy one).
 */
import { ApiError } from '../model/errors';
import { decodeReceiptHandle } from '../model/ids';
import { HANDLES_PREFIX } from '../model/frames';
import { errorFrame, readClientFrame } from './client-frames';
import type { TopicRoute } from '../objects/names';

export interface Upstream {
  ws: WebSocket;
  granted: number;
}

export class Relay {
  private inflight = new Map<string, number>(); // receipt handle -> queueId
  private hungry = new Set<number>();
  private reclaiming = new Set<number>();
  private closed = false;
  /** while a client frame is handled, credit granted per queue, sent with its acks in one frame */
  private grants: Map<number, number> | null = null;

  constructor(private client: WebSocket, private up: Upstream[], private topic: TopicRoute, private budget: number) {}

  /** Wires both sides and hands out the first credit evenly. */
  start(): void {
    this.client.addEventListener('message', (e) => this.fromClient(e.data));
    this.client.addEventListener('close', () => this.close(1000, 'client closed'));
    this.client.addEventListener('error', () => this.close(1011, 'client error'));
    this.up.forEach((u, q) => {
      u.ws.addEventListener('message', (e) => this.fromBroker(q, e.data));
      u.ws.addEventListener('close', () => this.close(1012, 'a broker restarted: reconnect to continue'));
      u.ws.addEventListener('error', () => this.close(1012, 'a broker failed: reconnect to continue'));
    });
    const n = this.up.length;
    this.up.forEach((_, q) => this.grant(q, Math.floor(this.budget / n) + (q < this.budget % n ? 1 : 0)));
  }

  private free(): number {
    return this.budget - this.inflight.size - this.up.reduce((s, u) => s + u.granted, 0);
  }

  private grant(q: number, n: number): void {
    if (n <= 0 || this.closed) return;
    this.up[q].granted += n;
    this.hungry.delete(q);
    if (this.grants) this.grants.set(q, (this.grants.get(q) ?? 0) + n);
    else this.up[q].ws.send(JSON.stringify({ type: 'credit', n }));
  }

  /** Hands free credit to hungry brokers first, else to the queue it came back from. */
  private distribute(from?: number): void {
    let free = this.free();
    while (free > 0 && this.hungry.size) {
      for (const q of [...this.hungry]) {
        if (free <= 0) break;
        const share = Math.max(1, Math.floor(free / this.hungry.size));
        this.grant(q, share);
        free -= share;
      }
    }
    if (free > 0 && from !== undefined) this.grant(from, free);
  }

  /** Runs `fn` with the credit it grants collected per queue instead of sent. */
  private collectGrants(fn: () => void): Map<number, number> {
    const grants = (this.grants = new Map<number, number>());
    try { fn(); } finally { this.grants = null; }
    return grants;
  }

  /** Asks the brokers that hold credit and have nothing to send for it back (answered by `returned`). */
  private reclaim(): void {
    this.up.forEach((u, q) => {
      if (this.closed || this.hungry.has(q) || this.reclaiming.has(q) || u.granted <= 0) return;
      this.reclaiming.add(q);
      u.ws.send('{"type":"reclaim"}');
    });
  }

  private error(e: unknown): void {
    if (!this.closed) this.client.send(errorFrame(e));
  }

  private fromBroker(q: number, data: unknown): void {
    if (typeof data !== 'string') return;
    // a messages frame (up to maxInflight messages) is relayed as the broker encoded it, unparsed:
    // its receipt handles come on a first line of their own
    if (data.startsWith(HANDLES_PREFIX)) {
      const nl = data.indexOf('\n');
      if (nl > 0) {
        let h: unknown;
        try { h = (JSON.parse(data.slice(0, nl)) as { h?: unknown }).h; } catch { return; }
        if (!Array.isArray(h)) return;
        this.sent(q, h as string[]);
        this.client.send(data.slice(nl + 1));
        return;
      }
    }
    let f: { type?: string; messages?: { receiptHandle: string }[] };
    try { f = JSON.parse(data); } catch { return; }
    if (f.type === 'messages' && f.messages) {
      this.sent(q, f.messages.map((m) => m.receiptHandle)); // a messages frame without its handles line
      this.client.send(data);
    } else if (f.type === 'hungry') {
      this.hungry.add(q);
      this.distribute();
      if (this.free() <= 0) this.reclaim();
    } else if (f.type === 'returned') {
      this.reclaiming.delete(q);
      this.up[q].granted = Math.max(0, this.up[q].granted - Math.max(0, Math.floor(Number((f as { n?: unknown }).n) || 0)));
      this.distribute();
    } else if (f.type === 'error') {
      this.client.send(data);
    }
  }

  private sent(q: number, handles: string[]): void {
    for (const h of handles) this.inflight.set(h, q);
    this.up[q].granted = Math.max(0, this.up[q].granted - handles.length);
  }

  private fromClient(data: unknown): void {
    try {
      const f = readClientFrame(data);
      const byQueue = new Map<number, string[]>();
      const bad: string[] = [];
      const from = new Map<number, number>();
      for (const h of f.receiptHandles) {
        // a handle this connection was pushed names its queue in `inflight`: no need to decode it
        let q = this.inflight.get(h);
        if (q !== undefined) {
          this.inflight.delete(h);
          from.set(q, (from.get(q) ?? 0) + 1);
        } else {
          const d = decodeReceiptHandle(h);
          if (!d || d.incarnation !== this.topic.incarnation || d.queueId >= this.up.length) { bad.push(h); continue; }
          q = d.queueId;
        }
        const l = byQueue.get(q);
        if (l) l.push(h); else byQueue.set(q, [h]);
      }
      // freed credit: hungry brokers first, then back to the queues the acked messages came from;
      // a queue that gets both acks and credit gets them in one frame
      const grants = this.collectGrants(() => { for (const [q] of from) this.distribute(q); });
      for (const [q, hs] of byQueue) {
        const credit = grants.get(q);
        grants.delete(q);
        this.up[q].ws.send(JSON.stringify(f.type === 'nack'
          ? { type: 'nack', receiptHandles: hs, delayMs: f.delayMs, credit } : { type: 'ack', receiptHandles: hs, credit }));
      }
      for (const [q, n] of grants) this.up[q].ws.send(JSON.stringify({ type: 'credit', n }));
      if (bad.length) this.error(new ApiError('INVALID_RECEIPT_HANDLE', `${bad.length} receipt handle(s) are not of this topic: ${bad.slice(0, 3).join(', ')}`));
    } catch (e) {
      this.error(e);
    }
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    for (const u of this.up) { try { u.ws.close(1000, 'subscription closed'); } catch { /* already closed */ } }
    try { this.client.close(code, reason); } catch { /* already closed */ }
  }
}
