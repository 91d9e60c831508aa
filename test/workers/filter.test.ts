import { describe, expect, it } from 'vitest';
import {
  compileFilter, filterKey, parseFilterKey, type FilterSpec, type FilterTarget,
} from '../../src/model/filter';

const sql = (s: string) => compileFilter({ sql: s });
const props = (p: Record<string, string>, tag?: string): FilterTarget => ({ properties: p, tag });

/** Asserts the spec is rejected with INVALID_FILTER and returns the message. */
function rejects(spec: FilterSpec | unknown, fn: (s: FilterSpec) => unknown = compileFilter): string {
  try {
    fn(spec as FilterSpec);
  } catch (e) {
    const err = e as { code?: string; message: string; status?: number };
    expect(err.code, `code for ${JSON.stringify(spec)}`).toBe('INVALID_FILTER');
    expect(err.status).toBe(400);
    return err.message;
  }
  throw new Error(`expected INVALID_FILTER for ${JSON.stringify(spec)}`);
}

describe('tag expressions', () => {
  it('match everything for undefined, null, empty and *', () => {
    for (const spec of [undefined, null, '', '   ', '*', ' * ']) {
      const p = compileFilter(spec);
      expect(p({ tag: 'a' })).toBe(true);
      expect(p({})).toBe(true);
      expect(p({ properties: { x: '1' } })).toBe(true);
    }
  });

  it('match a single tag exactly (case-sensitive)', () => {
    const p = compileFilter('TagA');
    expect(p({ tag: 'TagA' })).toBe(true);
    expect(p({ tag: 'taga' })).toBe(false);
    expect(p({ tag: 'TagB' })).toBe(false);
    expect(p({ tag: 'TagAB' })).toBe(false);
  });

  it('match any alternative, with or without whitespace around ||', () => {
    for (const expr of ['a||b||c', 'a || b || c', '  a ||b||   c  ', 'a\t||\tb || c']) {
      const p = compileFilter(expr);
      expect(p({ tag: 'a' })).toBe(true);
      expect(p({ tag: 'b' })).toBe(true);
      expect(p({ tag: 'c' })).toBe(true);
      expect(p({ tag: 'd' })).toBe(false);
      expect(p({ tag: 'a||b' })).toBe(false);
    }
  });

  it('a message without a tag matches only *', () => {
    expect(compileFilter('a')({})).toBe(false);
    expect(compileFilter('a || b')({ properties: { tag: 'a' } })).toBe(false);
    expect(compileFilter('a')({ tag: '' })).toBe(false);
    expect(compileFilter('*')({})).toBe(true);
  });

  it('keeps spaces inside a tag', () => {
    const p = compileFilter('order created || b');
    expect(p({ tag: 'order created' })).toBe(true);
    expect(p({ tag: 'order' })).toBe(false);
  });

  it('rejects bad tag expressions with a position', () => {
    expect(rejects('a ||')).toMatch(/empty tag after "\|\|" at position 5/);
    expect(rejects('|| b')).toMatch(/empty tag before "\|\|" at position 1/);
    expect(rejects('a || || b')).toMatch(/empty tag before "\|\|" at position 6/);
    expect(rejects('||')).toMatch(/empty tag/);
    expect(rejects('a | b')).toMatch(/single "\|" at position 3/);
    expect(rejects('a|||b')).toMatch(/single "\|" at position 4/);
    expect(rejects('a || *')).toMatch(/"\*" at position 6/);
    expect(rejects('order*')).toMatch(/"\*" at position 6/);
    expect(rejects('a\u0000b')).toMatch(/control character U\+0000 at position 2/);
    expect(rejects('x'.repeat(1025))).toMatch(/1025 characters long; the limit is 1024/);
    expect(compileFilter('x'.repeat(1024))({ tag: 'x'.repeat(1024) })).toBe(true);
  });

  it('rejects specs of the wrong shape', () => {
    rejects({ sql: 5 });
    rejects({ notSql: 'a = 1' });
    rejects(42);
    rejects(['a']);
    rejects({ sql: 5 }, filterKey);
  });
});

