/**
 * The parts of an OpenAPI 3.1 document the reference page reads, and how it reads them: $ref
 * resolution, operations grouped by tag, and a JSON Schema said in a few words ("array of
 * string", "1..64", "map of string → string"). No DOM here: see render.ts.
 */

export interface Schema {
  $ref?: string;
  type?: string | string[];
  format?: string;
  description?: string;
  title?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  items?: Schema;
  prefixItems?: Schema[];
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  nullable?: boolean;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number | boolean;
  exclusiveMaximum?: number | boolean;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  minProperties?: number;
  maxProperties?: number;
  pattern?: string;
  deprecated?: boolean;
  discriminator?: { propertyName: string };
}

export interface Parameter { name: string; in: string; required?: boolean; description?: string; schema?: Schema; deprecated?: boolean }
export interface Ref { $ref: string }
export interface MediaType { schema?: Schema }
export interface RequestBody { description?: string; required?: boolean; content?: Record<string, MediaType> }
export interface Response { description?: string; content?: Record<string, MediaType> }

export interface Operation {
  summary?: string;
  description?: string;
  operationId?: string;
  tags?: string[];
  deprecated?: boolean;
  parameters?: (Parameter | Ref)[];
  requestBody?: RequestBody | Ref;
  responses?: Record<string, Response | Ref>;
}

export interface OpenApiDoc {
  openapi: string;
  info: { title: string; version: string; description?: string };
  servers?: { url: string }[];
  tags?: { name: string; description?: string }[];
  paths?: Record<string, Record<string, unknown>>;
  components?: Record<string, Record<string, unknown> | undefined>;
}

export const METHODS = ['get', 'put', 'post', 'patch', 'delete', 'head', 'options', 'trace'] as const;

/** One operation, with its path-level parameters merged in and every $ref of its own resolved. */
export interface Endpoint {
  method: string;
  path: string;
  tag: string;
  op: Operation;
  parameters: Parameter[];
  requestBody?: RequestBody;
  responses: [string, Response][];
  /** an id for links: op-post-v1-topics-topic-messages */
  id: string;
}

const isRef = (v: unknown): v is Ref => !!v && typeof v === 'object' && typeof (v as Ref).$ref === 'string';

/** Follows a local reference (#/components/schemas/Name); null if it points nowhere. */
export function pointer(doc: OpenApiDoc, ref: string): unknown {
  if (!ref.startsWith('#/')) return null;
  let at: unknown = doc;
  for (const raw of ref.slice(2).split('/')) {
    const key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    if (!at || typeof at !== 'object' || !(key in at)) return null;
    at = (at as Record<string, unknown>)[key];
  }
  return at;
}

/** The name a $ref gives its target: "#/components/schemas/MessageInput" → "MessageInput". */
export const refName = (ref: string) => decodeURIComponent(ref.slice(ref.lastIndexOf('/') + 1));

/** A $ref'd object (a parameter, body, response), followed (also through chains); the object itself otherwise. */
export function deref<T>(doc: OpenApiDoc, v: T | Ref): T | null {
  let cur: unknown = v;
  for (let i = 0; i < 20 && isRef(cur); i++) cur = pointer(doc, cur.$ref);
  return isRef(cur) ? null : (cur as T | null);
}

/** A schema with its $ref followed: the target, and the name of the first reference on the way. */
export function resolveSchema(doc: OpenApiDoc, s: Schema): { schema: Schema; name?: string } {
  let cur = s;
  let name: string | undefined;
  for (let i = 0; i < 20 && cur.$ref; i++) {
    name ??= refName(cur.$ref);
    const next = pointer(doc, cur.$ref) as Schema | null;
    if (!next || typeof next !== 'object') return { schema: { description: `unresolved reference ${cur.$ref}` }, name };
    // sibling keywords of a $ref (3.1 allows a description next to it) win over the target's
    const { $ref: _, ...rest } = cur;
    cur = { ...next, ...rest };
  }
  return { schema: cur, name };
}

const slug = (s: string) => s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');

/** Every operation of the document, grouped by its first tag in the order tags first appear (or doc.tags order). */
export function endpointsByTag(doc: OpenApiDoc): Map<string, Endpoint[]> {
  const groups = new Map<string, Endpoint[]>();
  for (const t of doc.tags ?? []) groups.set(t.name, []);
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    if (!item || typeof item !== 'object') continue;
    const shared = ((item as { parameters?: (Parameter | Ref)[] }).parameters ?? []).map((p) => deref(doc, p)).filter((p): p is Parameter => !!p);
    for (const method of METHODS) {
      const op = (item as Record<string, Operation | undefined>)[method];
      if (!op || typeof op !== 'object') continue;
      const own = (op.parameters ?? []).map((p) => deref(doc, p)).filter((p): p is Parameter => !!p);
      // an operation's parameter overrides a path-level one of the same name and place
      const parameters = [...shared.filter((s) => !own.some((o) => o.name === s.name && o.in === s.in)), ...own];
      const responses = Object.entries(op.responses ?? {})
        .map(([status, r]) => [status, deref(doc, r)] as [string, Response | null])
        .filter((e): e is [string, Response] => !!e[1])
        .sort(([a], [b]) => a.localeCompare(b));
      const tag = op.tags?.[0] ?? 'other';
      const list = groups.get(tag) ?? [];
      list.push({
        method, path, tag, op, parameters, responses,
        requestBody: op.requestBody ? deref(doc, op.requestBody) ?? undefined : undefined,
        id: `op-${method}-${slug(path)}`,
      });
      groups.set(tag, list);
    }
  }
  for (const [tag, list] of groups) if (!list.length) groups.delete(tag);
  return groups;
}

