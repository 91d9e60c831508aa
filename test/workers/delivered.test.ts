/**
 * Delivered messages are written as JSON text by hand (src/model/delivered.ts): the text must be
 * exactly what JSON.stringify makes of the message's public form plus its delivery fields, for
 * every body, tag, key, property and group a producer can send.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { deliveredEncoder, presentMessage } from '../../src/model/delivered';
import { prepare, type Rec } from '../../src/model/message';
import type { MessageInput } from '../../src/model/schemas';
import { topicRoute } from './helpers';

/** Any UTF-16 text, lone surrogates, quotes, backslashes and control characters included. */
const anyText = fc.array(fc.oneof(
  fc.integer({ min: 0, max: 0xffff }),
  fc.constantFrom(0x22, 0x5c, 0x0a, 0x00, 0x2028, 0xd800, 0xdc00),
), { maxLength: 40 }).map((units) => String.fromCharCode(...units));

const input: fc.Arbitrary<MessageInput> = fc.record({
  body: fc.oneof(anyText, fc.jsonValue({ maxDepth: 4 }), fc.base64String({ maxLength: 40 })),
  tag: anyText,
  keys: fc.array(anyText, { maxLength: 3 }),
  properties: fc.dictionary(anyText, anyText, { maxKeys: 4 }),
  messageGroup: anyText,
  delayMs: fc.integer({ min: 1, max: 10 ** 9 }),
}, { requiredKeys: ['body'] }).chain((m) => fc.constantFrom<MessageInput['encoding'] | undefined>(undefined, 'json', 'text', 'base64')
  .map((encoding) => (encoding === undefined ? m : { ...m, encoding }) as MessageInput));

/** A record as a Broker reads it back: prepared, stored as JSON text, parsed again. */
function stored(m: MessageInput): Rec | null {
  const topic = topicRoute('t');
  try {
    const rec = prepare({ ...m, messageGroup: m.delayMs === undefined ? m.messageGroup : undefined }, topic, 1_700_000_000_000).rec;
    return JSON.parse(JSON.stringify(rec)) as Rec;
  } catch {
    return null; // refused by prepare (not base64, too deep...): never stored
  }
}

describe('delivered message text', () => {
  it('is JSON.stringify of the public form with deliveryAttempt and receiptHandle, byte for byte', () => {
    let checked = 0;
    fc.assert(fc.property(input, fc.constantFrom('orders', '%DLQ%billing', 'a-b_c'), fc.integer({ min: 0, max: 63 }),
      fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), fc.integer({ min: 1, max: 1000 }), (m, topic, queueId, off, attempt) => {
        const rec = stored(m);
        if (!rec) return;
        checked++;
        const place = { topic, queueId };
        const id = 'ABCDEF0100000000000000007';
        const handle = 'ABCDEF0100.1a.2b.3c.1';
        const text = deliveredEncoder(place)(rec, id, off, 1_700_000_000_123, attempt, handle);
        const expected = JSON.stringify({ ...presentMessage(rec, id, off, 1_700_000_000_123, place), deliveryAttempt: attempt, receiptHandle: handle });
        expect(text).toBe(expected);
      }), { numRuns: 3000 });
    expect(checked).toBeGreaterThan(1500); // most inputs are storable: the property was really exercised
  });

  it('splices a JSON body as stored, and reads back as the value sent', () => {
    const rec = stored({ body: { a: [1, -0.5, 'é\u2028"'], b: null, '': { '\\': true } } })!;
    const text = deliveredEncoder({ topic: 't', queueId: 0 })(rec, 'X', 0, 1, 1, 'h');
    expect(JSON.parse(text).body).toEqual({ a: [1, -0.5, 'é\u2028"'], b: null, '': { '\\': true } });
    expect(JSON.parse(text).encoding).toBe('json');
  });
});
