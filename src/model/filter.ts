/**
 * Subscription filters: RocketMQ tag expressions and RocketMQ's SQL92 filter.
 *
 * Tag expressions: `*` (or empty) matches every message; `a || b || c` matches a message whose tag is
 * one of those. A message without a tag matches only `*`.
 *
 * SQL92: a tokenizer and a recursive-descent parser build an AST once; the predicate evaluates it with
 * SQL's three-valued logic (a missing property makes a comparison UNKNOWN, `NOT UNKNOWN` is UNKNOWN, and
 * only TRUE at the top matches). Identifiers are property names, except `tag` / `TAGS` (any case), which
 * mean the message tag. Property values are strings: against a number literal the property is read as a
 * number (a non-numeric value makes that comparison FALSE); against a string literal strings are compared
 * (code-unit order for < >); two properties compare as numbers when both are numeric, else as strings.
 *
 * Every bad expression throws ApiError('INVALID_FILTER') with a message naming the token and its
 * 1-based character position.
 */
import { ApiError } from './errors';

export interface FilterTarget { tag?: string; properties?: Record<string, string> }
export type Predicate = (m: FilterTarget) => boolean;
export type FilterSpec = string | { sql: string };

export const TAG_EXPRESSION_MAX_CHARS = 1024;
export const SQL_MAX_CHARS = 4096;
export const SQL_MAX_DEPTH = 64;
export const SQL_IN_MAX_ITEMS = 256;

const matchAll: Predicate = () => true;

/** Compiles a filter once; throws ApiError('INVALID_FILTER') for a bad expression. */
export function compileFilter(spec: FilterSpec | undefined | null): Predicate {
  const s = classify(spec);
  if (s.kind === 'sql') return compileSql(s.raw);
  const tags = parseTagExpression(s.expr);
  if (tags === null) return matchAll;
  if (tags.length === 1) {
    const only = tags[0];
    return (m) => m.tag === only;
  }
  const set = new Set(tags);
  return (m) => typeof m.tag === 'string' && set.has(m.tag);
}

/**
 * A canonical, stable string for a spec: `*`, `tag:a||b` (alternatives trimmed, duplicates dropped,
 * order kept) or `sql:<trimmed sql>`. Throws INVALID_FILTER exactly when compileFilter would.
 */
export function filterKey(spec: FilterSpec | undefined | null): string {
  const s = classify(spec);
  if (s.kind === 'sql') {
    compileSql(s.raw); // validates (and warms the cache)
    return 'sql:' + s.raw.trim();
  }
  const tags = parseTagExpression(s.expr);
  return tags === null ? '*' : 'tag:' + tags.join('||');
}

/** The inverse of filterKey. A string without a `tag:` / `sql:` prefix is taken as a tag expression. */
export function parseFilterKey(key: string): FilterSpec {
  if (key.startsWith('sql:')) return { sql: key.slice(4) };
  if (key.startsWith('tag:')) return key.slice(4);
  return key.trim() === '' ? '*' : key;
}

// ---------------------------------------------------------------------------------------------------
// Spec classification

type Classified = { kind: 'tag'; expr: string } | { kind: 'sql'; raw: string };

function classify(spec: FilterSpec | undefined | null): Classified {
  if (spec === undefined || spec === null) return { kind: 'tag', expr: '*' };
  if (typeof spec === 'string') return { kind: 'tag', expr: spec };
  if (typeof spec === 'object' && !Array.isArray(spec)) {
    const sql = (spec as { sql?: unknown }).sql;
    if (typeof sql === 'string') return { kind: 'sql', raw: sql };
    throw new ApiError('INVALID_FILTER', 'filter must be a tag expression string or {"sql": "<expression>"}; "sql" must be a string');
  }
  throw new ApiError('INVALID_FILTER', 'filter must be a tag expression string or {"sql": "<expression>"}');
}

// ---------------------------------------------------------------------------------------------------
// Tag expressions

function tagError(msg: string): ApiError {
  return new ApiError('INVALID_FILTER', `Tag filter: ${msg}`);
}

