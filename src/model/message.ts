/**
 * A message between the Worker and a Broker: what is validated and sized at the edge, and the
 * compact record a Broker packs into its commit log.
 */
import { ApiError } from './errors';
import { LIMITS } from './limits';
import type { Encoding, MessageInput, TopicConfig } from './schemas';

export const ENC: Record<Encoding, number> = { text: 0, json: 1, base64: 2 };
export const ENC_NAME: Encoding[] = ['text', 'json', 'base64'];

/** The stored form of one message (short keys: it is repeated in every segment). */
export interface Rec {
  /** body as text: the text itself, JSON text, or base64 text */
  b: string;
  e: number;
  t?: string;
  k?: string[];
  p?: Record<string, string>;
  g?: string;
  /** born timestamp */
  bt: number;
  /** due time of a scheduled message */
  da?: number;
  /** only for this consumer group (a dead letter resent to its group) */
  o?: string;
}

export interface Outgoing { rec: Rec; dedupId?: string; size: number }

/**
 * Records on their way into a queue's log, as the RPC to the Broker carries them: their JSON text
 * (as the log stores it), joined by commas into one string, with each record's length beside, so
 * the call clones one string, not an object (or a string) per message, and the Broker stores the
 * text as it came. Cloning the objects was about a tenth of a batched produce's CPU. Keys ride
 * beside, by index: the Broker indexes them.
 */
export interface PackedRecords { text: string; lens: number[]; sizes: number[]; keys: [index: number, keys: string[]][] }

/**
 * The packed form of messages bound for a queue's log, or null when one needs the Broker's
 * per-message handling: a dedupId (looked up and remembered) or a due time (held by the schedule).
 */
export function packRecords(out: Outgoing[]): PackedRecords | null {
  // filled by push, not made with `new Array(n)`: the RPC clones a holey array as a sparse one, a
  // property at a time (V8's ValueSerializer): half of what cloning the call's arguments cost
  const json: string[] = [];
  const lens: number[] = [];
  const sizes: number[] = [];
  const keys: [number, string[]][] = [];
  for (let i = 0; i < out.length; i++) {
    const { rec, dedupId, size } = out[i];
    if (dedupId !== undefined || rec.da !== undefined) return null;
    const j = recordText(rec);
    json.push(j);
    lens.push(j.length);
    sizes.push(size);
    if (rec.k) keys.push([i, rec.k]);
  }
  return { text: json.join(','), lens, sizes, keys };
}

/**
 * JSON.stringify(rec), written out for the commonest record: a body and nothing else, that is its
 * three required keys alone (in the order prepare makes them). A third less time than the generic
 * stringify of the object per message on the batched produce path. Any other key (an optional
 * field, or one a later record grows) takes JSON.stringify.
 */
export function recordText(rec: Rec): string {
  let keys = 0;
  for (const _ in rec) keys++;
  return keys === 3 ? `{"b":${JSON.stringify(rec.b)},"e":${rec.e},"bt":${rec.bt}}` : JSON.stringify(rec);
}

/** Records joined by commas (PackedRecords' `text`), one JSON text each again: `lens` says where they end. */
export function splitRecords(text: string, lens: number[]): string[] {
  const out: string[] = [];
  let at = 0;
  for (const n of lens) { out.push(text.slice(at, at + n)); at += n + 1; }
  return out;
}

/**
 * Several packed parts as few, in order (a group commit's appends: a segment row for many): parts
 * that follow each other are joined while their text stays within `maxChars`; a longer part stays
 * alone. The bound keeps each segment's string out of V8's large-object space, where every string
 * is new memory the kernel must zero (joined whole, a busy commit's 8 x 30 KB cost a tenth of
 * workerd's CPU under batched produce in page faults and copies).
 */
export function joinPacked(parts: PackedRecords[], maxChars: number): PackedRecords[] {
  const runs: PackedRecords[][] = [];
  let chars = 0; // of the last run, with its commas
  for (const p of parts) {
    const last = runs[runs.length - 1];
    if (last && chars + 1 + p.text.length <= maxChars) { last.push(p); chars += 1 + p.text.length; }
    else { runs.push([p]); chars = p.text.length; }
  }
  return runs.map((run) => {
    if (run.length === 1) return run[0];
    const out: PackedRecords = { text: run.map((p) => p.text).join(','), lens: [], sizes: [], keys: [] };
    for (const p of run) {
      const at = out.lens.length;
      for (const [i, k] of p.keys) out.keys.push([at + i, k]);
      out.lens.push(...p.lens);
      out.sizes.push(...p.sizes);
    }
    return out;
  });
}

