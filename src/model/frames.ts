/** WebSocket frames a client may send (API.md "Push over WebSocket"). */
import { z } from '@hono/zod-openapi';
import { LIMITS } from './limits';

const Handles = z.array(z.string().min(1).max(512)).min(1).max(LIMITS.ackHandlesMax);

export const ClientFrame = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ack'), receiptHandles: Handles }).strict(),
  z.object({ type: z.literal('nack'), receiptHandles: Handles, delayMs: z.number().int().min(0).max(LIMITS.nackDelayMsMax).optional() }).strict(),
]);
export type ClientFrame = z.infer<typeof ClientFrame>;

/** Frames between the relay and a Broker (internal). */
export type BrokerControl =
  | { type: 'credit'; n: number }
  /** give back unused credit (the broker answers {"type":"returned","n"}) so that a busier queue can use it */
  | { type: 'reclaim' }
  | { type: 'ack'; receiptHandles: string[] }
  | { type: 'nack'; receiptHandles: string[]; delayMs?: number };