/** The distinct tags of an expression, or null for "every message". */
function parseTagExpression(expr: string): string[] | null {
  if (expr.length > TAG_EXPRESSION_MAX_CHARS) {
    throw tagError(`expression is ${expr.length} characters long; the limit is ${TAG_EXPRESSION_MAX_CHARS}`);
  }
  const whole = expr.trim();
  if (whole === '' || whole === '*') return null;
  const tags: string[] = [];
  let start = 0;
  for (;;) {
    const sep = expr.indexOf('||', start);
    const end = sep === -1 ? expr.length : sep;
    const piece = expr.slice(start, end);
    const tag = piece.trim();
    if (tag === '') {
      throw sep === -1
        ? tagError(`empty tag after "||" at position ${end + 1}; remove the trailing "||" or add a tag`)
        : tagError(`empty tag before "||" at position ${sep + 1}; every alternative needs a tag`);
    }
    const lead = piece.length - piece.trimStart().length;
    for (let i = 0; i < tag.length; i++) {
      const c = tag.charCodeAt(i);
      const pos = start + lead + i + 1;
      if (tag[i] === '|') throw tagError(`single "|" at position ${pos}; separate tags with "||"`);
      if (tag[i] === '*') {
        throw tagError(`"*" at position ${pos}; "*" (every tag) must be the whole expression, and tags have no wildcards`);
      }
      if (c < 0x20 || c === 0x7f) {
        throw tagError(`control character U+${c.toString(16).toUpperCase().padStart(4, '0')} at position ${pos}`);
      }
    }
    if (!tags.includes(tag)) tags.push(tag);
    if (sep === -1) break;
    start = sep + 2;
  }
  return tags;
}

// ---------------------------------------------------------------------------------------------------
// SQL92: tokens

type TokKind = 'id' | 'kw' | 'str' | 'num' | 'op' | '(' | ')' | ',' | '-' | 'eof';
interface Tok {
  kind: TokKind;
  /** The source text (for kw: upper-cased keyword in `word`). */
  text: string;
  /** 0-based offset in the expression. */
  pos: number;
  /** kw: the upper-cased keyword; str: the unescaped value. */
  word?: string;
}

const KEYWORDS = new Set(['AND', 'OR', 'NOT', 'BETWEEN', 'IN', 'IS', 'NULL', 'TRUE', 'FALSE']);

function sqlError(msg: string, pos?: number): ApiError {
  return new ApiError('INVALID_FILTER', `SQL filter: ${msg}${pos === undefined ? '' : ` at position ${pos + 1}`}`);
}

function show(text: string): string {
  return JSON.stringify(text.length > 40 ? text.slice(0, 40) + '…' : text);
}

const IDENT_START = /[A-Za-z_]/;
const IDENT_REST = /[A-Za-z0-9_.]/;
const NUMBER_RE = /\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

function tokenize(src: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const ch = src[i];
    if (/\s/.test(ch)) { i++; continue; }
    const start = i;
    if (IDENT_START.test(ch)) {
      while (i < src.length && IDENT_REST.test(src[i])) i++;
      const text = src.slice(start, i);
      const upper = text.toUpperCase();
      if (KEYWORDS.has(upper)) toks.push({ kind: 'kw', text, pos: start, word: upper });
      else toks.push({ kind: 'id', text, pos: start });
      continue;
    }
    if (ch >= '0' && ch <= '9') {
      NUMBER_RE.lastIndex = i;
      const m = NUMBER_RE.exec(src)!;
      i += m[0].length;
      if (i < src.length && IDENT_REST.test(src[i])) {
        let j = i;
        while (j < src.length && IDENT_REST.test(src[j])) j++;
        throw sqlError(`invalid number ${show(src.slice(start, j))}`, start);
      }
      if (!Number.isFinite(Number(m[0]))) throw sqlError(`number ${show(m[0])} is out of range`, start);
      toks.push({ kind: 'num', text: m[0], pos: start });
      continue;
    }
    if (ch === "'") {
      let value = '';
      i++;
      for (;;) {
        if (i >= src.length) throw sqlError('unterminated string (missing closing \')', start);
        if (src[i] === "'") {
          if (src[i + 1] === "'") { value += "'"; i += 2; continue; }
          i++;
          break;
        }
        value += src[i++];
      }
      toks.push({ kind: 'str', text: src.slice(start, i), pos: start, word: value });
      continue;
    }
    if (ch === '"') throw sqlError(`double quote; strings use single quotes ('abc')`, start);
    const two = src.slice(i, i + 2);
    if (two === '<>' || two === '<=' || two === '>=') { toks.push({ kind: 'op', text: two, pos: start }); i += 2; continue; }
    if (two === '!=') throw sqlError('"!=" is not SQL92; use <> for "not equal"', start);
    if (two === '==') throw sqlError('"==" is not SQL92; use = for equality', start);
    if (ch === '=' || ch === '<' || ch === '>') { toks.push({ kind: 'op', text: ch, pos: start }); i++; continue; }
    if (ch === '(' || ch === ')' || ch === ',' || ch === '-') { toks.push({ kind: ch, text: ch, pos: start }); i++; continue; }
    throw sqlError(`unexpected character ${show(ch)}`, start);
  }
  toks.push({ kind: 'eof', text: '', pos: src.length });
  return toks;
}

