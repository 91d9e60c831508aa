/** A tiny DOM toolkit: h() builds elements (text is always text, never HTML), plus formatters and widgets. */
import { ApiError } from './api';

export type Child = Node | string | number | null | undefined | false | Child[];
export type Attrs = Record<string, unknown>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs?: Attrs | null, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v as EventListener);
    else if (k === 'class') el.className = String(v);
    else if (k === 'value' || k === 'checked' || k === 'disabled' || k === 'selected' || k === 'open') (el as unknown as Record<string, unknown>)[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

/** Appends children (nulls and falses are skipped). */
export function add(el: Node, ...children: Child[]): void { append(el, children); }

function append(el: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces an element's content. */
export function fill(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

// ---- formatting ---------------------------------------------------------------------------

export const num = (n: number | null | undefined) => (n === null || n === undefined ? '—' : n.toLocaleString('en-US'));
export const rate = (n: number) => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));

export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '—';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0, v = n;
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return `${i ? v.toFixed(v >= 100 ? 0 : 1) : v} ${u[i]}`;
}

const pad = (n: number) => String(n).padStart(2, '0');
/** Local time, to the second: 2025-11-21 15:10:57 */
export function time(ms: number | null | undefined): string {
  if (!ms) return '—';
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function duration(ms: number): string {
  const a = Math.abs(ms);
  if (a < 1000) return `${Math.round(ms)} ms`;
  if (a < 60_000) return `${(ms / 1000).toFixed(a < 10_000 ? 1 : 0)} s`;
  if (a < 3_600_000) return `${Math.round(ms / 60_000)} min`;
  if (a < 172_800_000) return `${(ms / 3_600_000).toFixed(a < 36_000_000 ? 1 : 0)} h`;
  return `${Math.round(ms / 86_400_000)} d`;
}

/** A card value for a point in time: the date, with the time below. */
export const dateCard = (label: string, ms: number) => card(label, time(ms).slice(0, 10), time(ms).slice(11));

export function ago(ms: number | null | undefined): string {
  if (!ms) return '—';
  const d = Date.now() - ms;
  return d < 0 ? `in ${duration(-d)}` : d < 1500 ? 'just now' : `${duration(d)} ago`;
}

/** A time cell: relative, with the exact time on hover. */
export const when = (ms: number | null | undefined) => h('span', { title: time(ms) }, ago(ms));

/** For <input type="datetime-local">: local time without zone, and back to epoch ms. */
export function toLocalInput(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
export function fromLocalInput(v: string): number | null {
  if (!v) return null;
  const t = new Date(v).getTime();
  return Number.isFinite(t) ? t : null;
}

// ---- widgets ------------------------------------------------------------------------------

export const link = (href: string, ...children: Child[]) => h('a', { href }, ...children);

export function badge(text: string, kind = text.toLowerCase()): HTMLElement {
  return h('span', { class: `badge badge-${kind.replace(/[^a-z0-9_-]/gi, '_')}` }, text);
}

/** The API's own error message (it says what to do), with its code. */
export function errorText(e: unknown): string {
  if (e instanceof ApiError) return `${e.message} (${e.code}${e.status ? `, HTTP ${e.status}` : ''})`;
  return e instanceof Error ? e.message : String(e);
}

export function alert(kind: 'error' | 'ok' | 'info' | 'warn', ...children: Child[]): HTMLElement {
  return h('div', { class: `alert alert-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, ...children);
}
export const errorBox = (e: unknown) => alert('error', errorText(e));

/** An empty state: what is missing, and what to try. */
export function empty(title: string, ...hint: Child[]): HTMLElement {
  return h('div', { class: 'empty', 'data-testid': 'empty' }, h('strong', null, title), hint.length ? h('p', null, ...hint) : null);
}

/** A figure: big when it is a number, smaller when it is text. */
export function card(label: string, value: Child, sub?: Child): HTMLElement {
  const text = typeof value === 'string' && !/^[\d.,]+( ?[A-Za-z]{1,3}|\/s)?$/.test(value);
  return h('div', { class: 'card' }, h('div', { class: 'card-label' }, label), h('div', { class: text ? 'card-value text' : 'card-value' }, value), sub ? h('div', { class: 'card-sub' }, sub) : null);
}

export function panel(title: Child, ...body: Child[]): HTMLElement {
  return h('section', { class: 'panel' }, h('h2', null, title), ...body);
}

export interface Column<T> { label: string; cell: (row: T) => Child; class?: string }
export function table<T>(cols: Column<T>[], rows: T[], attrs: Attrs = {}): HTMLElement {
  return h('div', { class: 'table-wrap' }, h('table', attrs,
    h('thead', null, h('tr', null, cols.map((c) => h('th', { class: c.class }, c.label)))),
    h('tbody', null, rows.map((r) => h('tr', null, cols.map((c) => h('td', { class: c.class }, c.cell(r))))))));
}

/** A labelled form field. */
export function field(label: string, control: HTMLElement, hint?: string): HTMLElement {
  return h('label', { class: 'field' }, h('span', { class: 'field-label' }, label), control, hint ? h('span', { class: 'field-hint' }, hint) : null);
}

export function select(name: string, options: (string | [string, string])[], value?: string, attrs: Attrs = {}): HTMLSelectElement {
  return h('select', { name, ...attrs }, options.map((o) => {
    const [v, l] = Array.isArray(o) ? o : [o, o];
    return h('option', { value: v, selected: v === value }, l);
  }));
}

/**
 * Runs an action from a button or form: disables the button while it runs, and shows the result
 * (or the API's error message) in `out`.
 */
export async function run(btn: HTMLButtonElement | null, out: HTMLElement, f: () => Promise<Child | void>): Promise<boolean> {
  if (btn) btn.disabled = true;
  out.replaceChildren(h('span', { class: 'muted' }, 'Working…'));
  try {
    const r = await f();
    fill(out, r ?? null);
    return true;
  } catch (e) {
    fill(out, errorBox(e));
    return false;
  } finally {
    if (btn) btn.disabled = false;
  }
}

/** The body of a message as readable text. */
export function bodyText(body: unknown, encoding: string): { text: string; note?: string } {
  if (encoding === 'json') return { text: JSON.stringify(body, null, 2) };
  if (encoding === 'base64' && typeof body === 'string') {
    try {
      const bin = atob(body);
      const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
      const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
      return { text, note: `binary (${bytes.length} bytes), shown as UTF-8` };
    } catch {
      return { text: body, note: 'binary, shown as base64' };
    }
  }
  return { text: typeof body === 'string' ? body : JSON.stringify(body) };
}

export function preview(body: unknown, encoding: string, max = 80): string {
  const t = bodyText(body, encoding).text.replace(/\s+/g, ' ');
  return t.length > max ? `${t.slice(0, max)}…` : t;
}
