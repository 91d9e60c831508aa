/** A small HTTP client over Node's fetch for the end-to-end tests, and assertion helpers. */
import { expect } from 'vitest';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

export interface Res {
  status: number;
  headers: Headers;
  /** the parsed JSON answer (undefined when empty or not JSON) */
  body: Json;
  text: string;
  /** milliseconds the request took */
  ms: number;
}

export interface ReqOpts {
  headers?: Record<string, string>;
  /** send this as the body instead of JSON.stringify(body) (malformed JSON, raw produce) */
  raw?: string | Uint8Array;
  /** Content-Type for `raw` (default application/json); null to send none */
  contentType?: string | null;
  token?: string | null;
}

let seq = 0;
/** A name unique in this run: every test uses its own topics and groups. */
export function uniq(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}${(seq++).toString(36)}${Math.floor(Math.random() * 1e4).toString(36)}`;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Api {
  constructor(private base: () => string, public token: string | null = null) {}

  async req(method: string, path: string, body?: unknown, opts: ReqOpts = {}): Promise<Res> {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    const token = opts.token === undefined ? this.token : opts.token;
    if (token) headers.Authorization = `Bearer ${token}`;
    let payload: string | Uint8Array | undefined;
    if (opts.raw !== undefined) {
      payload = opts.raw;
      const ct = opts.contentType === undefined ? 'application/json' : opts.contentType;
      if (ct !== null) headers['Content-Type'] = ct;
    } else if (body !== undefined) {
      payload = JSON.stringify(body);
      headers['Content-Type'] = 'application/json';
    }
    const t0 = Date.now();
    const r = await fetch(this.base() + path, { method, headers, body: payload as RequestInit['body'], signal: AbortSignal.timeout(55_000) });
    const text = await r.text();
    let parsed: Json;
    try { parsed = text ? JSON.parse(text) : undefined; } catch { parsed = undefined; }
    return { status: r.status, headers: r.headers, body: parsed, text, ms: Date.now() - t0 };
  }

  get(path: string, opts?: ReqOpts) { return this.req('GET', path, undefined, opts); }
  post(path: string, body?: unknown, opts?: ReqOpts) { return this.req('POST', path, body, opts); }
  put(path: string, body?: unknown, opts?: ReqOpts) { return this.req('PUT', path, body, opts); }
  patch(path: string, body?: unknown, opts?: ReqOpts) { return this.req('PATCH', path, body, opts); }
  del(path: string, opts?: ReqOpts) { return this.req('DELETE', path, undefined, opts); }

  // ---- shortcuts that assert success ----

  async createTopic(name: string, cfg: Record<string, unknown> = {}): Promise<Json> {
    const r = await this.post('/v1/topics', { name, ...cfg });
    expect(r.status, r.text).toBe(201);
    return r.body;
  }

  async putGroup(name: string, cfg: Record<string, unknown> = {}): Promise<Json> {
    const r = await this.put(`/v1/groups/${name}`, cfg);
    expect([200, 201], r.text).toContain(r.status);
    return r.body;
  }

  async produce(topic: string, msg: unknown): Promise<Json[]> {
    const r = await this.post(`/v1/topics/${enc(topic)}/messages`, msg);
    expect(r.status, r.text).toBe(201);
    return r.body.messages;
  }

  async receive(topic: string, group: string, opts: Record<string, unknown> = {}): Promise<Json[]> {
    const r = await this.post(`/v1/topics/${enc(topic)}/subscriptions/${group}/receive`, { maxMessages: 256, ...opts });
    expect(r.status, r.text).toBe(200);
    return r.body.messages;
  }

  async ack(topic: string, group: string, handles: string[]): Promise<string[]> {
    const r = await this.post(`/v1/topics/${enc(topic)}/subscriptions/${group}/ack`, { receiptHandles: handles });
    expect(r.status, r.text).toBe(200);
    return r.body.results.map((x: Json) => x.status);
  }

  async nack(topic: string, group: string, handles: string[], delayMs?: number): Promise<string[]> {
    const r = await this.post(`/v1/topics/${enc(topic)}/subscriptions/${group}/nack`,
      { receiptHandles: handles, ...(delayMs !== undefined ? { delayMs } : {}) });
    expect(r.status, r.text).toBe(200);
    return r.body.results.map((x: Json) => x.status);
  }

  async topic(name: string): Promise<Json> {
    const r = await this.get(`/v1/topics/${enc(name)}`);
    expect(r.status, r.text).toBe(200);
    return r.body;
  }

  /** Sum of maxOffset over the topic's queues: how many messages were ever appended. */
  async stored(name: string): Promise<number> {
    const t = await this.topic(name);
    return t.queueStatus.reduce((n: number, q: Json) => n + q.maxOffset, 0);
  }

  async group(name: string): Promise<Json> {
    const r = await this.get(`/v1/groups/${name}`);
    expect(r.status, r.text).toBe(200);
    return r.body;
  }

  /**
   * Receives and acks until nothing more comes (FIFO message groups release their next message
   * only once the previous one is acked). Answers everything received, in order.
   */
  async drain(topic: string, group: string, opts: Record<string, unknown> = {}): Promise<Json[]> {
    const all: Json[] = [];
    for (;;) {
      const got = await this.receive(topic, group, opts);
      if (!got.length) return all;
      expect(await this.ack(topic, group, got.map((m) => m.receiptHandle))).toEqual(got.map(() => 'OK'));
      all.push(...got);
    }
  }

  /** Receives until `n` messages came or `ms` passed (long polling in between). */
  async receiveN(topic: string, group: string, n: number, ms = 10_000, opts: Record<string, unknown> = {}): Promise<Json[]> {
    const got: Json[] = [];
    const until = Date.now() + ms;
    while (got.length < n && Date.now() < until) {
      got.push(...await this.receive(topic, group, { waitMs: Math.max(0, Math.min(2000, until - Date.now())), ...opts }));
    }
    return got;
  }
}

export const enc = (s: string) => encodeURIComponent(s);

/** The API's error shape, with the given status and code. Answers the message. */
export function expectError(r: Res, status: number, code: string): string {
  expect(r.status, `status of ${r.text}`).toBe(status);
  expect(r.headers.get('content-type') ?? '').toMatch(/^application\/json/);
  expect(r.body, r.text).toMatchObject({ error: { code, message: expect.any(String) } });
  expect(Object.keys(r.body)).toEqual(['error']);
  expect(r.body.error.message.length).toBeGreaterThan(5);
  return r.body.error.message;
}
