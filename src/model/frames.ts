/** WebSocket frames a client may send (API.md "Push over WebSocket"). */
import { z } from '@hono/zod-openapi';
import { LIMITS } from './limits';
import { bodyOnly, Handle, MessageInput } from './schemas';

const Handles = z.array(Handle).min(1).max(LIMITS.ackHandlesMax); // plainAck mirrors it

export const ClientFrame = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ack'), receiptHandles: Handles }).strict(),
  z.object({ type: z.literal('nack'), receiptHandles: Handles, delayMs: z.number().int().min(0).max(LIMITS.nackDelayMsMax).optional() }).strict(),
]);
export type ClientFrame = z.infer<typeof ClientFrame>;

/**
 * Whether `v` is a plain ack, the frame a push consumer sends for every batch it gets, checked
 * as ClientFrame would check it: the relay's hot path skips zod for it.
 */
export function plainAck(v: unknown): v is ClientFrame {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const f = v as Record<string, unknown>;
  const hs = f.receiptHandles;
  return f.type === 'ack' && Object.keys(f).length === 2 && Array.isArray(hs) && hs.length >= 1 && hs.length <= LIMITS.ackHandlesMax
    && hs.every((h) => typeof h === 'string' && h.length >= 1 && h.length <= LIMITS.receiptHandleChars);
}

/** Frames between the relay and a Broker (internal). */
export type BrokerControl =
  | { type: 'credit'; n: number }
  /** give back unused credit (the broker answers {"type":"returned","n"}) so that a busier queue can use it */
  | { type: 'reclaim' }
  /** `credit`: credit granted with the ack (one frame where there would be two) */
  | { type: 'ack'; receiptHandles: string[]; credit?: number }
  | { type: 'nack'; receiptHandles: string[]; delayMs?: number; credit?: number };
// Broker to relay: `{"type":"handles","h":[...]}\n{"type":"messages",...}`, one frame whose first
// line names the receipt handles of the messages frame after it (relayed unparsed: JSON text has no
// raw newline), {"type":"hungry"}, {"type":"returned","n"}, and error frames (relayed).
export const HANDLES_PREFIX = '{"type":"handles"';

/** Correlates a send with its answer: the client's choice, echoed back. */
export const SendId = z.union([z.string().min(1).max(64), z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)]);
export type SendId = z.infer<typeof SendId>;

/**
 * An idempotency key (the REST produce's `Idempotency-Key` header, a send frame's `idempotencyKey`):
 * printable ASCII, no spaces, so that it reads the same in a header and in JSON.
 */
export const IDEMPOTENCY_KEY = new RegExp(`^[\\x21-\\x7e]{1,${LIMITS.idempotencyKeyChars}}$`);

/** The WebSocket produce channel's one client frame (docs/api-websocket-produce.md). */
export const SendFrame = z.object({
  type: z.literal('send'),
  id: SendId,
  messages: z.array(MessageInput).min(1).max(LIMITS.batchMessagesMax),
  idempotencyKey: z.string().regex(IDEMPOTENCY_KEY, `1-${LIMITS.idempotencyKeyChars} printable ASCII characters, no spaces`).optional(),
}).strict();
export type SendFrame = z.infer<typeof SendFrame>;

/** SendId.safeParse(v).success, without zod's result object (asked for every frame). */
export function isSendId(v: unknown): v is SendId {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0;
  return typeof v === 'string' && v.length >= 1 && (v.length <= 64 || codePoints(v) <= 64); // zod counts code points
}

function codePoints(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** SendFrame.safeParse, with a fast path for frames of body-only messages (see `bodyOnly`). */
export function parseSendFrame(v: unknown): { success: true; data: SendFrame } | ReturnType<typeof SendFrame.safeParse> {
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
    const f = v as Record<string, unknown>;
    const fields = Object.keys(f).length;
    if (f.type === 'send' && (fields === 3 || (fields === 4 && typeof f.idempotencyKey === 'string' && IDEMPOTENCY_KEY.test(f.idempotencyKey)))
      && Array.isArray(f.messages) && f.messages.length >= 1
      && f.messages.length <= LIMITS.batchMessagesMax && isSendId(f.id) && bodyOnly(f.messages)) {
      return { success: true, data: f as SendFrame };
    }
  }
  return SendFrame.safeParse(v);
}