// ---------------------------------------------------------------------------------------------------
// SQL92: AST and parser

type CmpOp = '=' | '<>' | '>' | '>=' | '<' | '<=';
type Operand =
  | { k: 'prop'; name: string }
  | { k: 'tag' }
  | { k: 'str'; v: string }
  | { k: 'num'; text: string }
  | { k: 'bool'; v: boolean };
type Node =
  | { k: 'const'; v: boolean }
  | { k: 'and'; xs: Node[] }
  | { k: 'or'; xs: Node[] }
  | { k: 'not'; x: Node }
  | { k: 'cmp'; op: CmpOp; l: Operand; r: Operand }
  | { k: 'between'; neg: boolean; x: Operand; lo: Operand; hi: Operand }
  | { k: 'in'; neg: boolean; x: Operand; items: Operand[] }
  | { k: 'isnull'; neg: boolean; x: Operand };

const OPERATORS = '=, <>, >, >=, <, <=, BETWEEN, NOT BETWEEN, IN, NOT IN, IS NULL, IS NOT NULL';

class Parser {
  private i = 0;
  private depth = 0;
  constructor(private readonly toks: Tok[]) {}

  parse(): Node {
    const node = this.parseOr();
    const t = this.peek();
    if (t.kind === ')') throw sqlError('unmatched ")"', t.pos);
    if (t.kind !== 'eof') throw sqlError(`unexpected ${this.describe(t)} at position ${t.pos + 1}; expected AND, OR or the end of the expression`);
    return node;
  }

  private peek(ahead = 0): Tok { return this.toks[Math.min(this.i + ahead, this.toks.length - 1)]; }
  private next(): Tok { return this.toks[this.i++]; }
  private isKw(t: Tok, word: string): boolean { return t.kind === 'kw' && t.word === word; }

  private describe(t: Tok): string {
    if (t.kind === 'eof') return 'the end of the expression';
    if (t.kind === 'str') return `string ${t.text.length > 40 ? t.text.slice(0, 40) + '…' : t.text}`;
    return show(t.text);
  }

  /** "expected X after "prev" but found Y at position N" */
  private expected(what: string, t: Tok = this.peek()): ApiError {
    const prev = this.i > 0 ? this.toks[this.i - 1] : undefined;
    const after = prev ? ` after ${this.describe(prev)}` : '';
    return sqlError(`expected ${what}${after} but found ${this.describe(t)}`, t.pos);
  }

  private enter(t: Tok): void {
    if (++this.depth > SQL_MAX_DEPTH) throw sqlError(`expression is nested more than ${SQL_MAX_DEPTH} levels deep (parentheses and NOT)`, t.pos);
  }

  private parseOr(): Node {
    const xs = [this.parseAnd()];
    while (this.isKw(this.peek(), 'OR')) { this.next(); xs.push(this.parseAnd()); }
    return xs.length === 1 ? xs[0] : { k: 'or', xs };
  }

  private parseAnd(): Node {
    const xs = [this.parseNot()];
    while (this.isKw(this.peek(), 'AND')) { this.next(); xs.push(this.parseNot()); }
    return xs.length === 1 ? xs[0] : { k: 'and', xs };
  }

  private parseNot(): Node {
    const t = this.peek();
    if (this.isKw(t, 'NOT')) {
      this.enter(t);
      this.next();
      const x = this.parseNot();
      this.depth--;
      return { k: 'not', x };
    }
    return this.parsePredicate();
  }

  private parsePredicate(): Node {
    const t = this.peek();
    if (t.kind === '(') {
      this.enter(t);
      this.next();
      const e = this.parseOr();
      const close = this.peek();
      if (close.kind !== ')') {
        throw sqlError(`expected ")" to close the "(" at position ${t.pos + 1} but found ${this.describe(close)}`, close.pos);
      }
      this.next();
      this.depth--;
      return e;
    }
    if ((this.isKw(t, 'TRUE') || this.isKw(t, 'FALSE')) && !this.startsTail(this.peek(1))) {
      this.next();
      return { k: 'const', v: t.word === 'TRUE' };
    }
    if (!this.startsOperand(t)) throw this.expected('a condition (e.g. a = \'x\')');
    const x = this.parseOperand('a condition');
    return this.parseTail(x);
  }

  private startsTail(t: Tok): boolean {
    return t.kind === 'op' || (t.kind === 'kw' && ['NOT', 'BETWEEN', 'IN', 'IS'].includes(t.word!));
  }

