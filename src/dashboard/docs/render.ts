/**
 * The reference page's pieces as DOM (built with the dashboard's h(): text is always text): a
 * JSON Schema as a table of fields with nested types folded below, an operation, a method badge.
 */
import { add, h, type Child } from '../dom';
import { constraints, hasStructure, resolveSchema, typeLabel, type Endpoint, type OpenApiDoc, type Response, type Schema } from './openapi';

/** Prose with `code` spans. */
export function inline(text: string | undefined): Child[] {
  if (!text) return [];
  return text.split(/`([^`]+)`/).map((part, i) => (i % 2 ? h('code', null, part) : part));
}

export const schemaId = (name: string) => `schema-${name}`;
const refLink = (name: string) => h('a', { class: 'schema-ref', href: `#${schemaId(name)}` }, name);

/** The type of a value, with links to named schemas: "array of MessageInput". */
function typeNode(doc: OpenApiDoc, s: Schema | boolean | undefined): Child {
  if (s && s !== true && s.$ref) return refLink(resolveSchema(doc, s).name ?? 'object');
  if (s && s !== true && s.items?.$ref && (s.type === 'array' || !s.type)) {
    return [h('span', { class: 'type' }, 'array of '), refLink(resolveSchema(doc, s.items).name ?? 'object')];
  }
  return h('span', { class: 'type' }, typeLabel(doc, s));
}

const limits = (s: Schema) => constraints(s).map((c) => h('span', { class: 'limit' }, c));

export interface SchemaOpts {
  depth?: number;
  /** named schemas being shown around this one: a reference back to one of them is a link, not a loop */
  ancestors?: string[];
  /** leave out the type line of an unnamed schema with nothing more to say (its field's row or title already says it) */
  bare?: boolean;
}

/**
 * A schema as a reader wants it: what it is (its name, type, limits and description), then its
 * fields as a table (name, required, type, limits, description), each field's own structure
 * folded below it; alternatives (anyOf / oneOf) as a numbered list.
 */
export function schemaView(doc: OpenApiDoc, s: Schema | boolean | undefined, opts: SchemaOpts = {}): HTMLElement {
  const depth = opts.depth ?? 0;
  const ancestors = opts.ancestors ?? [];
  if (s === undefined || typeof s === 'boolean') return h('div', { class: 'schema' }, h('span', { class: 'type' }, typeLabel(doc, s)));
  const { schema, name } = resolveSchema(doc, s);
  if (name && ancestors.includes(name)) {
    return h('div', { class: 'schema' }, refLink(name), h('span', { class: 'muted' }, ' (the schema this one is part of)'));
  }
  const chain = name ? [...ancestors, name] : ancestors;
  const label = typeLabel(doc, schema);
  const isObject = !!schema.properties;
  const plain = opts.bare && !name && !schema.description && !constraints(schema).length;
  const head = plain ? null : h('div', { class: 'schema-head' },
    name ? refLink(name) : null,
    !name || !isObject ? h('span', { class: 'type' }, label) : null,
    limits(schema),
    schema.description ? h('span', { class: 'schema-desc' }, inline(schema.description)) : null);
  const el = h('div', { class: 'schema', 'data-schema': name ?? null }, head);

  const alts = schema.anyOf ?? schema.oneOf;
  if (alts?.length) {
    el.append(h('div', { class: 'alts' },
      h('div', { class: 'alts-label' }, schema.oneOf ? 'Exactly one of:' : 'One of:'),
      h('ol', null, alts.map((a) => h('li', null, schemaView(doc, a, { depth: depth + 1, ancestors: chain }))))));
  }
  if (schema.allOf?.length) {
    el.append(h('div', { class: 'alts' },
      h('div', { class: 'alts-label' }, 'All of:'),
      h('ol', null, schema.allOf.map((a) => h('li', null, schemaView(doc, a, { depth: depth + 1, ancestors: chain }))))));
  }
  if (isObject) el.append(fields(doc, schema, depth, chain));
  if (schema.items && typeof schema.items === 'object' && hasStructure(doc, schema.items)) {
    el.append(h('div', { class: 'items' }, h('div', { class: 'alts-label' }, 'Each item:'), schemaView(doc, schema.items, { depth: depth + 1, ancestors: chain })));
  }
  if (!isObject && schema.additionalProperties && typeof schema.additionalProperties === 'object' && hasStructure(doc, schema.additionalProperties)) {
    el.append(h('div', { class: 'items' }, h('div', { class: 'alts-label' }, 'Each value:'),
      schemaView(doc, schema.additionalProperties, { depth: depth + 1, ancestors: chain })));
  }
  return el;
}