/** Records `from` to `to` (not included) of a packed part, as a part of their own. */
export function slicePacked(p: PackedRecords, from: number, to: number): PackedRecords {
  if (from === 0 && to === p.lens.length) return p;
  let start = 0;
  for (let i = 0; i < from; i++) start += p.lens[i] + 1; // each record and its comma
  let end = start;
  for (let i = from; i < to; i++) end += p.lens[i] + 1;
  return {
    text: p.text.slice(start, end - 1), lens: p.lens.slice(from, to), sizes: p.sizes.slice(from, to),
    keys: p.keys.filter(([i]) => i >= from && i < to).map(([i, k]) => [i - from, k]),
  };
}

const ASCII = /^[\x00-\x7f]*$/;
/**
 * UTF-8 length of a string without encoding it (produce sizes every body, tag, key and property:
 * encoding only to count allocated a copy of each). A lone surrogate counts 3, as TextEncoder
 * encodes it (U+FFFD).
 */
export function byteLen(s: string): number {
  if (ASCII.test(s)) return s.length; // the common case, in native code
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) { n += 1; continue; }
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) { n += 2; i++; continue; } // a pair: 4 bytes for 2 units
    }
    n += 2;
  }
  return n;
}
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function depthOf(v: unknown, limit: number, d = 0): number {
  if (d > limit) return d;
  if (Array.isArray(v)) return v.reduce((m: number, x) => Math.max(m, depthOf(x, limit, d + 1)), d + 1);
  if (v && typeof v === 'object') return Object.values(v).reduce((m: number, x) => Math.max(m, depthOf(x, limit, d + 1)), d + 1);
  return d;
}

/** Where a message is in its request, for errors: '' (the only one), or its index in a batch. */
export type Where = '' | number;
/** The prefix of an error's field: "" or "messages[3]." (made only for an error). */
function at(where: Where, f: string): string {
  return where === '' ? f : `messages[${where}].${f}`;
}
/** The message an error speaks of: "messages[3]", or `alone` when it is the request's only one. */
function which(where: Where, alone: string): string {
  return where === '' ? alone : `messages[${where}]`;
}

