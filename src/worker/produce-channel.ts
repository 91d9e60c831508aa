/**
 * The WebSocket produce channel (docs/api.md "Produce over WebSocket"): a producer pipelines
 * `send` frames and gets one `sent` (or `error`) answer per send, each once its messages are
 * durably stored, exactly as a 201 from the REST produce would mean.
 *
 * Group commit: each queue has a lane with at most one append in flight. Sends that arrive for
 * a queue while its append runs wait, and go together in the next one (up to a REST batch's
 * limits), so under load many small sends cost one Broker RPC, one transaction and one segment
 * row, while a lone send is never delayed. Within a connection, sends to one queue are stored in
 * the order they arrived (a message group's order is kept); answers to sends bound for different
 * queues may overtake each other, so clients match them by `id`. Sends with idempotency keys go
 * together too, each key over its own run of the append, as long as their messages are all
 * plain (no dedupId, no due time: stored as one packed run); other keyed sends go alone.
 *
 * Where it runs: in the Worker for a topic of several queues (each append an RPC to its Broker);
 * for a topic of one queue, in that queue's Broker, which holds the socket (hibernatable) and
 * stores its own queue's appends without an RPC (Broker.produceSocket).
 */
import type { Env } from '../env';
import { ApiError } from '../model/errors';
import { isSendId, parseSendFrame, type SendId } from '../model/frames';
import { LIMITS } from '../model/limits';
import type { Outgoing } from '../model/message';
import type { KeyRange, Produced } from '../objects/Broker';
import type { TopicRoute } from '../objects/names';
import { findTopic } from './catalog-cache';
import { prepareAll, splitByQueue, storeOn, type Part } from './produce';
import { deeperThan, describeIssues } from './validate';

/** A send whose parts are being stored. */
interface Send { id: SendId; results: Produced[]; parts: number; bytes: number; failed: boolean }
interface Waiting {
  send: Send; part: Part; bytes: number; route: TopicRoute; key?: string;
  /** no message with a dedupId or a due time: the part is stored packed (see packRecords) */
  plain: boolean;
}
interface Lane { waiting: Waiting[]; busy: boolean }

const ROUTE_REFRESH_MS = 5_000;

/** Stores one lane's append (its sends' idempotency keys over their runs): resolves once durable, with one result per message. */
export type StoreFn = (t: TopicRoute, q: number, out: Outgoing[], keys?: KeyRange[]) => Promise<Produced[]>;

export class ProduceChannel {
  private lanes = new Map<number, Lane>();
  private pendingSends = 0;
  private pendingBytes = 0;
  private closed = false;
  private routeAt = Date.now();
  private appends = 0;
  private recycling = false;
  private refreshing = false;
  private readonly appendsMax: number;

  constructor(private env: Env, private ws: WebSocket, private route: TopicRoute,
    private store: StoreFn = (t, q, out, keys) => storeOn(env, t, q, out, undefined, keys)) {
    const n = Number(env.CHANNEL_APPENDS_MAX);
    this.appendsMax = Number.isSafeInteger(n) && n > 0 ? n : LIMITS.channelAppendsMax;
  }

  /** For a socket the Worker accepted: the channel listens to it itself. */
  start(): void {
    this.ws.addEventListener('message', (e) => this.frame(e.data));
    // answering the close ends the request; left unanswered, workerd cancels it as hung
    this.ws.addEventListener('close', (e) => { this.closed = true; try { this.ws.close(e.code === 1005 ? 1000 : e.code, 'closed'); } catch { /* closed */ } });
    this.ws.addEventListener('error', () => { this.closed = true; });
  }

  private reply(frame: object): void {
    if (this.closed) return;
    try { this.ws.send(JSON.stringify(frame)); } catch { this.closed = true; }
  }

  private error(id: SendId | undefined, e: unknown): void {
    const err = e instanceof ApiError ? e : new ApiError('INTERNAL', 'the send could not be stored');
    this.reply(id === undefined ? { type: 'error', code: err.code, message: err.message } : { type: 'error', id, code: err.code, message: err.message });
  }

  /** The socket closed (a hibernatable socket's owner reports it): nothing more is sent on it. */
  gone(): void { this.closed = true; }