function fields(doc: OpenApiDoc, schema: Schema, depth: number, chain: string[]): HTMLElement {
  const required = new Set(schema.required ?? []);
  const rows: HTMLElement[] = [];
  for (const [key, p] of Object.entries(schema.properties ?? {})) {
    const ps = resolveSchema(doc, p).schema;
    rows.push(h('tr', { 'data-field': key },
      h('td', { class: 'prop-name' }, h('code', null, key), required.has(key) ? h('span', { class: 'req' }, 'required') : null),
      h('td', { class: 'prop-type' }, typeNode(doc, p)),
      h('td', { class: 'prop-desc' }, limits(ps), inline(p.description ?? ps.description))));
    if (hasStructure(doc, p) && depth < 6) {
      rows.push(h('tr', { class: 'nested' }, h('td', { colspan: 3 },
        h('details', { class: 'fold', open: depth === 0 },
          h('summary', null, `${key}: ${typeLabel(doc, p)}`),
          schemaView(doc, p, { depth: depth + 1, ancestors: chain, bare: true })))));
    }
  }
  const table = h('table', { class: 'fields' },
    h('thead', null, h('tr', null, h('th', null, 'Field'), h('th', null, 'Type'), h('th', null, 'Limits and meaning'))),
    h('tbody', null, rows));
  const closed = schema.additionalProperties === false;
  const extra = schema.additionalProperties && typeof schema.additionalProperties === 'object'
    ? h('p', { class: 'note' }, 'Other fields: ', typeNode(doc, schema.additionalProperties), '.') : null;
  return h('div', { class: 'fields-wrap' }, table,
    closed ? h('p', { class: 'note' }, 'No other fields are accepted.') : extra);
}

/** A schema's outline on one line: {"error": {"code": string, "message": string}}. */
export function shape(doc: OpenApiDoc, s: Schema | boolean | undefined, depth = 0): string {
  if (!s || s === true || depth > 3) return typeLabel(doc, s);
  const r = resolveSchema(doc, s).schema;
  if (!r.properties) return typeLabel(doc, r);
  return `{${Object.entries(r.properties).map(([k, v]) => `${JSON.stringify(k)}: ${shape(doc, v, depth + 1)}`).join(', ')}}`;
}

export const methodBadge = (method: string) => h('span', { class: `method method-${method}` }, method.toUpperCase());

/** A path with its {parameters} marked. */
export function pathNode(path: string): HTMLElement {
  return h('code', { class: 'op-path' }, path.split(/(\{[^}]+\})/).map((part, i) => (i % 2 ? h('span', { class: 'path-param' }, part) : part)));
}

const STATUS: Record<string, string> = {
  200: 'OK', 201: 'Created', 202: 'Accepted', 204: 'No content', 400: 'Bad request', 401: 'Unauthorized', 403: 'Forbidden',
  404: 'Not found', 409: 'Conflict', 413: 'Too large', 429: 'Too many requests', 500: 'Internal error', 503: 'Overloaded',
};

const mediaSchemas = (doc: OpenApiDoc, content: Record<string, { schema?: Schema }> | undefined, depth = 0) =>
  Object.entries(content ?? {}).map(([type, m]) => h('div', { class: 'media' },
    h('div', { class: 'media-type' }, h('code', null, type)),
    m.schema ? schemaView(doc, m.schema, { depth }) : h('span', { class: 'muted' }, 'any content')));