describe('SQL92: comparison operators', () => {
  const m = props({ a: '5', s: 'hello' });
  it.each([
    ['a = 5', true], ['a = 6', false],
    ['a <> 5', false], ['a <> 6', true],
    ['a > 4', true], ['a > 5', false],
    ['a >= 5', true], ['a >= 6', false],
    ['a < 6', true], ['a < 5', false],
    ['a <= 5', true], ['a <= 4', false],
    ["s = 'hello'", true], ["s = 'Hello'", false],
    ["s <> 'hello'", false], ["s <> 'world'", true],
    ["s < 'world'", true], ["s > 'world'", false],
    ['5 = a', true], ['4 < a', true], ['6 < a', false],
  ])('%s → %s', (expr, want) => {
    expect(sql(expr)(m)).toBe(want);
  });

  it('works without spaces around operators', () => {
    expect(sql("a>=5 AND s='hello'")(m)).toBe(true);
    expect(sql('a<>5')(m)).toBe(false);
    expect(sql('(a<=5)')(m)).toBe(true);
  });
});

describe('SQL92: BETWEEN, IN, IS NULL', () => {
  it('BETWEEN is inclusive on both ends', () => {
    const p = sql('a BETWEEN 1 AND 3');
    expect(p(props({ a: '0' }))).toBe(false);
    expect(p(props({ a: '1' }))).toBe(true);
    expect(p(props({ a: '2.5' }))).toBe(true);
    expect(p(props({ a: '3' }))).toBe(true);
    expect(p(props({ a: '4' }))).toBe(false);
  });

  it('NOT BETWEEN', () => {
    const p = sql('a NOT BETWEEN 1 AND 3');
    expect(p(props({ a: '0' }))).toBe(true);
    expect(p(props({ a: '2' }))).toBe(false);
    expect(p(props({ a: '4' }))).toBe(true);
  });

  it('BETWEEN binds its own AND, leaving the next AND as a conjunction', () => {
    const p = sql("a BETWEEN 1 AND 3 AND b = 'x'");
    expect(p(props({ a: '2', b: 'x' }))).toBe(true);
    expect(p(props({ a: '2', b: 'y' }))).toBe(false);
    expect(p(props({ a: '5', b: 'x' }))).toBe(false);
  });

  it('BETWEEN with negative numbers and strings', () => {
    expect(sql('t BETWEEN -10 AND -1')(props({ t: '-5' }))).toBe(true);
    expect(sql('t BETWEEN -10 AND -1')(props({ t: '5' }))).toBe(false);
    expect(sql("c BETWEEN 'b' AND 'd'")(props({ c: 'c' }))).toBe(true);
    expect(sql("c BETWEEN 'b' AND 'd'")(props({ c: 'e' }))).toBe(false);
  });

  it('IN and NOT IN', () => {
    const p = sql("c IN ('red', 'green')");
    expect(p(props({ c: 'red' }))).toBe(true);
    expect(p(props({ c: 'green' }))).toBe(true);
    expect(p(props({ c: 'blue' }))).toBe(false);
    const q = sql("c NOT IN ('red', 'green')");
    expect(q(props({ c: 'red' }))).toBe(false);
    expect(q(props({ c: 'blue' }))).toBe(true);
    expect(sql('n IN (1, 2, -3)')(props({ n: '-3' }))).toBe(true);
    expect(sql('n IN (1, 2, -3)')(props({ n: '2.0' }))).toBe(true);
    expect(sql('n IN (1, 2, -3)')(props({ n: '4' }))).toBe(false);
    expect(sql("c IN ('x')")(props({ c: 'x' }))).toBe(true);
  });

  it('IS NULL and IS NOT NULL', () => {
    expect(sql('a IS NULL')(props({}))).toBe(true);
    expect(sql('a IS NULL')({})).toBe(true);
    expect(sql('a IS NULL')(props({ a: '' }))).toBe(false);
    expect(sql('a IS NOT NULL')(props({ a: '' }))).toBe(true);
    expect(sql('a IS NOT NULL')(props({ b: '1' }))).toBe(false);
  });

  it('does not see inherited object members as properties', () => {
    expect(sql('constructor IS NULL')(props({}))).toBe(true);
    expect(sql('toString IS NOT NULL')(props({}))).toBe(false);
    expect(sql("__proto__ = 'x'")(props({}))).toBe(false);
  });
});

