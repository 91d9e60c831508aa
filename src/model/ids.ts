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
  return `${p.incarnation}${p.queueId < 16 ? '0' : ''}${p.queueId.toString(16).toUpperCase()}.${p.groupHash.toString(36)}.${p.leaseId.toString(36)}.${p.offset.toString(36)}.${p.attempt.toString(36)}`;
}

const HANDLE = /^[0-9A-F]{10}\.[0-9a-z]{1,7}\.[0-9a-z]{1,11}\.[0-9a-z]{1,11}\.[0-9a-z]{1,7}$/;

export function decodeReceiptHandle(h: string): ReceiptHandleParts | null {
  if (typeof h !== 'string') return null;
  if (!HANDLE.test(h)) return decodeReceiptHandleV1(h);
  const a = h.indexOf('.', 10);
  const b = h.indexOf('.', a + 1);
  const c = h.indexOf('.', b + 1);
  const d = h.indexOf('.', c + 1);
  const groupHash = parseInt(h.slice(a + 1, b), 36);
  const leaseId = parseInt(h.slice(b + 1, c), 36);
  const offset = parseInt(h.slice(c + 1, d), 36);
  const attempt = parseInt(h.slice(d + 1), 36);
  if (groupHash > 0xffffffff || !Number.isSafeInteger(leaseId) || !Number.isSafeInteger(offset)) return null;
  return { incarnation: h.slice(0, 8), queueId: parseInt(h.slice(8, 10), 16), groupHash, leaseId, offset, attempt };
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
