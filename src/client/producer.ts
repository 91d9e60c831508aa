/**
 * Producer: send one message, a batch of any size (split at the server's limits), or a
 * transaction. Every request carries a random Idempotency-Key (`idempotent: false` turns that
 * off), so that a retry after a lost answer stores nothing twice, at one dedup entry per request
 * rather than one per message; idempotent sends (and those whose messages all have a dedupId) are
 * retried on busy answers (429/503), proxy errors and network failures, others on busy ones only.
 */
import { planBatches, SERVER_BATCH_LIMITS, type BatchLimits } from './batch';
import { EdgeMQError } from './errors';
import { HttpClient, seg, type ClientOptions } from './http';
import { randomId } from './ids';
import { ProducerStream, type ProducerStreamOptions } from './producer-stream';
import { Transaction } from './transaction';
import type { MessageInput, SendResult, TransactionCreated, TransactionDecision, TransactionOptions } from './types';

export interface ProducerOptions extends ClientOptions {
  /** send each request with a random Idempotency-Key, so that retries are safe (default true) */
  idempotent?: boolean;
}

export interface SendOptions { signal?: AbortSignal }

export interface SendBatchOptions extends SendOptions {
  /** called after each request with the number of messages stored so far */
  onProgress?: (sent: number, total: number) => void;
  /** smaller limits than the server's (never larger: the server would refuse) */
  limits?: Partial<BatchLimits>;
}

/** A batch failed part way: `sent` are the results of the messages stored before the failure, in order. */
export class SendBatchError extends EdgeMQError {
  override readonly name: string = 'SendBatchError';

  constructor(cause: EdgeMQError, readonly sent: SendResult[], readonly total: number) {
    super(cause.code, `${cause.message} (${sent.length} of ${total} messages were stored before this; send the rest, from index ${sent.length}, again)`,
      { status: cause.status, retryAfterMs: cause.retryAfterMs, cause });
  }
}

export interface TransactionOutcome {
  transactionId: string;
  messageIds: string[];
  /** UNKNOWN: left to the check-back (checkUrl) or, without one, rolled back after timeoutMs */
  state: 'COMMITTED' | 'ROLLED_BACK' | 'UNKNOWN';
}

export class Producer {
  readonly http: HttpClient;
  readonly idempotent: boolean;

  constructor(opts: ProducerOptions) {
    this.http = new HttpClient(opts);
    this.idempotent = opts.idempotent ?? true;
  }

  /** How a produce request is sent: with its own Idempotency-Key when idempotent, and when it may be retried. */
  private produceOptions(messages: MessageInput[]) {
    if (this.idempotent) return { retry: 'safe' as const, headers: { 'Idempotency-Key': randomId() } };
    return { retry: messages.every((m) => m.dedupId !== undefined) ? 'safe' as const : 'busy' as const };
  }

  /** Sends one message; answers once it is durably stored. */
  async send(topic: string, message: MessageInput, opts: SendOptions = {}): Promise<SendResult> {
    if (!message || typeof message !== 'object' || Array.isArray(message)) {
      throw new EdgeMQError('BAD_REQUEST', 'send(topic, message): message must be an object like { body: "hello" }');
    }
    const r = await this.http.post<{ messages: SendResult[] }>(`/v1/topics/${seg(topic)}/messages`, message, { ...this.produceOptions([message]), signal: opts.signal });
    return r.messages[0];
  }

  /**
   * Sends any number of messages, in order, as few requests as the server's limits allow
   * (1000 messages, 8 MiB). Answers one result per message, in order. A message the server would
   * refuse is refused here, before anything is sent.
   */
  async sendBatch(topic: string, messages: MessageInput[], opts: SendBatchOptions = {}): Promise<SendResult[]> {
    if (!Array.isArray(messages)) throw new EdgeMQError('BAD_REQUEST', 'sendBatch(topic, messages): messages must be an array');
    if (!messages.length) return [];
    const limits = { ...SERVER_BATCH_LIMITS, ...opts.limits };
    const chunks = planBatches(topic, messages, limits);
    const results: SendResult[] = [];
    for (const chunk of chunks) {
      try {
        const r = await this.http.post<{ messages: SendResult[] }>(`/v1/topics/${seg(topic)}/messages`, { messages: chunk },
          { ...this.produceOptions(chunk), signal: opts.signal, timeoutMs: Math.max(this.http.timeoutMs, 60_000) });
        results.push(...r.messages);
      } catch (e) {
        if (e instanceof EdgeMQError && chunks.length > 1) throw new SendBatchError(e, results, messages.length);
        throw e;
      }
      opts.onProgress?.(results.length, messages.length);
    }
    return results;
  }

  /**
   * Opens a WebSocket produce channel to `topic`: pipelined sends, the fastest way to produce
   * many messages (see ProducerStream). Close it with `await stream.close()`.
   */
  async openStream(topic: string, opts: ProducerStreamOptions = {}): Promise<ProducerStream> {
    return new ProducerStream(this.http, topic, this.idempotent, (m) => this.send(topic, m), opts).open();
  }

  /**
   * Stores half messages, invisible until you commit. Without `checkUrl` an unresolved
   * transaction is rolled back after `timeoutMs`; with one, the broker asks it (see
   * transactionCheckHandler).
   */
  async beginTransaction(topic: string, messages: MessageInput[], opts: TransactionOptions & SendOptions = {}): Promise<Transaction> {
    const { signal, ...tx } = opts;
    // not retried on a lost answer: a second prepare would be a second transaction
    const r = await this.http.post<TransactionCreated>(`/v1/topics/${seg(topic)}/transactions`, { ...tx, messages }, { retry: 'busy', signal });
    return new Transaction(this.http, topic, r.transactionId, r.messages.map((m) => m.messageId));
  }

  /**
   * RocketMQ's transactional send: prepares the messages, runs your local transaction, then
   * commits or rolls back as it answers. `UNKNOWN` leaves the decision to the check-back; if the
   * local transaction throws, the messages are rolled back and the error is rethrown.
   */
  async sendTransactional(topic: string, messages: MessageInput[],
    execute: (tx: Transaction) => TransactionDecision | Promise<TransactionDecision>,
    opts: TransactionOptions & SendOptions = {}): Promise<TransactionOutcome> {
    const tx = await this.beginTransaction(topic, messages, opts);
    let decision: TransactionDecision;
    try {
      decision = await execute(tx);
    } catch (e) {
      await tx.rollback().catch(() => undefined);
      throw e;
    }
    const base = { transactionId: tx.transactionId, messageIds: tx.messageIds };
    if (decision === 'COMMIT') return { ...base, state: (await tx.commit()).state };
    if (decision === 'ROLLBACK') return { ...base, state: (await tx.rollback()).state };
    return { ...base, state: 'UNKNOWN' };
  }

  /** Recalls a scheduled message that is not yet due: it will never be delivered. */
  async recall(topic: string, messageId: string): Promise<void> {
    await this.http.delete(`/v1/topics/${seg(topic)}/messages/${seg(messageId)}`);
  }
}