const lit = (v: unknown) => JSON.stringify(v);

/** What a value of this schema is, in a few words: "string", "integer | null", "array of MessageInput", "\"a\" | \"b\"". */
export function typeLabel(doc: OpenApiDoc, s: Schema | boolean | undefined, depth = 0): string {
  if (s === undefined || s === true) return 'any';
  if (s === false) return 'nothing';
  if (depth > 6) return '…';
  if (s.$ref) return resolveSchema(doc, s).name ?? 'object';
  if (s.const !== undefined) return lit(s.const);
  if (s.enum) return s.enum.map(lit).join(' | ');
  const alts = s.anyOf ?? s.oneOf;
  if (alts) return alts.map((a) => typeLabel(doc, a, depth + 1)).join(' | ');
  if (s.allOf) return s.allOf.map((a) => typeLabel(doc, a, depth + 1)).join(' & ');
  const types = Array.isArray(s.type) ? s.type : s.type ? [s.type] : [];
  // an object defined in place: its fields, and the value of a fixed one ({type: "EXPONENTIAL", initialMs, …})
  if (s.properties && (!types.length || (types.length === 1 && types[0] === 'object'))) {
    const keys = Object.entries(s.properties).map(([k, p]) => {
      const fixed = p.const !== undefined ? p.const : p.enum?.length === 1 ? p.enum[0] : undefined;
      return fixed === undefined ? k : `${k}: ${lit(fixed)}`;
    });
    if (!keys.length) return 'object';
    return `{${keys.slice(0, 4).join(', ')}${keys.length > 4 ? ', …' : ''}}`;
  }
  if (!types.length) {
    if (s.items) return `array of ${typeLabel(doc, s.items, depth + 1)}`;
    return 'any';
  }
  const one = (t: string): string => {
    if (t === 'array') return s.items ? `array of ${typeLabel(doc, s.items, depth + 1)}` : 'array';
    if (t === 'object' && !s.properties && s.additionalProperties && typeof s.additionalProperties === 'object') {
      return `map of string → ${typeLabel(doc, s.additionalProperties, depth + 1)}`;
    }
    if (t === 'string' && s.format) return `string (${s.format})`;
    return t;
  };
  const label = types.map(one).join(' | ');
  return s.nullable ? `${label} | null` : label;
}

/** The limits a schema puts on its value, one phrase each: "1..64", "≤ 128 characters", "default 4". */
export function constraints(s: Schema): string[] {
  const out: string[] = [];
  const num = (n: number) => (Math.abs(n) >= 1e6 && Number.isInteger(n) ? n.toLocaleString('en-US') : String(n));
  const lo = typeof s.exclusiveMinimum === 'number' ? `> ${num(s.exclusiveMinimum)}` : s.minimum !== undefined ? num(s.minimum) : null;
  const hi = typeof s.exclusiveMaximum === 'number' ? `< ${num(s.exclusiveMaximum)}` : s.maximum !== undefined ? num(s.maximum) : null;
  // the full safe-integer range says nothing to a reader
  const big = (v: number | undefined) => v !== undefined && v >= Number.MAX_SAFE_INTEGER;
  if (lo !== null && hi !== null && !lo.startsWith('>') && !hi.startsWith('<') && !big(s.maximum)) out.push(`${lo}..${hi}`);
  else {
    if (lo !== null && !(s.minimum === 0 && big(s.maximum))) out.push(lo.startsWith('>') ? lo : `≥ ${lo}`);
    if (hi !== null && !big(s.maximum)) out.push(hi.startsWith('<') ? hi : `≤ ${hi}`);
  }
  const chars = (n: number) => `${n} character${n === 1 ? '' : 's'}`;
  if (s.minLength !== undefined && s.maxLength !== undefined) out.push(s.minLength === s.maxLength ? chars(s.minLength) : `${s.minLength}..${chars(s.maxLength)}`);
  else if (s.maxLength !== undefined) out.push(`≤ ${chars(s.maxLength)}`);
  else if (s.minLength !== undefined && s.minLength > 0) out.push(`≥ ${chars(s.minLength)}`);
  const items = (n: number) => `${n} item${n === 1 ? '' : 's'}`;
  if (s.minItems !== undefined && s.maxItems !== undefined) out.push(`${s.minItems}..${items(s.maxItems)}`);
  else if (s.maxItems !== undefined) out.push(`≤ ${items(s.maxItems)}`);
  else if (s.minItems !== undefined && s.minItems > 0) out.push(`≥ ${items(s.minItems)}`);
  if (s.maxProperties !== undefined) out.push(`≤ ${s.maxProperties} entries`);
  if (s.pattern) out.push(`pattern ${s.pattern}`);
  if (s.format && !(s.type === 'string' || (Array.isArray(s.type) && s.type.includes('string')))) out.push(`format ${s.format}`);
  if (s.default !== undefined) out.push(`default ${lit(s.default)}`);
  if (s.deprecated) out.push('deprecated');
  return out;
}

/** True when a schema has structure worth showing below its one-line label (fields or alternatives). */
export function hasStructure(doc: OpenApiDoc, s: Schema | boolean | undefined, depth = 0): boolean {
  if (!s || s === true || depth > 8) return false;
  const r = resolveSchema(doc, s).schema;
  if (r.properties && Object.keys(r.properties).length) return true;
  if (r.items && typeof r.items === 'object') return hasStructure(doc, r.items, depth + 1);
  if (r.additionalProperties && typeof r.additionalProperties === 'object') return hasStructure(doc, r.additionalProperties, depth + 1);
  const alts = r.anyOf ?? r.oneOf ?? r.allOf;
  return !!alts?.some((a) => hasStructure(doc, a, depth + 1) || !!a.$ref);
}
