/**
 * The API reference at /docs: the server's own OpenAPI document (/v1/openapi.json) rendered as a
 * page, endpoints grouped by tag, with their parameters, request body schemas, responses and the
 * error shape. It reads the document with the dashboard's token (same storage key), and asks for
 * one when the server answers 401. Static files, like the dashboard: see docs/dashboard.md.
 */
import '../style.css';
import './docs.css';
import { ApiError, call, tokenStore } from '../api';
import { alert, errorText, fill, h } from '../dom';
import { loginForm } from '../login';
import { endpointsByTag, type Endpoint, type OpenApiDoc, type Schema } from './openapi';
import { endpointView, inline, methodBadge, schemaId, schemaView } from './render';

const app = document.getElementById('app')!;

/** What each tag of edgemq's API is about (a document's own tag descriptions win). */
const TAG_NOTES: Record<string, string> = {
  system: 'Liveness and this document.',
  topics: 'Topics and their queues: create, configure, delete.',
  messages: 'Produce (one message, a batch, or a raw body) and recall scheduled messages.',
  transactions: 'Half messages: stored invisible, then committed or rolled back (or decided by the check-back).',
  consume: 'Pull (receive, ack, nack, change invisibility) and push over a WebSocket.',
  groups: 'Consumer groups: configuration, subscriptions, consumers, lag and offsets.',
  query: 'Find messages by key, position or time; a message with its status per group; its trace; resend.',
  dlq: 'Dead letters of a group, and resending them.',
  tokens: 'Tokens with PUB / SUB / ADMIN permissions on topics and groups.',
  cluster: 'The brokers of the cluster, and per-minute statistics.',
};

/** The meaning of the API's error codes (API.md, Conventions). */
const ERROR_CODES: [string, string][] = [
  ['400', 'BAD_REQUEST (malformed JSON, a wrong type, an unknown enum value or an out-of-range number: the message names the field), INVALID_NAME, INVALID_FILTER, MESSAGE_TYPE_MISMATCH, INVALID_RECEIPT_HANDLE'],
  ['401', 'UNAUTHORIZED: no token, or a wrong one'],
  ['403', 'FORBIDDEN: the token lacks the permission (PUB on the topic to produce, SUB on topic and group to consume, ADMIN for the rest)'],
  ['404', 'TOPIC_NOT_FOUND, GROUP_NOT_FOUND, MESSAGE_NOT_FOUND, TRANSACTION_NOT_FOUND'],
  ['409', 'TOPIC_EXISTS, TRANSACTION_RESOLVED, and a recall of a message that is not a scheduled one still waiting'],
  ['413', 'MESSAGE_TOO_LARGE, BATCH_TOO_LARGE'],
  ['429, 503', 'OVERLOADED: retry after the Retry-After header'],
  ['500', 'INTERNAL: logged on the server'],
];

const title = (tag: string) => tag.charAt(0).toUpperCase() + tag.slice(1);

