/**
 * deeperThan guards every parsed body and frame: it must say exactly whether the nesting passes
 * the limit, and stay safe (bounded recursion) on hostile input.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LIMITS } from '../../src/model/limits';
import { deeperThan, parseJsonText } from '../../src/worker/validate';

/** The nesting depth of a JSON value, written the obvious way (the value itself is level 1). */
function depth(v: unknown): number {
  if (v === null || typeof v !== 'object') return 0;
  return 1 + Math.max(0, ...Object.values(v).map(depth));
}

const nested = (levels: number, open: string, close: string) => JSON.parse(`${open.repeat(levels)}1${close.repeat(levels)}`);

describe('deeperThan', () => {
  it('agrees with the depth of any JSON value, at every limit', () => {
    fc.assert(fc.property(fc.jsonValue({ maxDepth: 8 }), fc.integer({ min: 0, max: 10 }), (v, max) => {
      const parsed = JSON.parse(JSON.stringify(v)); // as a body arrives: own keys only, __proto__ included
      expect(deeperThan(parsed, max)).toBe(depth(parsed) > max);
    }), { numRuns: 3000 });
  });

  it('passes exactly the limit and refuses one level more, in arrays and objects', () => {
    for (const [open, close] of [['[', ']'], ['{"a":', '}']]) {
      expect(deeperThan(nested(36, open, close), 36)).toBe(false);
      expect(deeperThan(nested(37, open, close), 36)).toBe(true);
    }
    expect(deeperThan(1, 0)).toBe(false);
    expect(deeperThan({}, 0)).toBe(true);
    expect(deeperThan([[], [[]]], 2)).toBe(true);
  });

  it('answers for 100,000 levels without overflowing the stack', () => {
    const v = nested(100_000, '[', ']');
    expect(deeperThan(v, LIMITS.jsonDepthMax + 4)).toBe(true);
    expect(() => parseJsonText(`${'['.repeat(100_000)}${']'.repeat(100_000)}`)).toThrow(/nested deeper than/);
  });
});
