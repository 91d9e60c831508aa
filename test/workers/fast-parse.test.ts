/**
 * The produce paths skip zod for body-only messages (`bodyOnly`, `parseSendFrame`), and the push
 * relay for plain acks (`plainAck`): whatever they accept, the schema accepts and makes the same
 * of; whatever else, the schema decides.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ClientFrame, isSendId, parseSendFrame, plainAck, SendFrame, SendId } from '../../src/model/frames';
import { LIMITS } from '../../src/model/limits';
import { bodyOnly, ProduceBatch, type MessageInput, type TopicConfig } from '../../src/model/schemas';
import { packRecords, prepare, recordText, type Rec } from '../../src/model/message';
import { logMessageIdEncoder } from '../../src/model/ids';
import { produceAnswer } from '../../src/worker/produce';

const json = fc.jsonValue({ maxDepth: 3 });
/** messages that are often body-only, sometimes not (other fields, other shapes) */
const message = fc.oneof(
  json.map((body) => ({ body })),
  fc.record({ body: json, tag: fc.string() }, { requiredKeys: [] }),
  fc.dictionary(fc.constantFrom('body', 'keys', '__proto__', 'bodyx', 'type'), json),
  json,
);
const frame = fc.oneof(
  fc.record({ type: fc.constant('send'), id: fc.oneof(fc.integer({ min: -2, max: 1e6 }), fc.string({ maxLength: 70 })), messages: fc.array(message, { maxLength: 5 }) }),
  fc.record({ type: fc.constantFrom('send', 'ack'), id: fc.integer(), messages: fc.array(message, { maxLength: 3 }), extra: json }, { requiredKeys: ['type'] }),
  json,
);

describe('the body-only fast path', () => {
  it('accepts only what ProduceBatch accepts, as ProduceBatch parses it', () => {
    fc.assert(fc.property(fc.array(message, { minLength: 1, maxLength: 6 }), (ms) => {
      const viaJson = JSON.parse(JSON.stringify(ms)) as unknown[]; // as the Worker receives it
      if (!bodyOnly(viaJson)) return;
      const r = ProduceBatch.safeParse({ messages: viaJson });
      expect(r.success).toBe(true);
      expect(r.data!.messages).toEqual(viaJson);
    }), { numRuns: 1000 });
  });

  it('parseSendFrame agrees with SendFrame.safeParse on every frame', () => {
    fc.assert(fc.property(frame, (f) => {
      const v = JSON.parse(JSON.stringify(f)) as unknown;
      const fast = parseSendFrame(v);
      const slow = SendFrame.safeParse(v);
      expect(fast.success).toBe(slow.success);
      if (slow.success) expect(fast.data).toEqual(slow.data);
    }), { numRuns: 2000 });
  });

  it('isSendId agrees with SendId on any value, at the edges of both forms', () => {
    const id = fc.oneof(
      fc.string({ maxLength: 70 }), fc.constantFrom('', 'i'.repeat(64), 'i'.repeat(65), '\u{1F600}'.repeat(32), '\u{1F600}'.repeat(33)),
      fc.integer({ min: -3, max: 3 }), fc.constantFrom(Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 1, -0, 0.5, NaN, Infinity, 1e300),
      fc.double(), json,
    );
    fc.assert(fc.property(id, (v) => { expect(isSendId(v)).toBe(SendId.safeParse(v).success); }), { numRuns: 3000 });
  });

  it('takes the fast path for body-only frames and not for others', () => {
    expect(bodyOnly([{ body: 'a' }, { body: { x: [1] } }, { body: null }])).toBe(true);
    expect(bodyOnly([{ body: 'a' }, { body: 'b', tag: 't' }])).toBe(false);
    expect(bodyOnly([{}])).toBe(false);
    expect(bodyOnly([JSON.parse('{"__proto__":{"body":1}}')])).toBe(false);
    expect(bodyOnly([['body']])).toBe(false);
  });

  /** ack and nack frames near the schema's edges: handle lengths 0/1/512/513, counts 0/1/max/max+1, extra keys */
  const handle = fc.oneof(fc.string({ minLength: 1, maxLength: 20 }), fc.constantFrom('', 'h'.repeat(512), 'h'.repeat(513)), fc.integer(), fc.constant(null));
  const clientFrame = fc.oneof(
    fc.record({ type: fc.constantFrom('ack', 'nack', 'ACK'), receiptHandles: fc.array(handle, { maxLength: 4 }) }),
    fc.record({ type: fc.constant('ack'), receiptHandles: fc.constantFrom(0, 1, LIMITS.ackHandlesMax, LIMITS.ackHandlesMax + 1).map((n) => Array.from({ length: n }, (_, i) => `h${i}`)) }),
    fc.record({ type: fc.constantFrom('ack', 'nack'), receiptHandles: fc.array(handle, { maxLength: 3 }), delayMs: fc.integer(), extra: json }, { requiredKeys: ['type'] }),
    json,
  );

  it('plainAck accepts only ack frames that ClientFrame accepts, as they are', () => {
    let fast = 0;
    fc.assert(fc.property(clientFrame, (f) => {
      const v = JSON.parse(JSON.stringify(f)) as unknown;
      const slow = ClientFrame.safeParse(v);
      if (plainAck(v)) {
        fast++;
        expect(slow.success).toBe(true);
        expect(slow.data).toEqual(v);
      } else if (slow.success) {
        expect(slow.data.type).toBe('nack'); // every ack the schema takes, the fast path takes
      }
    }), { numRuns: 2000 });
    expect(fast).toBeGreaterThan(100);
  });
});

