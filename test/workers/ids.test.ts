/** Message ids from the batch encoder; receipt handles: round trips, the first format still decodes, and garbage is refused. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeMessageId, decodeReceiptHandle, encodeReceiptHandle, IdKind, logMessageId, logMessageIdEncoder, type ReceiptHandleParts } from '../../src/model/ids';

const parts = fc.record({
  incarnation: fc.stringMatching(/^[0-9A-F]{8}$/),
  queueId: fc.integer({ min: 0, max: 63 }),
  groupHash: fc.integer({ min: 0, max: 0xffffffff }),
  leaseId: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  offset: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  attempt: fc.integer({ min: 1, max: 1_000_000 }),
});

/** The current format's decoder as it was first written (a regex, slices and parseInt): the reference for the one-pass decoder. */
const HANDLE = /^[0-9A-F]{10}\.[0-9a-z]{1,7}\.[0-9a-z]{1,11}\.[0-9a-z]{1,11}\.[0-9a-z]{1,7}$/;
function decodeByRegex(h: string): ReceiptHandleParts | null | 'other format' {
  if (!HANDLE.test(h)) return 'other format';
  const [head, ...rest] = h.split('.');
  const [groupHash, leaseId, offset, attempt] = rest.map((x) => parseInt(x, 36));
  if (groupHash > 0xffffffff || !Number.isSafeInteger(leaseId) || !Number.isSafeInteger(offset)) return null;
  return { incarnation: head.slice(0, 8), queueId: parseInt(head.slice(8, 10), 16), groupHash, leaseId, offset, attempt };
}

/** How the first format was written (base64url of a dotted string). */
function encodeV1(p: ReceiptHandleParts): string {
  const raw = ['r1', p.incarnation, p.queueId, p.groupHash.toString(36), p.leaseId.toString(36), p.offset.toString(36), p.attempt.toString(36)].join('.');
  return btoa(raw).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

describe('message ids', () => {
  it('the batch encoder writes what logMessageId writes, and it decodes back', () => {
    fc.assert(fc.property(fc.stringMatching(/^[0-9A-F]{8}$/), fc.integer({ min: 0, max: 63 }), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (inc, q, off) => {
      const id = logMessageIdEncoder(inc, q)(off);
      expect(id).toBe(logMessageId(inc, q, off));
      if (off < 2 ** 52) expect(decodeMessageId(id)).toEqual({ incarnation: inc, queueId: q, kind: IdKind.Log, seq: off });
    }));
  });
});

describe('receipt handles', () => {
  it('decode what they encode, URL-safe as they are', () => {
    fc.assert(fc.property(parts, (p) => {
      const h = encodeReceiptHandle(p);
      expect(h).toMatch(/^[0-9A-Za-z.]+$/);
      expect(decodeReceiptHandle(h)).toEqual(p);
    }), { numRuns: 2000 });
  });

  it('the one-pass decoder agrees with the regex it replaced, near misses included', () => {
    const near = fc.array(fc.constantFrom(...'0123456789ABCDEFabcxyz.Z-'.split('')), { maxLength: 52 }).map((cs) => cs.join(''));
    const mutated = fc.tuple(parts, fc.nat(60), fc.constantFrom('', '.', 'z', 'A', 'zzzzzzzzzzzz', '0')).map(([p, at, ins]) => {
      const h = encodeReceiptHandle(p);
      const i = at % (h.length + 1);
      return h.slice(0, i) + ins + h.slice(i + (ins === '' ? 1 : 0));
    });
    fc.assert(fc.property(fc.oneof(near, mutated), (h) => {
      const want = decodeByRegex(h);
      if (want !== 'other format') expect(decodeReceiptHandle(h)).toEqual(want);
      else if (h.includes('.')) expect(decodeReceiptHandle(h)).toBeNull(); // and not of the first format either
    }), { numRuns: 5000 });
    // each field at its widest and one digit wider
    const widths = [7, 11, 11, 7];
    for (let k = 0; k < 4; k++) {
      for (const w of [1, widths[k], widths[k] + 1]) {
        const fields = widths.map((_, j) => (j === k ? '1'.repeat(w) : '1'));
        const h = `ABCDEF0103.${fields.join('.')}`;
        expect(decodeReceiptHandle(h), h).toEqual(w > widths[k] ? null : decodeByRegex(h));
      }
    }
    // a lease or offset past 2^53 is refused, not rounded
    expect(decodeReceiptHandle('ABCDEF0103.zzzzzz.2gosa7pa2gv.2gosa7pa2gv.zzzzzzz')).toEqual(decodeByRegex('ABCDEF0103.zzzzzz.2gosa7pa2gv.2gosa7pa2gv.zzzzzzz'));
    expect(decodeReceiptHandle('ABCDEF0103.1.2gosa7pa2gw.1.1')).toBeNull();
    expect(decodeReceiptHandle('ABCDEF0103.1.1.zzzzzzzzzzz.1')).toBeNull();
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