  private startsOperand(t: Tok): boolean {
    return t.kind === 'id' || t.kind === 'str' || t.kind === 'num' || t.kind === '-'
      || this.isKw(t, 'TRUE') || this.isKw(t, 'FALSE') || this.isKw(t, 'NULL');
  }

  private parseOperand(what: string): Operand {
    const t = this.peek();
    switch (t.kind) {
      case 'id':
        this.next();
        return /^tags?$/i.test(t.text) ? { k: 'tag' } : { k: 'prop', name: t.text };
      case 'str':
        this.next();
        return { k: 'str', v: t.word! };
      case 'num':
        this.next();
        return { k: 'num', text: t.text };
      case '-': {
        this.next();
        const n = this.peek();
        if (n.kind !== 'num') throw this.expected('a number');
        this.next();
        return { k: 'num', text: '-' + n.text };
      }
      case 'kw':
        if (t.word === 'TRUE' || t.word === 'FALSE') { this.next(); return { k: 'bool', v: t.word === 'TRUE' }; }
        if (t.word === 'NULL') throw sqlError('NULL cannot be compared (any comparison with NULL is unknown); use IS NULL or IS NOT NULL', t.pos);
        break;
    }
    throw this.expected(what);
  }

  /** A literal in an IN list: a string or a (possibly negative) number. */
  private parseListItem(): Operand {
    const t = this.peek();
    if (t.kind === 'str' || t.kind === 'num' || t.kind === '-') return this.parseOperand('a string or number');
    throw this.expected('a string or number');
  }

  private parseTail(x: Operand): Node {
    const t = this.peek();
    if (t.kind === 'op') {
      this.next();
      const op = t.text as CmpOp;
      const r = this.parseOperand('a value');
      if (op !== '=' && op !== '<>' && (x.k === 'bool' || r.k === 'bool')) {
        throw sqlError(`TRUE and FALSE can only be compared with = or <>, not "${op}"`, t.pos);
      }
      return { k: 'cmp', op, l: x, r };
    }
    let neg = false;
    if (this.isKw(t, 'NOT')) {
      this.next();
      const n = this.peek();
      if (!this.isKw(n, 'BETWEEN') && !this.isKw(n, 'IN')) throw this.expected('BETWEEN or IN');
      neg = true;
    }
    const kw = this.peek();
    if (this.isKw(kw, 'BETWEEN')) {
      this.next();
      const lo = this.parseOperand('a value');
      if (!this.isKw(this.peek(), 'AND')) throw this.expected('AND (BETWEEN low AND high)');
      this.next();
      const hi = this.parseOperand('a value');
      if (x.k === 'bool' || lo.k === 'bool' || hi.k === 'bool') throw sqlError('BETWEEN does not take TRUE or FALSE', kw.pos);
      return { k: 'between', neg, x, lo, hi };
    }
    if (this.isKw(kw, 'IN')) {
      this.next();
      if (this.peek().kind !== '(') throw this.expected('"(" to start the IN list');
      this.next();
      const items: Operand[] = [];
      for (;;) {
        const itemTok = this.peek();
        items.push(this.parseListItem());
        if (items.length > SQL_IN_MAX_ITEMS) throw sqlError(`IN list has more than ${SQL_IN_MAX_ITEMS} items`, itemTok.pos);
        const sep = this.peek();
        if (sep.kind === ',') { this.next(); continue; }
        if (sep.kind === ')') { this.next(); break; }
        throw this.expected('"," or ")" in the IN list');
      }
      return { k: 'in', neg, x, items };
    }
    if (!neg && this.isKw(kw, 'IS')) {
      this.next();
      let isNot = false;
      if (this.isKw(this.peek(), 'NOT')) { this.next(); isNot = true; }
      if (!this.isKw(this.peek(), 'NULL')) throw this.expected(isNot ? 'NULL' : 'NULL or NOT NULL');
      this.next();
      return { k: 'isnull', neg: isNot, x };
    }
    throw this.expected(`an operator (${OPERATORS})`);
  }
}

// ---------------------------------------------------------------------------------------------------
// SQL92: evaluation (three-valued: true, false, null = UNKNOWN)

type TV = boolean | null;
type Val =
  | { t: 's'; v: string; lit: boolean }
  | { t: 'n'; text: string }
  | { t: 'b'; v: boolean };

const NUMERIC = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const INTEGER = /^[+-]?\d+$/;

