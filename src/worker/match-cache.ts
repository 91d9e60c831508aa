/**
 * The router with its answers remembered by method and path. Under wrangler dev, a trie search
 * for the produce route cost 20-40 µs of a request's CPU in workerd's profile (more than the
 * 0.6 µs it takes in a tight loop); a queue's clients ask the same few paths again and again, so
 * a Map lookup answers nearly all of them. Hono's RegExpRouter, the fast one, refuses this API's
 * routes (a static segment beside a parameter: .../messages/ws and .../messages/{messageId}).
 *
 * Safe to share: a match holds handlers and a params object made for that match, which Hono only
 * reads. Bounded: at `max` entries the oldest goes, so paths that never repeat (ids) cost a
 * match as before.
 */
import type { Result, Router } from 'hono/router';

export class MatchCache<T> implements Router<T> {
  readonly name: string;
  private readonly answers = new Map<string, Result<T>>();

  constructor(private readonly inner: Router<T>, private readonly max = 1024) {
    this.name = `MatchCache(${inner.name})`;
  }

  add(method: string, path: string, handler: T): void {
    this.answers.clear();
    this.inner.add(method, path, handler);
  }

  match(method: string, path: string): Result<T> {
    const key = `${method} ${path}`;
    let r = this.answers.get(key);
    if (r === undefined) {
      r = this.inner.match(method, path);
      if (this.answers.size >= this.max) this.answers.delete(this.answers.keys().next().value as string);
      this.answers.set(key, r);
    }
    return r;
  }
}
