/** GroupCommit: the Broker's group commit of packed appends (src/objects/group-commit.ts). */
import { describe, expect, it } from 'vitest';
import { fail } from '../../src/model/errors';
import type { PackedRecords } from '../../src/model/message';
import { GroupCommit, type Append } from '../../src/objects/group-commit';

/** A packed append of `n` messages whose text names it. */
const part = (name: string, n: number): Append => ({ p: { text: name.padEnd(10, '.'), lens: Array(n).fill(1), sizes: Array(n).fill(1), keys: [] } satisfies PackedRecords });

function recorder(opts: { throwAt?: number; failAt?: number } = {}) {
  const commits: string[][] = [];
  let end = 100;
  let after = 0;
  const g = new GroupCommit<{ base: number }>((appends) => {
    commits.push(appends.map((a) => a.p.text.replace(/\.+$/, '')));
    if (commits.length === opts.throwAt) throw new Error('injected storage fault');
    if (commits.length === opts.failAt) return fail('TOPIC_NOT_FOUND', 'topic "t" does not exist');
    return appends.map((a) => { const base = end; end += a.p.lens.length; return { base }; });
  }, () => { after++; }, { messages: 10, chars: 1_000 });
  return { g, commits, after: () => after };
}

describe('GroupCommit', () => {
  it('stores the appends of one turn in one commit, in arrival order, each answered with its first offset', async () => {
    const { g, commits, after } = recorder();
    const answers = Promise.all([g.add(part('a', 2)), g.add(part('b', 3)), g.add(part('c', 1))]);
    expect(g.waiting).toBe(3); // nothing stored before the turn
    expect(commits).toEqual([]);
    expect(await answers).toEqual([{ base: 100 }, { base: 102 }, { base: 105 }]);
    expect(commits).toEqual([['a', 'b', 'c']]);
    expect(after()).toBe(1);
    // a lone append later gets a commit of its own, after the others' offsets
    expect(await g.add(part('d', 4))).toEqual({ base: 106 });
    expect(commits).toEqual([['a', 'b', 'c'], ['d']]);
    expect(after()).toBe(2);
  });

  it('stores at most its bound per commit and the rest in the next turn; a part over the bound goes alone', async () => {
    const { g, commits } = recorder();
    const answers = await Promise.all([part('a', 6), part('b', 4), part('c', 1), part('big', 25), part('d', 1)].map((p) => g.add(p)));
    expect(commits).toEqual([['a', 'b'], ['c'], ['big'], ['d']]);
    expect(answers.map((a) => ('base' in a ? a.base : null))).toEqual([100, 106, 110, 111, 136]);
  });

  it('rejects every append of a commit whose transaction threw, and answers a failure to all it was given for', async () => {
    const thrown = recorder({ throwAt: 1 });
    const t = [thrown.g.add(part('a', 1)), thrown.g.add(part('b', 1))];
    for (const p of t) await expect(p).rejects.toThrow('injected storage fault');
    expect(thrown.after()).toBe(0);
    // the next commit starts where storage is: nothing of the failed one was counted
    expect(await thrown.g.add(part('c', 1))).toEqual({ base: 100 });

    const failed = recorder({ failAt: 1 });
    const f = await Promise.all([failed.g.add(part('a', 1)), failed.g.add(part('b', 1))]);
    expect(f).toEqual([fail('TOPIC_NOT_FOUND', 'topic "t" does not exist'), fail('TOPIC_NOT_FOUND', 'topic "t" does not exist')]);
    expect(failed.after()).toBe(0);
  });
});
