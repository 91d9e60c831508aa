/**
 * Splitting a batch at the server's limits (src/model/limits.ts): at most 1000 messages and
 * 8 MiB of messages per request, and a request body under 12 MiB. A message's size is what the
 * server counts (src/model/message.ts `prepare`: body plus tag, keys and properties), computed by
 * the same function, which also rejects what the server would, before anything is sent.
 */
import { ApiError } from '../model/errors';
import { LIMITS } from '../model/limits';
import { prepare } from '../model/message';
import type { TopicConfig } from '../model/schemas';
import { EdgeMQError } from './errors';
import type { MessageInput } from './types';

export interface BatchLimits { maxMessages: number; maxBytes: number; maxRequestBytes: number }

export const SERVER_BATCH_LIMITS: BatchLimits = {
  maxMessages: LIMITS.batchMessagesMax,
  maxBytes: LIMITS.batchBytesMax,
  // the body is read up to requestBytesMax; keep a margin for the envelope
  maxRequestBytes: LIMITS.requestBytesMax - 64 * 1024,
};

const utf8 = new TextEncoder();

/** A stand-in topic that takes every kind of message at the largest size any topic allows. */
function anyTopic(name: string): TopicConfig {
  return {
    name, queues: 1, type: 'MIXED', retentionHours: 1, maxMessageBytes: LIMITS.maxMessageBytesMax,
    dedupWindowMs: 0, createdAt: 0,
  } as TopicConfig;
}

/** The size the server counts for each message; throws the server's error for a bad one. */
export function messageSizes(topic: string, messages: MessageInput[], now = Date.now()): number[] {
  const t = anyTopic(topic);
  return messages.map((m, i) => {
    try {
      return prepare(m as Parameters<typeof prepare>[0], t, now, messages.length === 1 ? '' : i).size;
    } catch (e) {
      if (e instanceof ApiError) throw new EdgeMQError(e.code, e.message, { status: e.status });
      throw e;
    }
  });
}

/** Consecutive slices of `messages`, each within `limits`, in order. */
export function planBatches(topic: string, messages: MessageInput[], limits: BatchLimits = SERVER_BATCH_LIMITS): MessageInput[][] {
  const sizes = messageSizes(topic, messages);
  const out: MessageInput[][] = [];
  let cur: MessageInput[] = [];
  let bytes = 0;
  let reqBytes = 0;
  const envelope = 16; // {"messages":[ ... ]}
  messages.forEach((m, i) => {
    const json = utf8.encode(JSON.stringify(m)).length + 1;
    const full = cur.length >= limits.maxMessages || bytes + sizes[i] > limits.maxBytes
      || envelope + reqBytes + json > limits.maxRequestBytes;
    if (cur.length && full) { out.push(cur); cur = []; bytes = 0; reqBytes = 0; }
    cur.push(m);
    bytes += sizes[i];
    reqBytes += json;
  });
  if (cur.length) out.push(cur);
  return out;
}