/** The name of a response's only JSON schema, if it is a named one (the shared Error shape, for one). */
function sharedRef(doc: OpenApiDoc, r: Response): string | null {
  const types = Object.keys(r.content ?? {});
  const s = r.content?.['application/json']?.schema;
  return types.length === 1 && s?.$ref ? resolveSchema(doc, s).name ?? null : null;
}

/** One operation: method and path, summary, parameters, request body and responses. */
export function endpointView(doc: OpenApiDoc, e: Endpoint): HTMLElement {
  const { op } = e;
  const section = h('section', { class: 'op', id: e.id, 'data-op': `${e.method.toUpperCase()} ${e.path}` },
    h('div', { class: 'op-head' }, methodBadge(e.method), pathNode(e.path), op.deprecated ? h('span', { class: 'badge' }, 'deprecated') : null,
      h('a', { class: 'op-anchor', href: `#${e.id}`, title: 'link to this endpoint' }, '#')),
    op.summary ? h('p', { class: 'op-summary' }, inline(op.summary)) : null,
    op.description ? h('p', { class: 'op-desc' }, inline(op.description)) : null);

  if (e.parameters.length) {
    section.append(h('h3', null, 'Parameters'), h('table', { class: 'fields params' },
      h('thead', null, h('tr', null, h('th', null, 'Name'), h('th', null, 'In'), h('th', null, 'Type'), h('th', null, 'Limits and meaning'))),
      h('tbody', null, e.parameters.map((p) => {
        const ps = p.schema ? resolveSchema(doc, p.schema).schema : undefined;
        return h('tr', { 'data-param': p.name },
          h('td', { class: 'prop-name' }, h('code', null, p.name), p.required ? h('span', { class: 'req' }, 'required') : null),
          h('td', null, p.in),
          h('td', { class: 'prop-type' }, typeNode(doc, p.schema)),
          h('td', { class: 'prop-desc' }, ps ? limits(ps) : null, inline(p.description ?? ps?.description)));
      }))));
  }

  if (e.requestBody) {
    const b = e.requestBody;
    add(section, h('h3', null, 'Request body', b.required ? null : h('span', { class: 'muted' }, ' (optional)')),
      b.description ? h('p', null, inline(b.description)) : null,
      h('div', { class: 'request-body' }, mediaSchemas(doc, b.content)));
  }

  // responses: each success in full; errors that share one schema (the API's Error) on one line
  const ok = e.responses.filter(([s]) => !/^[45]/.test(s));
  const errors = e.responses.filter(([s]) => /^[45]/.test(s));
  const byShape = new Map<string, string[]>();
  const other: [string, Response][] = [];
  for (const [s, r] of errors) {
    const name = sharedRef(doc, r);
    if (name) byShape.set(name, [...(byShape.get(name) ?? []), s]); else other.push([s, r]);
  }
  section.append(h('h3', null, 'Responses'), h('div', { class: 'responses' },
    [...ok, ...other].map(([status, r]) => h('div', { class: 'resp', 'data-status': status },
      h('div', { class: 'resp-head' }, h('span', { class: `status status-${status[0]}xx` }, status), ' ',
        h('span', null, inline(r.description ?? STATUS[status] ?? ''))),
      r.content ? mediaSchemas(doc, r.content, 1) : h('span', { class: 'muted small' }, 'no body'))),
    [...byShape].map(([name, statuses]) => h('div', { class: 'resp resp-errors', 'data-status': statuses.join(' ') },
      h('div', { class: 'resp-head' },
        statuses.map((s) => [h('span', { class: `status status-${s[0]}xx`, title: STATUS[s] ?? '' }, s), ' ']),
        h('span', null, 'errors, as ', refLink(name), ' ', h('code', null, shape(doc, { $ref: `#/components/schemas/${name}` })),
          ' (see ', h('a', { href: '#errors' }, 'Errors'), ')'))))));
  return section;
}
