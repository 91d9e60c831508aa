/**
 * The Broker's group commit of packed appends (the produce path): appends that arrive while the
 * object is busy wait one `setTimeout 0` turn and are stored together, in arrival order, by one
 * `store` call (one transaction: one fsync under wrangler dev, one replicated write in production),
 * up to a bound per commit; the rest go in the next turn. Each append resolves with its first
 * offset once `store` has returned, so its answer follows its commit.
 */
import type { Failure } from '../model/errors';
import type { PackedRecords } from '../model/message';

/** One commit stores at most this many messages, and this many characters of records, */
export const GROUP_COMMIT_MESSAGES = 10_000;
/** (both well past one REST request's limits: a single request always goes in one). */
export const GROUP_COMMIT_CHARS = 16_000_000;

/**
 * Stores the parts, in order, in one transaction, and answers the first offset (the parts'
 * offsets follow each other), or a failure for every part (the queue is gone). A throw is a
 * failed transaction: nothing of the parts was stored.
 */
export type StoreParts = (parts: PackedRecords[], now: number) => number | Failure;

interface Waiting { p: PackedRecords; resolve: (r: { base: number } | Failure) => void; reject: (e: unknown) => void }

export class GroupCommit {
  private queue: Waiting[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;

  /** `stored`: after each commit that stored something, once its appends are resolved. */
  constructor(
    private readonly store: StoreParts,
    private readonly stored: () => void,
    private readonly limits = { messages: GROUP_COMMIT_MESSAGES, chars: GROUP_COMMIT_CHARS },
  ) {}

  /** Appends waiting for their commit. */
  get waiting(): number { return this.queue.length; }

  add(p: PackedRecords): Promise<{ base: number } | Failure> {
    return new Promise((resolve, reject) => {
      this.queue.push({ p, resolve, reject });
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
      const p = this.queue[k].p;
      if (k > 0 && (n + p.lens.length > this.limits.messages || chars > this.limits.chars)) break;
      n += p.lens.length;
      chars += p.text.length;
    }
    const batch = this.queue.splice(0, k);
    if (this.queue.length) this.commitSoon(); // the rest
    if (!batch.length) return;
    let r: number | Failure;
    try {
      r = this.store(batch.map((a) => a.p), Date.now());
    } catch (err) {
      for (const a of batch) a.reject(err);
      return;
    }
    if (typeof r !== 'number') {
      for (const a of batch) a.resolve(r);
      return;
    }
    let base = r;
    for (const a of batch) { a.resolve({ base }); base += a.p.lens.length; }
    this.stored();
  }
}
