/**
 * The HTTP core every SDK class uses: base URL and token, JSON in and out, the API's error
 * shape as EdgeMQError, timeouts, and retries with exponential backoff (and jitter) on busy
 * answers (429, 503, honouring Retry-After), proxy errors and network failures.
 */
import { EdgeMQError, errorFromFailure, errorFromResponse } from './errors';

export interface RetryOptions {
  /** further tries after the first (default 4) */
  retries?: number;
  /** wait before the first retry, ms (default 100) */
  initialMs?: number;
  /** longest wait between tries, ms (default 5000) */
  maxMs?: number;
  /** growth per retry (default 2) */
  multiplier?: number;
}

export interface ClientOptions {
  /** the server, e.g. `http://127.0.0.1:8787` or `https://edgemq.example.workers.dev` */
  url: string;
  /** sent as `Authorization: Bearer <token>` (`?token=` on browser WebSockets) */
  token?: string;
  /** retries of requests that may be repeated; `false` for none */
  retry?: RetryOptions | false;
  /** per try, ms (default 30000; long polls add their wait) */
  timeoutMs?: number;
  /** another fetch (tests, a Worker's service binding) */
  fetch?: typeof fetch;
  /** extra headers on every request */
  headers?: Record<string, string>;
}

/**
 * When a failed request may be sent again:
 * - `safe`: it can be repeated without harm (reads, acks, idempotent produce): busy answers,
 *   proxy errors and no answer at all;
 * - `busy`: only when the server said it was busy (429, 503): it applied nothing;
 * - `never`.
 */
export type RetryMode = 'safe' | 'busy' | 'never';

export interface RequestOptions {
  body?: unknown;
  /** headers of this request only */
  headers?: Record<string, string>;
  query?: Record<string, string | number | boolean | undefined>;
  retry?: RetryMode;
  timeoutMs?: number;
  signal?: AbortSignal;
}

const DEFAULT_RETRY: Required<RetryOptions> = { retries: 4, initialMs: 100, maxMs: 5000, multiplier: 2 };

export const sleep = (ms: number, signal?: AbortSignal) => new Promise<void>((resolve, reject) => {
  if (signal?.aborted) { reject(new EdgeMQError('ABORTED', 'aborted')); return; }
  const t = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
  const onAbort = () => { clearTimeout(t); reject(new EdgeMQError('ABORTED', 'aborted')); };
  signal?.addEventListener('abort', onAbort, { once: true });
});

/** Exponential backoff with "equal jitter": between half and all of the step. */
export function backoffDelay(attempt: number, o: Required<RetryOptions>): number {
  const step = Math.min(o.maxMs, o.initialMs * Math.pow(o.multiplier, Math.max(0, attempt - 1)));
  return Math.round(step / 2 + Math.random() * (step / 2));
}

/** A path segment: topic names of system topics hold `%` (`%DLQ%billing` → `%25DLQ%25billing`). */
export const seg = (s: string) => encodeURIComponent(s);

export class HttpClient {
  readonly baseUrl: string;
  readonly token?: string;
  readonly timeoutMs: number;
  readonly retryOptions: Required<RetryOptions> | null;
  private readonly fetchFn: typeof fetch;
  private readonly headers: Record<string, string>;

  constructor(opts: ClientOptions) {
    if (!opts || typeof opts.url !== 'string' || !/^https?:\/\/[^/]/i.test(opts.url)) {
      throw new EdgeMQError('BAD_REQUEST', `url must be the server's http(s) address, e.g. http://127.0.0.1:8787 (got ${JSON.stringify(opts?.url)})`);
    }
    this.baseUrl = opts.url.replace(/\/+$/, '');
    this.token = opts.token || undefined;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.retryOptions = opts.retry === false ? null : { ...DEFAULT_RETRY, ...(opts.retry ?? {}) };
    // bound late: a detached `fetch` is an "Illegal invocation" in browsers and Workers
    this.fetchFn = opts.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.headers = { ...(opts.headers ?? {}) };
    if (this.token) this.headers.Authorization = `Bearer ${this.token}`;
  }

  url(path: string, query?: RequestOptions['query']): string {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) q.set(k, String(v));
    const qs = q.toString();
    return `${this.baseUrl}${path}${qs ? `?${qs}` : ''}`;
  }

  get<T>(path: string, opts: RequestOptions = {}): Promise<T> { return this.request<T>('GET', path, { retry: 'safe', ...opts }); }
  post<T>(path: string, body: unknown, opts: RequestOptions = {}): Promise<T> { return this.request<T>('POST', path, { ...opts, body }); }
  put<T>(path: string, body: unknown, opts: RequestOptions = {}): Promise<T> { return this.request<T>('PUT', path, { retry: 'safe', ...opts, body }); }
  patch<T>(path: string, body: unknown, opts: RequestOptions = {}): Promise<T> { return this.request<T>('PATCH', path, { retry: 'safe', ...opts, body }); }
  delete<T = void>(path: string, opts: RequestOptions = {}): Promise<T> { return this.request<T>('DELETE', path, { retry: 'safe', ...opts }); }

  /** One API call: answers the parsed JSON (undefined for 204) or throws EdgeMQError. */
  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const mode = opts.retry ?? 'busy';
    const url = this.url(path, opts.query);
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const headers: Record<string, string> = { Accept: 'application/json', ...this.headers, ...opts.headers };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const retry = this.retryOptions;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.once<T>(method, url, headers, body, opts);
      } catch (e) {
        const err = e as EdgeMQError;
        if (!retry || attempt > retry.retries || !mayRetry(err, mode) || opts.signal?.aborted) throw err;
        const wait = Math.max(backoffDelay(attempt, retry), Math.min(err.retryAfterMs ?? 0, 60_000));
        await sleep(wait, opts.signal);
      }
    }
  }

  private async once<T>(method: string, url: string, headers: Record<string, string>, body: string | undefined, opts: RequestOptions): Promise<T> {
    const ctl = new AbortController();
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; ctl.abort(); }, timeoutMs);
    const onAbort = () => ctl.abort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const what = `the edgemq server at ${this.baseUrl}`;
    try {
      if (opts.signal?.aborted) throw new EdgeMQError('ABORTED', `${method} ${url}: aborted`);
      let res: Response;
      let text: string;
      try {
        res = await this.fetchFn(url, { method, headers, body, signal: ctl.signal });
        text = await res.text();
      } catch (e) {
        if (timedOut) throw new EdgeMQError('TIMEOUT', `${what} did not answer ${method} ${new URL(url).pathname} within ${timeoutMs} ms`, { cause: e });
        if (opts.signal?.aborted) throw new EdgeMQError('ABORTED', `${method} ${url}: aborted`, { cause: e });
        throw errorFromFailure(e, what);
      }
      if (!res.ok) throw errorFromResponse(res.status, text, res.headers.get('Retry-After'));
      if (!text) return undefined as T;
      try {
        return JSON.parse(text) as T;
      } catch {
        throw new EdgeMQError('PROTOCOL_ERROR', `${method} ${url} answered ${res.status} with a body that is not JSON: ${text.slice(0, 120)}`, { status: res.status });
      }
    } finally {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
    }
  }
}

function mayRetry(e: EdgeMQError, mode: RetryMode): boolean {
  if (!(e instanceof EdgeMQError) || mode === 'never') return false;
  if (mode === 'busy') return e.status === 429 || e.status === 503;
  return e.retryable;
}