describe('SQL92: tag', () => {
  it('tag and TAGS mean the message tag, in any case', () => {
    for (const id of ['tag', 'TAG', 'TAGS', 'tags']) {
      const p = sql(`${id} = 'a'`);
      expect(p({ tag: 'a' })).toBe(true);
      expect(p({ tag: 'b' })).toBe(false);
      expect(p({ properties: { [id]: 'a' } })).toBe(false);
    }
    expect(sql("TAGS IN ('a', 'b')")({ tag: 'b' })).toBe(true);
  });

  it('a missing tag is NULL', () => {
    expect(sql('tag IS NULL')({})).toBe(true);
    expect(sql('tag IS NULL')({ tag: '' })).toBe(true);
    expect(sql('tag IS NULL')({ tag: 'a' })).toBe(false);
    expect(sql("tag <> 'a'")({})).toBe(false);
  });

  it('combines tag and properties', () => {
    const p = sql("tag = 'order' AND amount > 100");
    expect(p({ tag: 'order', properties: { amount: '150' } })).toBe(true);
    expect(p({ tag: 'order', properties: { amount: '50' } })).toBe(false);
    expect(p({ tag: 'refund', properties: { amount: '150' } })).toBe(false);
  });
});

describe('SQL92: logic and precedence', () => {
  const m = (a: string, b: string, c: string) => props({ a, b, c });

  it('AND, OR, NOT', () => {
    expect(sql('a = 1 AND b = 1')(m('1', '1', '0'))).toBe(true);
    expect(sql('a = 1 AND b = 1')(m('1', '0', '0'))).toBe(false);
    expect(sql('a = 1 OR b = 1')(m('0', '1', '0'))).toBe(true);
    expect(sql('a = 1 OR b = 1')(m('0', '0', '0'))).toBe(false);
    expect(sql('NOT a = 1')(m('0', '0', '0'))).toBe(true);
    expect(sql('NOT a = 1')(m('1', '0', '0'))).toBe(false);
    expect(sql('NOT NOT a = 1')(m('1', '0', '0'))).toBe(true);
  });

  it('AND binds tighter than OR', () => {
    // a OR (b AND c)
    const p = sql('a = 1 OR b = 1 AND c = 1');
    expect(p(m('1', '0', '0'))).toBe(true);
    expect(p(m('0', '1', '0'))).toBe(false);
    expect(p(m('0', '1', '1'))).toBe(true);
    // (b AND c) OR a
    const q = sql('b = 1 AND c = 1 OR a = 1');
    expect(q(m('1', '0', '0'))).toBe(true);
    expect(q(m('0', '1', '0'))).toBe(false);
  });

  it('NOT binds tighter than AND', () => {
    // (NOT a) AND b
    const p = sql('NOT a = 1 AND b = 1');
    expect(p(m('0', '1', '0'))).toBe(true);
    expect(p(m('1', '0', '0'))).toBe(false); // NOT (a AND b) would be true here
    expect(p(m('0', '0', '0'))).toBe(false);
  });

  it('parentheses override precedence', () => {
    const p = sql('(a = 1 OR b = 1) AND c = 1');
    expect(p(m('1', '0', '0'))).toBe(false);
    expect(p(m('1', '0', '1'))).toBe(true);
    const q = sql('NOT (a = 1 AND b = 1)');
    expect(q(m('1', '0', '0'))).toBe(true);
    expect(q(m('1', '1', '0'))).toBe(false);
    expect(sql('((((a = 1))))')(m('1', '0', '0'))).toBe(true);
  });

  it('TRUE and FALSE as conditions and as values', () => {
    expect(sql('TRUE')({})).toBe(true);
    expect(sql('FALSE')({})).toBe(false);
    expect(sql('NOT FALSE')({})).toBe(true);
    expect(sql('FALSE OR a = 1')(props({ a: '1' }))).toBe(true);
    expect(sql('TRUE AND a = 1')(props({ a: '2' }))).toBe(false);
    expect(sql('flag = TRUE')(props({ flag: 'true' }))).toBe(true);
    expect(sql('flag = TRUE')(props({ flag: 'TRUE' }))).toBe(true);
    expect(sql('flag = TRUE')(props({ flag: 'false' }))).toBe(false);
    expect(sql('flag = TRUE')(props({ flag: 'yes' }))).toBe(false);
    expect(sql('flag <> FALSE')(props({ flag: 'true' }))).toBe(true);
    expect(sql('TRUE = flag')(props({ flag: 'true' }))).toBe(true);
  });
});