function value(o: Operand, m: FilterTarget): Val | null {
  switch (o.k) {
    case 'prop': {
      const p = m.properties;
      if (!p || !Object.hasOwn(p, o.name)) return null;
      const v: unknown = p[o.name];
      if (v === undefined || v === null) return null;
      return { t: 's', v: typeof v === 'string' ? v : String(v), lit: false };
    }
    case 'tag':
      return typeof m.tag === 'string' && m.tag !== '' ? { t: 's', v: m.tag, lit: false } : null;
    case 'str': return { t: 's', v: o.v, lit: true };
    case 'num': return { t: 'n', text: o.text };
    case 'bool': return { t: 'b', v: o.v };
  }
}

function compareNumeric(a: string, b: string): number {
  if (INTEGER.test(a) && INTEGER.test(b)) {
    const x = BigInt(a.replace(/^\+/, '')), y = BigInt(b.replace(/^\+/, ''));
    return x < y ? -1 : x > y ? 1 : 0;
  }
  const x = Number(a), y = Number(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

function asNumberText(v: Val): string | undefined {
  if (v.t === 'n') return v.text;
  if (v.t === 's' && NUMERIC.test(v.v)) return v.v;
  return undefined;
}

function asBool(v: Val): boolean | undefined {
  if (v.t === 'b') return v.v;
  if (v.t === 's') {
    const s = v.v.toLowerCase();
    if (s === 'true') return true;
    if (s === 'false') return false;
  }
  return undefined;
}

/** -1 / 0 / 1, or undefined when the two values cannot be compared (the comparison is FALSE). */
function order(a: Val, b: Val): number | undefined {
  if (a.t === 'b' || b.t === 'b') {
    const x = asBool(a), y = asBool(b);
    if (x === undefined || y === undefined) return undefined;
    return x === y ? 0 : x ? 1 : -1;
  }
  if (a.t === 'n' || b.t === 'n') {
    const x = asNumberText(a), y = asNumberText(b);
    if (x === undefined || y === undefined) return undefined;
    return compareNumeric(x, y);
  }
  if (!a.lit && !b.lit && NUMERIC.test(a.v) && NUMERIC.test(b.v)) return compareNumeric(a.v, b.v);
  return a.v < b.v ? -1 : a.v > b.v ? 1 : 0;
}

function compare(op: CmpOp, a: Val | null, b: Val | null): TV {
  if (a === null || b === null) return null;
  const c = order(a, b);
  if (c === undefined) return false;
  switch (op) {
    case '=': return c === 0;
    case '<>': return c !== 0;
    case '>': return c > 0;
    case '>=': return c >= 0;
    case '<': return c < 0;
    case '<=': return c <= 0;
  }
}

const not3 = (v: TV): TV => (v === null ? null : !v);

function evaluate(n: Node, m: FilterTarget): TV {
  switch (n.k) {
    case 'const': return n.v;
    case 'and': {
      let r: TV = true;
      for (const x of n.xs) {
        const v = evaluate(x, m);
        if (v === false) return false;
        if (v === null) r = null;
      }
      return r;
    }
    case 'or': {
      let r: TV = false;
      for (const x of n.xs) {
        const v = evaluate(x, m);
        if (v === true) return true;
        if (v === null) r = null;
      }
      return r;
    }
    case 'not': return not3(evaluate(n.x, m));
    case 'cmp': return compare(n.op, value(n.l, m), value(n.r, m));
    case 'between': {
      const x = value(n.x, m);
      const lo = compare('>=', x, value(n.lo, m));
      const hi = compare('<=', x, value(n.hi, m));
      const r: TV = lo === false || hi === false ? false : lo === null || hi === null ? null : true;
      return n.neg ? not3(r) : r;
    }
    case 'in': {
      const x = value(n.x, m);
      let r: TV = false;
      if (x === null) r = null;
      else for (const item of n.items) if (compare('=', x, value(item, m)) === true) { r = true; break; }
      return n.neg ? not3(r) : r;
    }
    case 'isnull': return (value(n.x, m) === null) !== n.neg;
  }
}

/** Compiled SQL predicates by trimmed text, so filterKey + compileFilter parse a filter once. */
const SQL_CACHE_MAX = 256;
const sqlCache = new Map<string, Predicate>();

function compileSql(raw: string): Predicate {
  if (raw.length > SQL_MAX_CHARS) throw sqlError(`expression is ${raw.length} characters long; the limit is ${SQL_MAX_CHARS}`);
  const text = raw.trim();
  if (text === '') throw sqlError('expression is empty; omit the filter (or use "*") to receive every message');
  const hit = sqlCache.get(text);
  if (hit) return hit;
  const ast = new Parser(tokenize(raw)).parse();
  const pred: Predicate = (m) => evaluate(ast, m) === true;
  if (sqlCache.size >= SQL_CACHE_MAX) sqlCache.delete(sqlCache.keys().next().value!);
  sqlCache.set(text, pred);
  return pred;
}