describe('produceAnswer', () => {
  it('writes the same JSON text as JSON.stringify of the answer', () => {
    const produced = fc.record({
      messageId: fc.tuple(fc.stringMatching(/^[0-9A-F]{8}$/), fc.integer({ min: 0, max: 255 }), fc.nat()).map(([inc, q, off]) => logMessageIdEncoder(inc, q)(off)),
      queueId: fc.integer({ min: 0, max: 255 }),
      queueOffset: fc.option(fc.nat(), { nil: null }),
      duplicate: fc.option(fc.constant(true as const), { nil: undefined }),
    }, { requiredKeys: ['messageId', 'queueId', 'queueOffset'] });
    fc.assert(fc.property(fc.array(produced, { maxLength: 120 }), (messages) => {
      expect(produceAnswer(messages)).toBe(JSON.stringify({ messages }));
    }));
  });
});

describe('recordText', () => {
  it('writes the same JSON text as JSON.stringify of the record, with or without its optional fields', () => {
    const text = fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' }), fc.constantFrom('\ud800', 'a\u2028b', '"\\\n\u0000'));
    const base = fc.record({ b: text, e: fc.constantFrom(0, 1, 2), bt: fc.nat() });
    const optional = fc.record({
      t: text, k: fc.array(text, { minLength: 1, maxLength: 3 }), p: fc.dictionary(text, text, { maxKeys: 3 }), g: text,
      da: fc.nat(), o: text,
    }, { requiredKeys: [] });
    // fc.record leaves few optional keys out, so the body-alone record is drawn on its own; and with
    // `i`, a key Rec does not name (the log's stored records carry it)
    const rec = fc.oneof(base, fc.tuple(base, optional).map(([r, x]) => ({ ...r, ...x })), fc.tuple(base, text).map(([r, i]) => ({ ...r, i })));
    let alone = 0;
    fc.assert(fc.property(rec, (r) => {
      if (Object.keys(r).length === 3) alone++;
      expect(recordText(r as Rec)).toBe(JSON.stringify(r));
    }), { numRuns: 2000 });
    expect(alone).toBeGreaterThan(300);
  });

  it('is what packRecords joins for prepared messages', () => {
    const topic = { name: 't', type: 'NORMAL', maxMessageBytes: 1 << 20 } as TopicConfig;
    const out = [{ body: 'a"\u00e9' }, { body: { x: [1, 'y'] } }, { body: 'k', keys: ['k1'], tag: 'tg' }].map((m, i) => prepare(m, topic, 1_700_000_000_000, i));
    const packed = packRecords(out)!;
    expect(packed.text).toBe(out.map((o) => JSON.stringify(o.rec)).join(','));
    expect(packed.lens).toEqual(out.map((o) => JSON.stringify(o.rec).length));
  });
});

describe('prepare names the message of a batch that it refuses', () => {
  const topic = { name: 't', type: 'NORMAL', maxMessageBytes: 10 } as TopicConfig;
  const refused = (m: MessageInput, where: '' | number) => { try { prepare(m, topic, 0, where); } catch (e) { return (e as Error).message; } return 'accepted'; };
  it('by its index in a batch, and as "message" when it is the only one', () => {
    expect(refused({ body: 'x'.repeat(11) }, 3)).toMatch(/^messages\[3\] is 11 bytes/);
    expect(refused({ body: 'x'.repeat(11) }, '')).toMatch(/^message is 11 bytes/);
    expect(refused({ body: 'x', encoding: 'base64' }, 2)).toMatch(/^messages\[2\]\.body is not valid base64/);
    expect(refused({ body: 'x', messageGroup: 'g' }, 0)).toMatch(/^messages\[0\]: topic "t" is NORMAL; it takes no messageGroup/);
    expect(refused({ body: 'x', delayMs: 5 }, '')).toMatch(/^the message: topic "t" is NORMAL; it takes no deliverAt/);
    expect(refused({ body: 'x' }, 7)).toBe('accepted');
  });
});
