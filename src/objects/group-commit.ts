/**
 * The Broker's group commit of packed appends (the produce path): appends that arrive while the
 * object is busy wait one `setTimeout 0` turn and are stored together, in arrival order, by one
 * `store` call (one transaction: one fsync under wrangler dev, one replicated write in production),
 * up to a bound per commit; the rest go in the next turn. Each append resolves with what `store`
 * answered for it (its first offset, or the earlier result its idempotency key names) once `store`
 * has returned, so its answer follows its commit.
 */
import type { Failure } from '../model/errors';
import type { PackedRecords } from '../model/message';

/** One commit stores at most this many messages, and this many characters of records, */
export const GROUP_COMMIT_MESSAGES = 10_000;
/** (both well past one REST request's limits: a single request always goes in one). */
export const GROUP_COMMIT_CHARS = 16_000_000;

/** One append: its records, and the idempotency key of the request it came from, if any. */
export interface Append { p: PackedRecords; key?: string }

/**
 * Stores the appends, in order, in one transaction, and answers one result per append, or a
 * failure for every append (the queue is gone). A throw is a failed transaction: nothing of the
 * appends was stored.
 */
export type StoreParts<R> = (appends: Append[], now: number) => R[] | Failure;

interface Waiting<R> { a: Append; resolve: (r: R | Failure) => void; reject: (e: unknown) => void }

export class GroupCommit<R> {
  private queue: Waiting<R>[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;

  /** `stored`: after each commit that stored something, once its appends are resolved. */
  constructor(
    private readonly store: StoreParts<R>,
    private readonly stored: () => void,
    private readonly limits = { messages: GROUP_COMMIT_MESSAGES, chars: GROUP_COMMIT_CHARS },
  ) {}

  /** Appends waiting for their commit. */
  get waiting(): number { return this.queue.length; }

  add(a: Append): Promise<R | Failure> {
    return new Promise((resolve, reject) => {
      this.queue.push({ a, resolve, reject });
      this.commitSoon();
    });
  }

  /** The next commit, in the next timer turn (one pending at a time). */
  private commitSoon(): void {
    this.timer ??= setTimeout(() => { this.timer = null; this.commit(); }, 0);
  }

  private commit(): void {
    let n = 0;
    let chars = 0;
    let k = 0;
    for (; k < this.queue.length; k++) {
      const p = this.queue[k].a.p;
      if (k > 0 && (n + p.lens.length > this.limits.messages || chars > this.limits.chars)) break;
      n += p.lens.length;
      chars += p.text.length;
    }
    const batch = this.queue.splice(0, k);
    if (this.queue.length) this.commitSoon(); // the rest
    if (!batch.length) return;
    let r: R[] | Failure;
    try {
      r = this.store(batch.map((w) => w.a), Date.now());
    } catch (err) {
      for (const w of batch) w.reject(err);
      return;
    }
    if (!Array.isArray(r)) {
      for (const w of batch) w.resolve(r);
      return;
    }
    batch.forEach((w, i) => w.resolve(r[i]));
    this.stored();
  }
}