describe('SQL92: three-valued NULL logic', () => {
  const missing = props({ b: '1' });

  it('every comparison with a missing property is not a match, negated or not', () => {
    for (const cond of [
      'a = 1', 'a <> 1', 'a > 1', 'a >= 1', 'a < 1', 'a <= 1', "a = 'x'", "a <> 'x'",
      'a BETWEEN 1 AND 2', 'a NOT BETWEEN 1 AND 2', "a IN ('x')", "a NOT IN ('x')",
    ]) {
      expect(sql(cond)(missing), cond).toBe(false);
      expect(sql(`NOT (${cond})`)(missing), `NOT (${cond})`).toBe(false);
    }
  });

  it('UNKNOWN AND FALSE is FALSE, so NOT of it matches', () => {
    expect(sql('a = 1 AND b = 2')(missing)).toBe(false);
    expect(sql('NOT (a = 1 AND b = 2)')(missing)).toBe(true);
  });

  it('UNKNOWN AND TRUE is UNKNOWN, so NOT of it does not match', () => {
    expect(sql('NOT (a = 1 AND b = 1)')(missing)).toBe(false);
  });

  it('UNKNOWN OR TRUE is TRUE; UNKNOWN OR FALSE is UNKNOWN', () => {
    expect(sql('a = 1 OR b = 1')(missing)).toBe(true);
    expect(sql('NOT (a = 1 OR b = 1)')(missing)).toBe(false);
    expect(sql('a = 1 OR b = 2')(missing)).toBe(false);
    expect(sql('NOT (a = 1 OR b = 2)')(missing)).toBe(false);
  });

  it('IS NULL / IS NOT NULL are never unknown', () => {
    expect(sql('NOT (a IS NULL)')(missing)).toBe(false);
    expect(sql('NOT (a IS NOT NULL)')(missing)).toBe(true);
    expect(sql('a IS NULL OR a > 5')(missing)).toBe(true);
  });

  it('BETWEEN with one bound definitely false is FALSE even if the other is unknown', () => {
    // x >= lo is FALSE, x <= hi is UNKNOWN (hi missing) → FALSE, and NOT BETWEEN → TRUE.
    expect(sql('x NOT BETWEEN 5 AND 10')(props({ x: '1' }))).toBe(true);
    expect(sql('x BETWEEN lo AND hi')(props({ x: '1', lo: '5' }))).toBe(false);
    expect(sql('x NOT BETWEEN lo AND hi')(props({ x: '1', lo: '5' }))).toBe(true);
    expect(sql('x NOT BETWEEN lo AND hi')(props({ x: '7', lo: '5' }))).toBe(false);
  });
});

describe('SQL92: numbers vs strings', () => {
  it('a number literal reads the property as a number', () => {
    expect(sql('a = 10')(props({ a: '10' }))).toBe(true);
    expect(sql('a = 10')(props({ a: '10.0' }))).toBe(true);
    expect(sql('a = 10')(props({ a: '010' }))).toBe(true);
    expect(sql('a = 10')(props({ a: '1e1' }))).toBe(true);
    expect(sql('a > 9')(props({ a: '10' }))).toBe(true); // '10' < '9' as strings
    expect(sql('a < 2.5')(props({ a: '2.25' }))).toBe(true);
    expect(sql('a > -1')(props({ a: '-0.5' }))).toBe(true);
    expect(sql('a >= -1.5')(props({ a: '-2' }))).toBe(false);
    expect(sql('a = - 3')(props({ a: '-3' }))).toBe(true);
  });

  it('a non-numeric property makes a numeric comparison FALSE', () => {
    for (const v of ['abc', '', ' 5', '5 ', '0x10', 'Infinity', 'NaN', '1,000']) {
      expect(sql('a = 5')(props({ a: v })), v).toBe(false);
      expect(sql('a <> 5')(props({ a: v })), v).toBe(false);
      expect(sql('a < 5')(props({ a: v })), v).toBe(false);
      expect(sql('a BETWEEN 0 AND 100')(props({ a: v })), v).toBe(false);
    }
  });

  it('compares large integers exactly', () => {
    expect(sql('id = 9007199254740993')(props({ id: '9007199254740992' }))).toBe(false);
    expect(sql('id > 9007199254740992')(props({ id: '9007199254740993' }))).toBe(true);
    expect(sql('id = 123456789012345678901234567890')(props({ id: '123456789012345678901234567890' }))).toBe(true);
  });

  it('a string literal compares strings', () => {
    expect(sql("a = '10'")(props({ a: '10' }))).toBe(true);
    expect(sql("a = '10'")(props({ a: '10.0' }))).toBe(false);
    expect(sql("a > '9'")(props({ a: '10' }))).toBe(false); // string order
    expect(sql("a = ''")(props({ a: '' }))).toBe(true);
  });

  it('string literals support doubled quotes and keep spaces and case', () => {
    expect(sql("name = 'O''Brien'")(props({ name: "O'Brien" }))).toBe(true);
    expect(sql("name = ''''")(props({ name: "'" }))).toBe(true);
    expect(sql("name = ' a  b '")(props({ name: ' a  b ' }))).toBe(true);
    expect(sql("name = 'AND'")(props({ name: 'AND' }))).toBe(true);
    expect(sql("name = 'x'")(props({ name: 'X' }))).toBe(false);
  });

  it('two properties compare as numbers when both are numeric, else as strings', () => {
    expect(sql('a > b')(props({ a: '10', b: '9' }))).toBe(true);
    expect(sql('a = b')(props({ a: '1.0', b: '1' }))).toBe(true);
    expect(sql('a > b')(props({ a: 'b', b: 'a' }))).toBe(true);
    expect(sql('a = b')(props({ a: 'x', b: 'x' }))).toBe(true);
    expect(sql('a = b')(props({ a: 'x' }))).toBe(false);
  });

  it('property names with dots and underscores, case-sensitive', () => {
    expect(sql("order.region_id = 'eu'")(props({ 'order.region_id': 'eu' }))).toBe(true);
    expect(sql("_x = 'y'")(props({ _x: 'y' }))).toBe(true);
    expect(sql("Region = 'eu'")(props({ region: 'eu' }))).toBe(false);
  });
});

