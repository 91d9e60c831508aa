/**
 * Message ids and receipt handles. Both are opaque to clients, but they carry what the Worker
 * needs to route them without a lookup: a message id names its queue and its place in the log;
 * a receipt handle names the queue, the lease and the delivery it came from.
 */

/** Kinds of id: a log offset, a pending (scheduled or half) message's sequence, or a transaction. */
export const enum IdKind { Log = 0, Pending = 1, Tx = 2 }

export interface MessageIdParts { incarnation: string; queueId: number; kind: IdKind; seq: number }

const hex = (n: number, width: number) => n.toString(16).toUpperCase().padStart(width, '0');

export function encodeMessageId(p: MessageIdParts): string {
  return `${p.incarnation}${hex(p.queueId, 2)}${p.kind}${hex(p.seq, 13)}`;
}

/** The id of the message at offset `off` of a queue's log (of the topic's incarnation). */
export function logMessageId(incarnation: string, queueId: number, off: number): string {
  return encodeMessageId({ incarnation, queueId, kind: IdKind.Log, seq: off });
}

const SEQ_ZEROS = '0'.repeat(13);

/**
 * logMessageId for many offsets of one queue (a produce answers one id per message): the prefix
 * is written once, and each offset padded without padStart, about 2.5 times as fast.
 */
export function logMessageIdEncoder(incarnation: string, queueId: number): (off: number) => string {
  const prefix = `${incarnation}${hex(queueId, 2)}${IdKind.Log}`;
  return (off) => {
    const s = off.toString(16).toUpperCase();
    return prefix + SEQ_ZEROS.slice(s.length) + s;
  };
}

export function decodeMessageId(id: string): MessageIdParts | null {
  if (!/^[0-9A-F]{8}[0-9A-F]{2}[012][0-9A-F]{13}$/.test(id)) return null;
  return {
    incarnation: id.slice(0, 8),
    queueId: parseInt(id.slice(8, 10), 16),
    kind: Number(id[10]) as IdKind,
    seq: parseInt(id.slice(11), 16),
  };
}

export function newIncarnation(): string {
  const b = crypto.getRandomValues(new Uint8Array(4));
  return [...b].map((x) => hex(x, 2)).join('');
}

export interface ReceiptHandleParts {
  incarnation: string; queueId: number; groupHash: number; leaseId: number; offset: number; attempt: number;
}

/** FNV-1a, 32 bit: ties a handle to its group so that another group's handle is INVALID. */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 0x01000193); }
  return h >>> 0;
}

/**
 * `{incarnation}{queue, 2 hex}.{group hash}.{lease}.{offset}.{attempt}` (base 36): URL-safe as it
 * is, and encoded or decoded without base64 or a regex per field, because every pushed message
 * carries one and every ack decodes one (they were a quarter of a push drain's CPU as base64).
 */
export function encodeReceiptHandle(p: ReceiptHandleParts): string {
  return receiptHandleEncoder(p.incarnation, p.queueId, p.groupHash, p.leaseId)(p.offset, p.attempt);
}

/**
 * The encoder of one lease's handles: what they share (incarnation, queue, group, lease) is
 * written once, as a delivery of up to a thousand messages has one lease.
 */
export function receiptHandleEncoder(incarnation: string, queueId: number, groupHash: number, leaseId: number) {
  const prefix = `${incarnation}${hex(queueId, 2)}.${groupHash.toString(36)}.${leaseId.toString(36)}.`;
  return (offset: number, attempt: number) => `${prefix}${offset.toString(36)}.${attempt.toString(36)}`;
}

// the widest base-36 field of each of the four dotted fields (group hash, lease, offset, attempt)
const FIELD_MAX = [7, 11, 11, 7];
// 10 hex characters (incarnation and queue), then each field after its dot
const HANDLE_MIN = 10 + FIELD_MAX.length * 2;
const HANDLE_MAX = 10 + FIELD_MAX.reduce((n, w) => n + 1 + w, 0);

/** The value of base-36 digit `c` (0-9, a-z), or -1. */
function digit36(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 122) return c - 87;
  return -1;
}

/** The value of upper-case hex digit `c`, or -1. */
function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/**
 * One pass over the characters: the hot path of every ack (the regex, slices and parseInt calls
 * this replaces took 13% of the Worker isolate's samples in a push drain). Anything not of the
 * current format falls back to the first format's decoder.
 */
export function decodeReceiptHandle(h: string): ReceiptHandleParts | null {
  if (typeof h !== 'string') return null;
  const n = h.length;
  if (n < HANDLE_MIN || n > HANDLE_MAX) return decodeReceiptHandleV1(h);
  let queueId = 0;
  for (let i = 0; i < 10; i++) {
    const v = hexDigit(h.charCodeAt(i));
    if (v < 0) return decodeReceiptHandleV1(h);
    if (i >= 8) queueId = queueId * 16 + v;
  }
  const f = [0, 0, 0, 0];
  let i = 10;
  for (let k = 0; k < 4; k++) {
    if (h.charCodeAt(i) !== 46) return decodeReceiptHandleV1(h); // '.'
    i++;
    const start = i;
    let v = 0;
    for (; i < n; i++) {
      const d = digit36(h.charCodeAt(i));
      if (d < 0) break;
      v = v * 36 + d; // exact up to 2^53; beyond, it stays at or above 2^53 (refused below)
    }
    const len = i - start;
    if (len < 1 || len > FIELD_MAX[k]) return decodeReceiptHandleV1(h);
    f[k] = v;
  }
  if (i !== n) return decodeReceiptHandleV1(h);
  const [groupHash, leaseId, offset, attempt] = f;
  if (groupHash > 0xffffffff || !Number.isSafeInteger(leaseId) || !Number.isSafeInteger(offset)) return null;
  return { incarnation: h.slice(0, 8), queueId, groupHash, leaseId, offset, attempt };
}

/** The first format (base64url of `r1.{incarnation}.{queue}.{...base 36}`): handles issued before an upgrade stay valid. */
function decodeReceiptHandleV1(h: string): ReceiptHandleParts | null {
  if (!/^[A-Za-z0-9_-]{8,200}$/.test(h)) return null;
  let raw: string;
  try { raw = atob(h.replace(/-/g, '+').replace(/_/g, '/')); } catch { return null; }
  const f = raw.split('.');
  if (f.length !== 7 || f[0] !== 'r1' || !/^[0-9A-F]{8}$/.test(f[1])) return null;
  const nums = f.slice(3).map((x) => (/^[0-9a-z]{1,13}$/.test(x) ? parseInt(x, 36) : NaN));
  const queueId = /^\d{1,2}$/.test(f[2]) ? Number(f[2]) : NaN;
  if (!Number.isSafeInteger(queueId) || nums.some((n) => !Number.isSafeInteger(n))) return null;
  const [groupHash, leaseId, offset, attempt] = nums;
  return { incarnation: f[1], queueId, groupHash, leaseId, offset, attempt };
}
