/** byteLen counts exactly what TextEncoder would produce, without encoding. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { byteLen } from '../../src/model/message';

const enc = new TextEncoder();

describe('byteLen', () => {
  it('matches TextEncoder on ASCII, 2-, 3- and 4-byte characters and lone surrogates', () => {
    for (const s of ['', 'abc', 'é', '€', '😀', 'a😀b€é', '\ud800', '\udc00x', 'x\ud83d', '\ud83d\ud83d\ude00']) {
      expect(byteLen(s), JSON.stringify(s)).toBe(enc.encode(s).length);
    }
  });

  it('matches TextEncoder on any string', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (s) => byteLen(s) === enc.encode(s).length), { numRuns: 2000 });
    fc.assert(fc.property(fc.string(), (s) => byteLen(s) === enc.encode(s).length), { numRuns: 500 }); // ASCII: the fast path
  });
});
