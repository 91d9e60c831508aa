/** The one error the SDK throws: the server's `{"error": {"code", "message"}}`, or why there was no answer. */
import type { ErrorCode } from '../model/errors';

/** Codes for failures that never got an answer from the server. */
export type ClientErrorCode =
  | 'NETWORK_ERROR' // the server could not be reached, or the connection broke
  | 'TIMEOUT' // no answer in time
  | 'ABORTED' // the caller's AbortSignal fired
  | 'PROTOCOL_ERROR'; // an answer that is not the API's shape
export type EdgeMQErrorCode = ErrorCode | ClientErrorCode | (string & {});

/** Statuses worth another try: the server is busy or a proxy could not reach it. */
const RETRYABLE_STATUS = new Set([429, 502, 503, 504]);

export class EdgeMQError extends Error {
  override readonly name: string = 'EdgeMQError';
  /** the API's error code (`TOPIC_NOT_FOUND`, `OVERLOADED`, ...) or a ClientErrorCode */
  readonly code: EdgeMQErrorCode;
  /** the HTTP status; 0 when there was no answer */
  readonly status: number;
  /** the server's Retry-After, in milliseconds */
  declare readonly retryAfterMs?: number;

  constructor(code: EdgeMQErrorCode, message: string, opts: { status?: number; retryAfterMs?: number; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.code = code;
    this.status = opts.status ?? 0;
    if (opts.retryAfterMs !== undefined) (this as { retryAfterMs?: number }).retryAfterMs = opts.retryAfterMs;
  }

  /** No answer at all (network, timeout): the request may or may not have been applied. */
  get unanswered(): boolean { return this.code === 'NETWORK_ERROR' || this.code === 'TIMEOUT'; }

  /** Busy (429/503), a proxy error (502/504) or no answer: another try may succeed. */
  get retryable(): boolean { return this.unanswered || RETRYABLE_STATUS.has(this.status); }

  toJSON(): { error: { code: string; message: string; status: number } } {
    return { error: { code: this.code, message: this.message, status: this.status } };
  }
}

/** Seconds or an HTTP date, as milliseconds from now. */
export function parseRetryAfter(v: string | null | undefined): number | undefined {
  if (!v) return undefined;
  if (/^\s*\d+(\.\d+)?\s*$/.test(v)) return Math.round(Number(v) * 1000);
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - Date.now());
}

/** An EdgeMQError from an HTTP answer that is not 2xx. */
export function errorFromResponse(status: number, text: string, retryAfter?: string | null): EdgeMQError {
  let code: string | undefined;
  let message: string | undefined;
  try {
    const e = (JSON.parse(text) as { error?: { code?: unknown; message?: unknown } }).error;
    if (typeof e?.code === 'string') code = e.code;
    if (typeof e?.message === 'string') message = e.message;
  } catch { /* not the API's shape: a proxy or another server answered */ }
  code ??= status === 401 ? 'UNAUTHORIZED' : status === 403 ? 'FORBIDDEN' : status === 404 ? 'NOT_FOUND'
    : status === 429 || status === 503 ? 'OVERLOADED' : status >= 500 ? 'INTERNAL' : 'BAD_REQUEST';
  message ??= `the server answered HTTP ${status}${text ? `: ${text.slice(0, 200).trim()}` : ''}`;
  return new EdgeMQError(code, message, { status, retryAfterMs: parseRetryAfter(retryAfter) });
}

/** Why a request got no answer, from whatever fetch or a socket threw. */
export function errorFromFailure(e: unknown, what: string): EdgeMQError {
  if (e instanceof EdgeMQError) return e;
  const err = e as { name?: string; message?: string; code?: string; cause?: { code?: string; message?: string } };
  if (err?.name === 'TimeoutError') return new EdgeMQError('TIMEOUT', `${what}: no answer in time`, { cause: e });
  if (err?.name === 'AbortError') return new EdgeMQError('ABORTED', `${what}: aborted`, { cause: e });
  const code = err?.cause?.code ?? err?.code;
  const why = code === 'ECONNREFUSED' ? 'connection refused'
    : code === 'ENOTFOUND' ? 'host not found'
      : code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' ? 'the connection was reset'
        : /bad port/i.test(err?.cause?.message ?? err?.message ?? '') ? 'fetch refuses to use this port (a "bad port"); pick another'
        : err?.cause?.message ?? err?.message ?? String(e);
  return new EdgeMQError('NETWORK_ERROR', `cannot reach ${what}: ${why}${code && !why.includes(code) ? ` (${code})` : ''}`, { cause: e });
}

/** A refusal that another try will not change: a bad name, unknown topic, no permission. */
export const isFatal = (e: EdgeMQError) => (e.status >= 400 && e.status < 500 && e.status !== 408 && e.status !== 429)
  || (e.status === 0 && !e.retryable && e.code !== 'PROTOCOL_ERROR');
