/** Receipt handles: round trips, the first format still decodes, and garbage is refused. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeReceiptHandle, encodeReceiptHandle, type ReceiptHandleParts } from '../../src/model/ids';

const parts = fc.record({
  incarnation: fc.stringMatching(/^[0-9A-F]{8}$/),
  queueId: fc.integer({ min: 0, max: 63 }),
  groupHash: fc.integer({ min: 0, max: 0xffffffff }),
  leaseId: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  offset: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  attempt: fc.integer({ min: 1, max: 1_000_000 }),
});

/** How the first format was written (base64url of a dotted string). */
function encodeV1(p: ReceiptHandleParts): string {
  const raw = ['r1', p.incarnation, p.queueId, p.groupHash.toString(36), p.leaseId.toString(36), p.offset.toString(36), p.attempt.toString(36)].join('.');
  return btoa(raw).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

describe('receipt handles', () => {
  it('decode what they encode, URL-safe as they are', () => {
    fc.assert(fc.property(parts, (p) => {
      const h = encodeReceiptHandle(p);
      expect(h).toMatch(/^[0-9A-Za-z.]+$/);
      expect(decodeReceiptHandle(h)).toEqual(p);
    }), { numRuns: 2000 });
  });

  it('handles of the first format (issued before an upgrade) still decode', () => {
    fc.assert(fc.property(parts, (p) => { expect(decodeReceiptHandle(encodeV1(p))).toEqual(p); }), { numRuns: 500 });
  });

  it('refuse garbage and near misses', () => {
    const good = encodeReceiptHandle({ incarnation: 'ABCDEF01', queueId: 3, groupHash: 77, leaseId: 9, offset: 1234, attempt: 1 });
    for (const bad of ['', 'x', '.', good.slice(1), `${good}.1`, good.replace('.', '..'), good.toLowerCase(), `${good}.`,
      'ABCDEF0103.zzzzzzzz.1.1.1', 'ABCDEF0103.1.zzzzzzzzzzzz.1.1', '%%%', 'A'.repeat(513)]) {
      expect(decodeReceiptHandle(bad), bad).toBeNull();
    }
    fc.assert(fc.property(fc.string(), (s) => {
      const d = decodeReceiptHandle(s);
      if (d) expect(encodeReceiptHandle(d).length).toBeGreaterThan(0);
    }), { numRuns: 2000 });
  });
});
