/**
 * The produce paths skip zod for body-only messages (`bodyOnly`, `parseSendFrame`): whatever they
 * accept, the schema accepts and makes the same of; whatever else, the schema decides.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseSendFrame, SendFrame } from '../../src/model/frames';
import { bodyOnly, ProduceBatch } from '../../src/model/schemas';

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

  it('takes the fast path for body-only frames and not for others', () => {
    expect(bodyOnly([{ body: 'a' }, { body: { x: [1] } }, { body: null }])).toBe(true);
    expect(bodyOnly([{ body: 'a' }, { body: 'b', tag: 't' }])).toBe(false);
    expect(bodyOnly([{}])).toBe(false);
    expect(bodyOnly([JSON.parse('{"__proto__":{"body":1}}')])).toBe(false);
    expect(bodyOnly([['body']])).toBe(false);
  });
});
