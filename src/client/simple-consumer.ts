/**
 * SimpleConsumer (RocketMQ 5's pull consumer): receive a batch, each message invisible to the
 * group until you ack it, nack it (redelivered after the group's backoff, or `delayMs`) or its
 * invisibility runs out. `waitMs` long-polls: the answer comes as soon as a message is there.
 */
import { LIMITS } from '../model/limits';
import { EdgeMQError } from './errors';
import { HttpClient, seg, type ClientOptions } from './http';
import type { AckResult, Filter, ReceivedMessage } from './types';

export interface SimpleConsumerOptions extends ClientOptions {
  topic: string;
  group: string;
  /** names this consumer in the group's listing; required by BROADCASTING groups (their offsets are per consumer) */
  consumerId?: string;
  /** a tag expression (`"a || b"`) or `{ sql }` */
  filter?: Filter;
  /** default invisibility of received messages, ms (default: the group's) */
  invisibleMs?: number;
  /** default long-poll wait, ms, 0..20000 (default 0: answer at once) */
  waitMs?: number;
}

export interface ReceiveOptions {
  /** 1..256 (default 16) */
  maxMessages?: number;
  waitMs?: number;
  invisibleMs?: number;
  signal?: AbortSignal;
}

/** A received message or its receipt handle. */
export type Receipt = ReceivedMessage | string;
const handleOf = (r: Receipt) => (typeof r === 'string' ? r : r.receiptHandle);

export class SimpleConsumer {
  readonly http: HttpClient;
  readonly topic: string;
  readonly group: string;
  private readonly base: string;

  constructor(private readonly opts: SimpleConsumerOptions) {
    if (!opts.topic || !opts.group) throw new EdgeMQError('BAD_REQUEST', 'SimpleConsumer needs { topic, group }');
    this.http = new HttpClient(opts);
    this.topic = opts.topic;
    this.group = opts.group;
    this.base = `/v1/topics/${seg(opts.topic)}/subscriptions/${seg(opts.group)}`;
  }

  /** Up to `maxMessages` messages (none when nothing came within `waitMs`). */
  async receive(o: ReceiveOptions = {}): Promise<ReceivedMessage[]> {
    const waitMs = o.waitMs ?? this.opts.waitMs ?? 0;
    const body: Record<string, unknown> = { maxMessages: o.maxMessages ?? LIMITS.receiveDefaultMessages, waitMs };
    const invisibleMs = o.invisibleMs ?? this.opts.invisibleMs;
    if (invisibleMs !== undefined) body.invisibleMs = invisibleMs;
    if (this.opts.filter !== undefined) body.filter = this.opts.filter;
    if (this.opts.consumerId !== undefined) body.consumerId = this.opts.consumerId;
    const r = await this.http.post<{ messages: ReceivedMessage[] }>(`${this.base}/receive`, body, {
      // a retry after a lost answer is safe: what that answer leased comes back after its invisibility
      retry: 'safe', signal: o.signal, timeoutMs: this.http.timeoutMs + waitMs,
    });
    return r.messages;
  }

  /** Acks: OK, or EXPIRED when the lease ran out or a later delivery superseded it (then nothing changed). */
  ack(receipts: Receipt | Receipt[]): Promise<AckResult[]> {
    return this.settle('ack', receipts, {});
  }

  /** A failed attempt: redelivered after the group's backoff, or after `delayMs`. */
  nack(receipts: Receipt | Receipt[], opts: { delayMs?: number } = {}): Promise<AckResult[]> {
    return this.settle('nack', receipts, opts.delayMs === undefined ? {} : { delayMs: opts.delayMs });
  }

  /**
   * Extends (or shortens) a message's invisibility from now. Answers the new receipt handle, and
   * puts it on the message when given one: the old handle no longer works.
   */
  async changeInvisibility(receipt: Receipt, invisibleMs: number): Promise<string> {
    const r = await this.http.post<{ receiptHandle: string }>(`${this.base}/change-invisibility`,
      { receiptHandle: handleOf(receipt), invisibleMs }, { retry: 'busy' });
    if (typeof receipt !== 'string') receipt.receiptHandle = r.receiptHandle;
    return r.receiptHandle;
  }

  private async settle(verb: 'ack' | 'nack', receipts: Receipt | Receipt[], extra: { delayMs?: number }): Promise<AckResult[]> {
    const handles = (Array.isArray(receipts) ? receipts : [receipts]).map(handleOf);
    const out: AckResult[] = [];
    for (let i = 0; i < handles.length; i += LIMITS.ackHandlesMax) {
      const r = await this.http.post<{ results: AckResult[] }>(`${this.base}/${verb}`,
        { receiptHandles: handles.slice(i, i + LIMITS.ackHandlesMax), ...extra }, { retry: 'safe' });
      out.push(...r.results);
    }
    return out;
  }
}