  frame(data: unknown): void {
    let id: SendId | undefined;
    try {
      if (typeof data !== 'string') throw new ApiError('BAD_REQUEST', 'frames are JSON text, not binary');
      if (data.length > LIMITS.wsFrameBytesMax) throw new ApiError('BAD_REQUEST', `a frame is at most ${LIMITS.wsFrameBytesMax} bytes: send bigger batches with POST .../messages`);
      let v: unknown;
      try { v = JSON.parse(data); } catch { throw new ApiError('BAD_REQUEST', 'the frame is not valid JSON'); }
      const rawId = v && typeof v === 'object' ? (v as { id?: unknown }).id : undefined;
      if (isSendId(rawId)) id = rawId;
      if (deeperThan(v, LIMITS.jsonDepthMax + 4)) throw new ApiError('BAD_REQUEST', `the frame is nested deeper than ${LIMITS.jsonDepthMax} levels`);
      const r = parseSendFrame(v);
      if (!r.success) {
        throw new ApiError('BAD_REQUEST', `bad frame: ${describeIssues(r.error)}; send {"type":"send","id":1,"messages":[{"body":"..."}]}`);
      }
      if (this.recycling) {
        throw new ApiError('OVERLOADED', 'this connection is being recycled (it closes with 1012 once the sends before this one are answered): reconnect and send this again');
      }
      if (this.pendingSends >= LIMITS.channelPendingSendsMax || this.pendingBytes + data.length > LIMITS.channelPendingBytesMax) {
        throw new ApiError('OVERLOADED', `${this.pendingSends} sends (${this.pendingBytes} bytes) on this connection are not answered yet: wait for answers before sending more`);
      }
      this.maybeRefreshRoute();
      const t = this.route;
      const prepared = prepareAll(r.data.messages, t, Date.now());
      const key = r.data.idempotencyKey;
      const parts = splitByQueue(r.data.messages, prepared, t, key);
      const send: Send = { id: r.data.id, results: new Array(prepared.length), parts: parts.size, bytes: data.length, failed: false };
      this.pendingSends++;
      this.pendingBytes += data.length;
      for (const [q, part] of parts) {
        let lane = this.lanes.get(q);
        if (!lane) this.lanes.set(q, (lane = { waiting: [], busy: false }));
        const plain = part.out.every((o) => o.dedupId === undefined && o.rec.da === undefined);
        lane.waiting.push({ send, part, bytes: part.out.reduce((n, o) => n + o.size, 0), route: t, key, plain });
        this.pump(q, lane);
      }
    } catch (e) {
      this.error(id, e);
    }
  }

  /** Starts the lane's next append with everything waiting (within one request's limits). */
  private pump(q: number, lane: Lane): void {
    if (lane.busy || !lane.waiting.length) return;
    let n = 0;
    let bytes = 0;
    let k = 0;
    let keyed = false;
    let plain = true;
    const t = lane.waiting[0].route; // parts split by an older route (the topic changed) go on their own
    for (; k < lane.waiting.length; k++) {
      const w = lane.waiting[k];
      // keys go with packed runs only: messages stored one by one take one key for all
      const withKey: boolean = keyed || w.key !== undefined;
      if (k > 0 && (w.route !== t || (withKey && !(plain && w.plain))
        || n + w.part.out.length > LIMITS.batchMessagesMax || bytes + w.bytes > LIMITS.batchBytesMax)) break;
      keyed = withKey;
      plain &&= w.plain;
      n += w.part.out.length;
      bytes += w.bytes;
    }
    const batch = lane.waiting.splice(0, k);
    lane.busy = true;
    if (++this.appends >= this.appendsMax) this.recycling = true;
    const out = batch.length === 1 ? batch[0].part.out : batch.flatMap((w) => w.part.out);
    const keys = keyed ? batch.map((w) => ({ key: w.key, n: w.part.out.length })) : undefined;
    this.store(t, q, out, keys).then((res) => {
      let i = 0;
      for (const w of batch) {
        for (const idx of w.part.idx) w.send.results[idx] = res[i++];
        this.partDone(w.send);
      }
    }, (e) => {
      for (const w of batch) this.partFailed(w.send, e);
      if (e instanceof ApiError && e.code === 'TOPIC_NOT_FOUND') this.refreshRoute();
    }).finally(() => {
      lane.busy = false;
      this.pump(q, lane);
    });
  }

  private settle(send: Send): void {
    this.pendingSends--;
    this.pendingBytes -= send.bytes;
    if (this.recycling && this.pendingSends === 0) queueMicrotask(() => this.recycle());
  }

  /** Everything taken is answered: close, so that the client reconnects on a fresh request. */
  private recycle(): void {
    if (this.closed || this.pendingSends > 0) return;
    this.closed = true;
    try { this.ws.close(1012, 'connection recycled: reconnect'); } catch { /* closed */ }
  }

  private partDone(send: Send): void {
    if (send.failed || --send.parts > 0) return;
    this.settle(send);
    this.reply({ type: 'sent', id: send.id, messages: send.results });
  }

  /** A send answers one error, when its first part fails (its other parts may be stored: as REST). */
  private partFailed(send: Send, e: unknown): void {
    if (send.failed) return;
    send.failed = true;
    this.settle(send);
    this.error(send.id, e);
  }

  /** The route is cached like the REST path's: a grown topic's new queues are used within seconds. */
  private maybeRefreshRoute(): void {
    if (Date.now() - this.routeAt > ROUTE_REFRESH_MS) this.refreshRoute();
  }

  private refreshRoute(): void {
    if (this.refreshing) return;
    this.refreshing = true;
    this.routeAt = Date.now();
    findTopic(this.env, this.route.name).then((t) => {
      if (t) { this.route = t; return; }
      this.reply({ type: 'error', code: 'TOPIC_NOT_FOUND', message: `topic "${this.route.name}" was deleted` });
      this.closed = true;
      try { this.ws.close(1008, 'topic deleted'); } catch { /* already closed */ }
    }, () => undefined).finally(() => { this.refreshing = false; });
  }
}