/** Validates what the schema cannot (body vs encoding, sizes, topic type) and builds the record. */
export function prepare(m: MessageInput, topic: TopicConfig, now: number, where: Where = '', transactional = false): Outgoing {
  if (m.body === undefined) throw new ApiError('BAD_REQUEST', `${at(where, 'body')} is required: a string or any JSON value`);
  const encoding: Encoding = m.encoding ?? (typeof m.body === 'string' ? 'text' : 'json');
  let b: string;
  let bodyBytes: number;
  if (encoding === 'json') {
    if (depthOf(m.body, LIMITS.jsonDepthMax) > LIMITS.jsonDepthMax) {
      throw new ApiError('BAD_REQUEST', `${at(where, 'body')} is nested deeper than ${LIMITS.jsonDepthMax} levels`);
    }
    b = JSON.stringify(m.body);
    bodyBytes = byteLen(b);
  } else if (typeof m.body !== 'string') {
    throw new ApiError('BAD_REQUEST', `${at(where, 'body')} must be a string when encoding is "${encoding}"`);
  } else if (encoding === 'base64') {
    if (!BASE64.test(m.body)) throw new ApiError('BAD_REQUEST', `${at(where, 'body')} is not valid base64`);
    b = m.body;
    bodyBytes = (b.length / 4) * 3 - (b.endsWith('==') ? 2 : b.endsWith('=') ? 1 : 0);
  } else {
    b = m.body;
    bodyBytes = byteLen(b);
  }
  let size = bodyBytes;
  if (m.tag) size += byteLen(m.tag);
  if (m.keys) for (const k of m.keys) size += byteLen(k);
  if (m.properties) {
    let pb = 0;
    for (const [k, v] of Object.entries(m.properties)) pb += byteLen(k) + byteLen(v);
    if (pb > LIMITS.propertiesBytesMax) {
      throw new ApiError('BAD_REQUEST', `${at(where, 'properties')} total ${pb} bytes; the limit is ${LIMITS.propertiesBytesMax}`);
    }
    size += pb;
  }
  if (size > topic.maxMessageBytes) {
    throw new ApiError('MESSAGE_TOO_LARGE',
      `${which(where, 'message')} is ${size} bytes (body, tag, keys and properties); topic "${topic.name}" allows ${topic.maxMessageBytes} (maxMessageBytes)`);
  }

  if (m.deliverAt !== undefined && m.delayMs !== undefined) {
    throw new ApiError('BAD_REQUEST', `${at(where, 'deliverAt')} and ${at(where, 'delayMs')} are exclusive: give one`);
  }
  let da = m.deliverAt ?? (m.delayMs !== undefined ? now + m.delayMs : undefined);
  if (da !== undefined && da > now + LIMITS.maxDelayMs) {
    throw new ApiError('BAD_REQUEST', `${at(where, 'deliverAt')} is more than 365 days ahead`);
  }
  const scheduled = da !== undefined;
  if (scheduled && m.messageGroup !== undefined) {
    throw new ApiError('MESSAGE_TYPE_MISMATCH', `${which(where, 'a message')} cannot be both FIFO (messageGroup) and scheduled (deliverAt/delayMs)`);
  }
  if (scheduled && transactional) {
    throw new ApiError('MESSAGE_TYPE_MISMATCH', `${which(where, 'a message')} in a transaction cannot be scheduled (deliverAt/delayMs)`);
  }
  checkType(topic, m.messageGroup !== undefined, scheduled, transactional, where);
  if (da !== undefined && da <= now) da = undefined; // already due: an ordinary message

  const rec: Rec = { b, e: ENC[encoding], bt: now };
  if (m.tag !== undefined && m.tag !== '') rec.t = m.tag;
  if (m.keys?.length) rec.k = m.keys;
  if (m.properties && Object.keys(m.properties).length) rec.p = m.properties;
  if (m.messageGroup !== undefined) rec.g = m.messageGroup;
  if (da !== undefined) rec.da = da;
  return { rec, dedupId: m.dedupId, size };
}

/** A typed topic takes one kind of message (RocketMQ 5's message types). */
export function checkType(topic: TopicConfig, fifo: boolean, scheduled: boolean, transactional: boolean, where: Where = ''): void {
  const bad = wrongType(topic, fifo, scheduled, transactional);
  if (bad) throw new ApiError('MESSAGE_TYPE_MISMATCH', `${which(where, 'the message')}: topic "${topic.name}" is ${topic.type}; ${bad}`);
}

/** Why a message of this kind does not fit the topic's type, or null when it does. */
function wrongType(topic: TopicConfig, fifo: boolean, scheduled: boolean, transactional: boolean): string | null {
  switch (topic.type) {
    case 'NORMAL':
      if (fifo) return 'it takes no messageGroup (use a FIFO or MIXED topic)';
      if (scheduled) return 'it takes no deliverAt/delayMs (use a DELAY or MIXED topic)';
      if (transactional) return 'it takes no transactional sends (use a TRANSACTION or MIXED topic)';
      return null;
    case 'FIFO':
      if (!fifo) return 'every message needs a messageGroup';
      if (transactional) return 'it takes no transactional sends';
      return null;
    case 'DELAY':
      if (!scheduled) return 'every message needs deliverAt or delayMs';
      if (transactional) return 'it takes no transactional sends';
      return null;
    case 'TRANSACTION':
      if (!transactional) return 'it takes only transactional sends (POST /v1/topics/{topic}/transactions)';
      if (scheduled) return 'it takes no deliverAt/delayMs';
      return null;
    case 'MIXED':
      return null;
  }
}

/** Decodes a stored body for a reader: JSON is parsed back so consumers get it as sent. */
export function bodyOf(rec: Rec): unknown {
  return rec.e === 1 ? JSON.parse(rec.b) : rec.b;
}