describe('SQL92: case-insensitive keywords', () => {
  it('accepts keywords in any case', () => {
    const m = props({ a: '2', b: 'x' });
    expect(sql("a between 1 and 3 and b in ('x') and c is null")(m)).toBe(true);
    expect(sql("A Between 1 And 3 AnD b NoT iN ('y') oR FaLsE")(props({ A: '2', b: 'x' }))).toBe(true);
    expect(sql('not a not between 1 and 3')(m)).toBe(true);
    expect(sql('b is not null')(m)).toBe(true);
    expect(sql('true')(m)).toBe(true);
    expect(sql("a = 3 or b = 'x'")(m)).toBe(true);
  });

  it('accepts newlines and tabs as whitespace', () => {
    expect(sql("a = 2\n\tAND\r\n b = 'x'")(props({ a: '2', b: 'x' }))).toBe(true);
  });
});

describe('SQL92: limits', () => {
  it('allows nesting up to 64 levels and rejects 65', () => {
    const nest = (n: number) => '('.repeat(n) + 'a = 1' + ')'.repeat(n);
    expect(sql(nest(64))(props({ a: '1' }))).toBe(true);
    expect(rejects({ sql: nest(65) })).toMatch(/nested more than 64 levels deep .*at position 65$/);
    expect(sql('NOT '.repeat(64) + 'a = 1')(props({ a: '1' }))).toBe(true);
    expect(rejects({ sql: 'NOT '.repeat(65) + 'a = 1' })).toMatch(/nested more than 64/);
    expect(rejects({ sql: 'NOT ('.repeat(40) + 'a = 1' + ')'.repeat(40) })).toMatch(/nested more than 64/);
  });

  it('long flat chains are fine', () => {
    const p = sql(Array.from({ length: 300 }, (_, i) => `a = ${i}`).join(' OR '));
    expect(p(props({ a: '299' }))).toBe(true);
    expect(p(props({ a: '300' }))).toBe(false);
  });

  it('IN lists up to 256 items', () => {
    const list = (n: number) => Array.from({ length: n }, (_, i) => `'v${i}'`).join(',');
    expect(sql(`x IN (${list(256)})`)(props({ x: 'v255' }))).toBe(true);
    expect(rejects({ sql: `x IN (${list(257)})` })).toMatch(/IN list has more than 256 items/);
  });

  it('SQL up to 4096 characters', () => {
    const base = "a = 'x'";
    const ok = base + ' '.repeat(4096 - base.length);
    expect(sql(ok)(props({ a: 'x' }))).toBe(true);
    expect(rejects({ sql: ok + ' ' })).toMatch(/4097 characters long; the limit is 4096/);
  });
});

