/**
 * A push client's frames, read and answered the same way wherever its socket ends: at the relay
 * (a topic of several queues) or at the Broker (a topic of one queue).
 */
import { ApiError } from '../model/errors';
import { ClientFrame, plainAck } from '../model/frames';
import { LIMITS } from '../model/limits';
import { describeIssues, deeperThan } from './validate';

/**
 * A client's frame on a push socket, checked: throws ApiError (sent back as an error frame, the
 * socket stays open). Read by the relay, and by the Broker for a socket it serves itself.
 */
export function readClientFrame(data: unknown): ClientFrame {
  if (typeof data !== 'string') throw new ApiError('BAD_REQUEST', 'frames are JSON text, not binary');
  if (data.length > LIMITS.controlRequestBytesMax) throw new ApiError('BAD_REQUEST', `a frame is at most ${LIMITS.controlRequestBytesMax} bytes`);
  let v: unknown;
  try { v = JSON.parse(data); } catch { throw new ApiError('BAD_REQUEST', 'the frame is not valid JSON'); }
  if (plainAck(v)) return v;
  if (deeperThan(v, 8)) throw new ApiError('BAD_REQUEST', 'the frame is nested too deeply');
  const r = ClientFrame.safeParse(v);
  if (!r.success) throw new ApiError('BAD_REQUEST', `bad frame: ${describeIssues(r.error)}; send {"type":"ack"|"nack","receiptHandles":[...]}`);
  return r.data;
}

/** An error frame of a push socket (API.md): an ApiError's code and message, else INTERNAL. */
export function errorFrame(e: unknown): string {
  return e instanceof ApiError ? JSON.stringify({ type: 'error', code: e.code, message: e.message })
    : '{"type":"error","code":"INTERNAL","message":"the frame could not be handled"}';
}
