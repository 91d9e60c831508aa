/** The API's error shape: `{"error": {"code", "message"}}` with the HTTP status beside it. */

export type ErrorCode =
  | 'BAD_REQUEST' | 'INVALID_NAME' | 'TOPIC_NOT_FOUND' | 'TOPIC_EXISTS' | 'GROUP_NOT_FOUND'
  | 'MESSAGE_NOT_FOUND' | 'MESSAGE_TOO_LARGE' | 'BATCH_TOO_LARGE' | 'INVALID_FILTER'
  | 'MESSAGE_TYPE_MISMATCH' | 'INVALID_RECEIPT_HANDLE' | 'RECEIPT_HANDLE_EXPIRED'
  | 'TRANSACTION_NOT_FOUND' | 'TRANSACTION_RESOLVED' | 'TOKEN_NOT_FOUND' | 'UNAUTHORIZED' | 'FORBIDDEN'
  | 'OVERLOADED' | 'NOT_FOUND' | 'CONFLICT' | 'METHOD_NOT_ALLOWED' | 'INTERNAL';

export const STATUS_OF: Record<ErrorCode, number> = {
  BAD_REQUEST: 400, INVALID_NAME: 400, INVALID_FILTER: 400, MESSAGE_TYPE_MISMATCH: 400,
  INVALID_RECEIPT_HANDLE: 400, RECEIPT_HANDLE_EXPIRED: 400,
  TOPIC_NOT_FOUND: 404, GROUP_NOT_FOUND: 404, MESSAGE_NOT_FOUND: 404, TRANSACTION_NOT_FOUND: 404, TOKEN_NOT_FOUND: 404, NOT_FOUND: 404,
  TOPIC_EXISTS: 409, TRANSACTION_RESOLVED: 409, CONFLICT: 409,
  MESSAGE_TOO_LARGE: 413, BATCH_TOO_LARGE: 413,
  UNAUTHORIZED: 401, FORBIDDEN: 403, METHOD_NOT_ALLOWED: 405,
  OVERLOADED: 503, INTERNAL: 500,
};

export interface ErrorBody { error: { code: ErrorCode; message: string } }

/** Thrown anywhere in the Worker; the app's error handler turns it into the API's error shape. */
export class ApiError extends Error {
  constructor(public code: ErrorCode, message: string, public status: number = STATUS_OF[code],
              public retryAfterSec?: number) {
    super(message);
    this.name = 'ApiError';
  }
  toJSON(): ErrorBody { return { error: { code: this.code, message: this.message } }; }
}

/**
 * Expected failures cross the Durable Object RPC boundary as values, not exceptions: workerd
 * keeps only an Error's message across RPC, and a value keeps the code and status intact.
 */
export interface Failure { failure: { code: ErrorCode; message: string } }
export const fail = (code: ErrorCode, message: string): Failure => ({ failure: { code, message } });
export function isFailure(x: unknown): x is Failure {
  return typeof x === 'object' && x !== null && 'failure' in x;
}
/** Unwraps an RPC answer, throwing its failure as an ApiError. */
export function unwrap<T>(x: T): Exclude<T, Failure> {
  if (isFailure(x)) {
    const f = x.failure;
    throw f.code === 'OVERLOADED' ? new ApiError(f.code, f.message, 429, 1) : new ApiError(f.code, f.message);
  }
  return x as Exclude<T, Failure>;
}