describe('SQL92: bad expressions', () => {
  it.each([
    ['a =', /expected a value after "=" but found the end of the expression at position 4/],
    ['a = AND b = 1', /expected a value after "=" but found "AND" at position 5/],
    ['a', /expected an operator .* after "a" but found the end of the expression/],
    ['a AND b = 1', /expected an operator .* after "a" but found "AND" at position 3/],
    ['a = 1 AND', /expected a condition .* after "AND" but found the end of the expression at position 10/],
    ['a = 1 OR OR b = 1', /expected a condition .* after "OR" but found "OR" at position 10/],
    ['AND a = 1', /expected a condition .* but found "AND" at position 1/],
    ['a = 1 b = 2', /unexpected "b" at position 7; expected AND, OR or the end/],
    ['(a = 1', /expected "\)" to close the "\(" at position 1 but found the end of the expression at position 7/],
    ['a = 1)', /unmatched "\)" at position 6/],
    ['()', /expected a condition .* after "\(" but found "\)" at position 2/],
    ["a = 'abc", /unterminated string .* at position 5/],
    ['a = "abc"', /double quote; strings use single quotes .* at position 5/],
    ['a != 1', /use <> .* at position 3/],
    ['a == 1', /use = for equality at position 3/],
    ['a = 1 # x', /unexpected character "#" at position 7/],
    ['a = 1; DROP', /unexpected character ";" at position 6/],
    ['a = 12abc', /invalid number "12abc" at position 5/],
    ['a = 1.', /invalid number "1\." at position 5/],
    ['a = 1.2.3', /invalid number "1\.2\.3" at position 5/],
    ['a = 1e999', /out of range at position 5/],
    ['a = -', /expected a number after "-" but found the end/],
    ["a = -'x'", /expected a number after "-" but found string 'x' at position 6/],
    ['a = NULL', /use IS NULL or IS NOT NULL at position 5/],
    ['a IS 1', /expected NULL or NOT NULL after "IS" but found "1" at position 6/],
    ['a IS NOT', /expected NULL after "NOT"/],
    ['a NOT = 1', /expected BETWEEN or IN after "NOT" but found "=" at position 7/],
    ['a BETWEEN 1', /expected AND \(BETWEEN low AND high\) after "1" but found the end/],
    ['a BETWEEN 1 OR 3', /expected AND .* but found "OR" at position 13/],
    ['a BETWEEN AND 3', /expected a value after "BETWEEN" but found "AND"/],
    ["a IN 'x'", /expected "\(" to start the IN list after "IN" but found string 'x' at position 6/],
    ['a IN ()', /expected a string or number after "\(" but found "\)" at position 7/],
    ["a IN ('x',)", /expected a string or number after "," but found "\)"/],
    ["a IN ('x' 'y')", /expected "," or "\)" in the IN list .* at position 11/],
    ["a IN ('x'", /expected "," or "\)" in the IN list .* the end of the expression/],
    ['a IN (b)', /expected a string or number after "\(" but found "b"/],
    ['a IN (TRUE)', /expected a string or number/],
    ['a > TRUE', /TRUE and FALSE can only be compared with = or <>, not ">" at position 3/],
    ['a BETWEEN FALSE AND TRUE', /BETWEEN does not take TRUE or FALSE/],
    ['a LIKE \'x%\'', /expected an operator .* after "a" but found "LIKE" at position 3/],
    ['a = 1 AND (b = 2 OR)', /expected a condition .* after "OR" but found "\)" at position 20/],
    ["'x'", /expected an operator .* but found the end/],
    ['1 AND 2', /expected an operator/],
    ['a.b-c = 1', /expected an operator .* after "a\.b" but found "-" at position 4/],
    ['NOT', /expected a condition .* after "NOT" but found the end/],
    ['a = 1 AND NOT', /expected a condition/],
  ])('%s', (expr, re) => {
    const msg = rejects({ sql: expr });
    expect(msg.startsWith('SQL filter: ')).toBe(true);
    expect(msg).toMatch(re);
  });

  it('rejects an empty or blank SQL expression', () => {
    expect(rejects({ sql: '' })).toMatch(/empty/);
    expect(rejects({ sql: '  \n ' })).toMatch(/empty/);
  });

  it('positions count from the start of the raw expression, leading spaces included', () => {
    expect(rejects({ sql: '   a =' })).toMatch(/at position 7$/);
  });

  it('filterKey rejects what compileFilter rejects', () => {
    for (const spec of [{ sql: 'a =' }, { sql: '' }, 'a ||', 'a | b', { sql: 'x'.repeat(5000) }] as FilterSpec[]) {
      rejects(spec, filterKey);
    }
  });
});