function render(doc: OpenApiDoc, usingToken: boolean): void {
  const groups = endpointsByTag(doc);
  const all: Endpoint[] = [...groups.values()].flat();
  const schemas = (doc.components?.schemas ?? {}) as Record<string, Schema>;
  const tagNote = (tag: string) => doc.tags?.find((t) => t.name === tag)?.description ?? TAG_NOTES[tag];
  document.title = `${doc.info.title} ${doc.info.version}: API reference`;

  // the sidebar: a filter, then every endpoint by tag
  const filter = h('input', { type: 'search', class: 'toc-filter', placeholder: 'Filter endpoints', 'aria-label': 'Filter endpoints', 'data-testid': 'filter' });
  const toc = h('nav', { class: 'toc' }, [...groups].map(([tag, list]) => h('div', { class: 'toc-group', 'data-tag': tag },
    h('a', { class: 'toc-tag', href: `#tag-${tag}` }, title(tag)),
    list.map((e) => h('a', { class: 'toc-op', href: `#${e.id}`, 'data-for': e.id, title: `${e.method.toUpperCase()} ${e.path}` },
      methodBadge(e.method), h('span', { class: 'toc-path' }, e.path.replace(/^\/v1/, '')))))));
  const forget = usingToken
    ? h('div', { class: 'who' }, h('span', null, 'Read with your saved token'),
      h('button', { class: 'link-button', type: 'button', onclick: () => { tokenStore.clear(); location.reload(); } }, 'Forget it'))
    : null;
  const sidebar = h('aside', { class: 'sidebar docs-sidebar' },
    h('a', { class: 'brand', href: '#top' }, h('span', { class: 'logo' }, 'e'), 'edgemq API'),
    filter, toc,
    h('div', { class: 'toc-links' }, h('a', { href: '/dashboard' }, 'Dashboard'), h('a', { href: '#schemas' }, 'Schemas'), h('a', { href: '#errors' }, 'Errors')),
    forget);

  const noMatch = h('div', { class: 'empty', hidden: true }, 'No endpoint matches the filter.');
  const sections = [...groups].map(([tag, list]) => h('section', { class: 'tag', id: `tag-${tag}`, 'data-tag': tag },
    h('h2', null, title(tag), h('span', { class: 'muted small' }, `${list.length} endpoint${list.length === 1 ? '' : 's'}`)),
    tagNote(tag) ? h('p', { class: 'tag-note' }, inline(tagNote(tag))) : null,
    list.map((e) => endpointView(doc, e))));

  const base = `${location.origin}${(doc.servers?.[0]?.url ?? '/').replace(/\/$/, '')}`;
  const errorSchema = schemas.Error ? schemaView(doc, { $ref: '#/components/schemas/Error' }) : null;
  const intro = h('div', { class: 'panel intro' },
    h('dl', { class: 'kv' },
      h('dt', null, 'Base URL'), h('dd', null, h('code', null, base)),
      h('dt', null, 'Authentication'), h('dd', null, 'Send ', h('code', null, 'Authorization: Bearer <token>'),
        ' (WebSocket clients may pass ', h('code', null, '?token='), ' instead). Tokens are issued with ', h('code', null, 'POST /v1/tokens'), '.'),
      h('dt', null, 'Content'), h('dd', null, 'JSON in and out (', h('code', null, 'application/json; charset=utf-8'),
        '). Times are epoch milliseconds; durations are milliseconds, in fields ending in ', h('code', null, 'Ms'), '.'),
      h('dt', null, 'This document'), h('dd', null, h('a', { href: '/v1/openapi.json' }, '/v1/openapi.json'), ` (OpenAPI ${doc.openapi}, ${all.length} endpoints)`)));

  const errors = h('section', { class: 'panel', id: 'errors' },
    h('h2', null, 'Errors'),
    h('p', null, 'Every error is the HTTP status and one JSON shape; the message is a sentence a person can act on. A rejected request changes nothing.'),
    errorSchema,
    h('table', { class: 'fields codes' }, h('thead', null, h('tr', null, h('th', null, 'Status'), h('th', null, 'Codes'))),
      h('tbody', null, ERROR_CODES.map(([s, text]) => h('tr', null, h('td', null, h('code', null, s)), h('td', null, text))))));

  const schemaList = h('section', { class: 'schemas', id: 'schemas' },
    h('h2', null, 'Schemas'),
    Object.entries(schemas).map(([name, s]) => h('div', { class: 'panel schema-def', id: schemaId(name) },
      h('h3', { class: 'schema-title' }, name), schemaView(doc, s, { ancestors: [name], bare: true }))));

  const main = h('main', { class: 'page docs-page', id: 'top' },
    h('div', { class: 'title-row' }, h('h1', null, doc.info.title), h('span', { class: 'badge' }, `v${doc.info.version}`)),
    doc.info.description ? h('p', { class: 'lead' }, inline(doc.info.description)) : null,
    intro, errors, noMatch, sections, schemaList);

  fill(app, h('div', { class: 'layout docs' }, sidebar, h('div', { class: 'content' }, main)));

  filter.addEventListener('input', () => {
    const words = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
    let shown = 0;
    for (const e of all) {
      const text = `${e.method} ${e.path} ${e.op.summary ?? ''} ${e.tag}`.toLowerCase();
      const hit = words.every((w) => text.includes(w));
      if (hit) shown++;
      document.getElementById(e.id)!.hidden = !hit;
      (toc.querySelector(`[data-for="${e.id}"]`) as HTMLElement).hidden = !hit;
    }
    for (const [tag, list] of groups) {
      const none = list.every((e) => document.getElementById(e.id)!.hidden);
      (main.querySelector(`section.tag[data-tag="${tag}"]`) as HTMLElement).hidden = none;
      (toc.querySelector(`.toc-group[data-tag="${tag}"]`) as HTMLElement).hidden = none;
    }
    noMatch.hidden = shown > 0;
    errors.hidden = schemaList.hidden = intro.hidden = words.length > 0;
  });

  // a link to an endpoint or schema (/docs#op-post-...) works once the page is built
  if (location.hash.length > 1) document.getElementById(decodeURIComponent(location.hash.slice(1)))?.scrollIntoView();
}

/** The token box: the server said 401. */
function askToken(reason: string): void {
  const { form, input } = loginForm({
    brand: 'edgemq API reference', title: 'A token, please', button: 'Show the reference', testid: 'token-form',
    refused: 'The server refused the token',
    intro: 'This server reads its API description only to holders of a token: the admin token (ADMIN_TOKEN) or one issued with POST /v1/tokens. The dashboard\'s sign-in works here too.',
    notice: alert('info', inline(reason)),
    check: (token) => call<OpenApiDoc>('GET', '/v1/openapi.json', undefined, { token, quiet401: true }),
    done: (doc) => render(doc, true),
  });
  fill(app, h('div', { class: 'login' }, form));
  input.focus();
}

async function boot(): Promise<void> {
  const saved = tokenStore.get();
  try {
    const doc = await call<OpenApiDoc>('GET', '/v1/openapi.json', undefined, { quiet401: true });
    render(doc, !!saved);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      if (saved) tokenStore.clear();
      askToken(saved ? `The saved token was refused: ${e.message}` : e.message);
      return;
    }
    fill(app, h('div', { class: 'login' }, h('div', { class: 'login-card' }, h('h1', null, 'edgemq API reference'),
      alert('error', `Could not read /v1/openapi.json: ${errorText(e)}`),
      h('button', { type: 'button', onclick: () => location.reload() }, 'Try again'))));
  }
}

void boot();
