/** ClientCredit: the maxInflight budget of push sockets that end at their Broker. */
import { describe, expect, it } from 'vitest';
import { ClientCredit } from '../../src/objects/client-credit';

describe('ClientCredit', () => {
  it('spends a credit per message pushed and frees one per handle settled that was out on that socket', () => {
    const credit = new ClientCredit(() => { throw new Error('an open socket is not read again'); });
    credit.opened('a');
    credit.opened('b');
    expect(credit.left('a', 3)).toBe(3);
    credit.pushed('a', ['h1', 'h2']);
    credit.pushed('b', ['h3']);
    expect(credit.left('a', 3)).toBe(1);
    // a repeated handle frees one; another socket's handle and an unknown one free none
    expect(credit.settled('a', ['h1', 'h1', 'h3', 'nope'])).toBe(1);
    expect(credit.left('a', 3)).toBe(2);
    expect(credit.left('b', 3)).toBe(2);
    // settled again later: nothing more
    expect(credit.settled('a', ['h1'])).toBe(0);
    expect(credit.settled('a', ['h2'])).toBe(1);
    expect(credit.left('a', 3)).toBe(3);
  });

  it('reads a socket it does not know (the object was evicted meanwhile) from what storage says is out on it, once', () => {
    const reads: string[] = [];
    const stored: Record<string, string[]> = { a: ['h1', 'h2'], b: [] };
    const credit = new ClientCredit((connId) => { reads.push(connId); return stored[connId] ?? []; });
    expect(credit.left('a', 2)).toBe(0);
    expect(credit.settled('a', ['h2'])).toBe(1);
    expect(credit.left('a', 2)).toBe(1);
    expect(credit.left('b', 2)).toBe(2);
    expect(reads).toEqual(['a', 'b']);
    // a closed socket is forgotten: were it seen again, it would be read again
    credit.closed('a');
    expect(credit.left('a', 2)).toBe(0);
    expect(reads).toEqual(['a', 'b', 'a']);
  });
});