describe('filterKey / parseFilterKey', () => {
  it('canonical keys', () => {
    expect(filterKey(undefined)).toBe('*');
    expect(filterKey(null)).toBe('*');
    expect(filterKey('')).toBe('*');
    expect(filterKey('  *  ')).toBe('*');
    expect(filterKey('a')).toBe('tag:a');
    expect(filterKey('a || b')).toBe('tag:a||b');
    expect(filterKey('  a||  b ')).toBe('tag:a||b');
    expect(filterKey('a || b || a')).toBe('tag:a||b');
    expect(filterKey({ sql: "  a = 'x'\n" })).toBe("sql:a = 'x'");
  });

  it('equivalent specs share a key; different ones do not', () => {
    expect(filterKey('a||b')).toBe(filterKey(' a || b '));
    expect(filterKey('a||b')).not.toBe(filterKey('b||a||c'));
    expect(filterKey({ sql: 'a = 1' })).toBe(filterKey({ sql: ' a = 1 ' }));
    expect(filterKey({ sql: 'a = 1' })).not.toBe(filterKey({ sql: 'a = 2' }));
    // a tag expression that looks like SQL or a key stays a tag expression
    expect(filterKey('sql:a')).toBe('tag:sql:a');
    expect(filterKey('tag:x')).toBe('tag:tag:x');
  });

  it('parseFilterKey inverts filterKey', () => {
    expect(parseFilterKey('*')).toBe('*');
    expect(parseFilterKey('tag:a||b')).toBe('a||b');
    expect(parseFilterKey("sql:a = 'x'")).toEqual({ sql: "a = 'x'" });
    expect(parseFilterKey('tag:sql:a')).toBe('sql:a');
    expect(parseFilterKey('')).toBe('*');
    expect(parseFilterKey('a || b')).toBe('a || b'); // an unprefixed string is a tag expression
  });

  it('round-trips: same key, same behaviour', () => {
    const specs: (FilterSpec | undefined | null)[] = [
      undefined, null, '', '*', 'a', ' a || b ', 'a||b||c', 'tag:x', 'sql:y', 'order created',
      { sql: "a = 'x'" }, { sql: "  tag IN ('a','b') AND n BETWEEN 1 AND 5  " },
      { sql: "name = 'O''Brien' OR x IS NULL" }, { sql: 'NOT (a > 1)\n' },
    ];
    const msgs: FilterTarget[] = [
      {}, { tag: 'a' }, { tag: 'b' }, { tag: 'c' }, { tag: 'tag:x' }, { tag: 'sql:y' }, { tag: 'order created' },
      { tag: 'a', properties: { a: 'x', n: '3' } }, { tag: 'b', properties: { n: '9' } },
      { properties: { name: "O'Brien", x: '1' } }, { properties: { a: '0' } }, { properties: { a: '2' } },
    ];
    for (const spec of specs) {
      const key = filterKey(spec);
      const back = parseFilterKey(key);
      expect(filterKey(back), JSON.stringify(spec)).toBe(key);
      const p1 = compileFilter(spec), p2 = compileFilter(back);
      for (const m of msgs) expect(p2(m), `${key} on ${JSON.stringify(m)}`).toBe(p1(m));
    }
  });

  it('keys survive JSON storage', () => {
    const key = filterKey({ sql: "a = 'x\"y'" });
    const back = parseFilterKey(JSON.parse(JSON.stringify(key)) as string);
    expect(compileFilter(back)(props({ a: 'x"y' }))).toBe(true);
  });
});

describe('compileFilter returns reusable predicates', () => {
  it('the same compiled predicate gives consistent answers across many messages', () => {
    const p = sql("region = 'eu' AND (priority >= 5 OR vip = TRUE)");
    const results = [
      p(props({ region: 'eu', priority: '7' })),
      p(props({ region: 'eu', priority: '1', vip: 'true' })),
      p(props({ region: 'eu', priority: '1' })),
      p(props({ region: 'us', priority: '9' })),
      p(props({ region: 'eu', priority: '7' })),
    ];
    expect(results).toEqual([true, true, false, false, true]);
  });
});
