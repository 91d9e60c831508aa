/**
 * The edgemq dashboard: a hash-routed single page (/dashboard#/topics/orders) over the /v1 API,
 * with the token the user typed. No framework: each page is a function that fills its element
 * and registers its timers and charts for cleanup when the user navigates away.
 */
import './style.css';
import { ApiError, call, onUnauthorized, tokenStore } from './api';
import { alert, errorText, fill, h } from './dom';
import { loginForm } from './login';
import { clusterPage } from './pages/cluster';
import { dlqPage } from './pages/dlq';
import { groupPage, groupsPage } from './pages/groups';
import { messagePage, messagesPage } from './pages/messages';
import { overviewPage } from './pages/overview';
import { topicPage, topicsPage } from './pages/topics';

export interface Ctx {
  /** the page's content */
  root: HTMLElement;
  /** the route's parameters, decoded */
  params: string[];
  /** the query part of the hash (#/messages?topic=t&key=k) */
  query: URLSearchParams;
  /** false once the user has navigated elsewhere: late answers must not touch the page */
  alive(): boolean;
  /** runs f now and then every ms while the page is shown (not while the tab is hidden) */
  every(ms: number, f: () => Promise<void>): void;
  onCleanup(f: () => void): void;
  /** navigates (to a hash like "#/topics/orders") */
  go(hash: string): void;
}
type PageFn = (ctx: Ctx) => Promise<void> | void;

const ROUTES: [RegExp, PageFn, string][] = [
  [/^\/?$/, overviewPage, 'overview'],
  [/^\/cluster$/, clusterPage, 'cluster'],
  [/^\/topics$/, topicsPage, 'topics'],
  [/^\/topics\/([^/]+)$/, topicPage, 'topics'],
  [/^\/groups$/, groupsPage, 'groups'],
  [/^\/groups\/([^/]+)$/, groupPage, 'groups'],
  [/^\/messages$/, messagesPage, 'messages'],
  [/^\/messages\/([^/]+)\/([^/]+)$/, messagePage, 'messages'],
  [/^\/dlq$/, dlqPage, 'dlq'],
  [/^\/dlq\/([^/]+)$/, dlqPage, 'dlq'],
];

const NAV: [string, string, string][] = [
  ['overview', '#/', 'Overview'],
  ['cluster', '#/cluster', 'Cluster'],
  ['topics', '#/topics', 'Topics'],
  ['groups', '#/groups', 'Consumer groups'],
  ['messages', '#/messages', 'Messages'],
  ['dlq', '#/dlq', 'Dead letters'],
  ['docs', '/docs', 'API reference'],
];

const app = document.getElementById('app')!;
let mode: 'open' | 'token' = 'open';
let generation = 0;
let cleanups: (() => void)[] = [];
let loginShown = false;
/** set once the server has answered: routes before that would not know whether to ask for a token */
let booted = false;

function teardown(): void {
  generation++;
  for (const f of cleanups.splice(0)) { try { f(); } catch { /* already gone */ } }
}

function shell(): { page: HTMLElement; status: HTMLElement; nav: HTMLElement } {
  const nav = h('nav', { class: 'nav-links' }, NAV.map(([key, href, label]) => h('a', { href, 'data-nav': key }, label)));
  const who = mode === 'token'
    ? h('div', { class: 'who' }, h('span', null, 'Signed in with a token'),
      h('button', { class: 'link-button', type: 'button', onclick: signOut, 'data-testid': 'sign-out' }, 'Sign out'))
    : h('div', { class: 'who', title: 'the server runs with ALLOW_ANONYMOUS=true (npm start): local development only' }, 'Open server: no token needed');
  const status = h('div', { class: 'page-status' });
  const page = h('main', { class: 'page', id: 'page' });
  fill(app, h('div', { class: 'layout' },
    h('aside', { class: 'sidebar' }, h('a', { class: 'brand', href: '#/' }, h('span', { class: 'logo' }, 'e'), 'edgemq'), nav, who),
    h('div', { class: 'content' }, status, page)));
  return { page, status, nav };
}

let els: ReturnType<typeof shell> | null = null;

async function route(): Promise<void> {
  if (loginShown || !booted) return;
  teardown();
  if (!els) els = shell();
  const my = generation;
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, query = ''] = raw.split('?', 2);
  const found = ROUTES.map(([re, fn, key]) => ({ m: re.exec(path), fn, key })).find((r) => r.m);
  for (const a of els.nav.querySelectorAll('a')) a.classList.toggle('active', a.dataset.nav === found?.key);
  const page = h('div', { class: 'page-inner' });
  fill(els.page, page);
  els.status.replaceChildren();
  if (!found) {
    fill(page, h('h1', null, 'Not found'), alert('info', 'There is no page at ', h('code', null, raw), '. ', h('a', { href: '#/' }, 'Go to the overview'), '.'));
    return;
  }
  const status = els.status;
  const ctx: Ctx = {
    root: page,
    params: found.m!.slice(1).map((p) => decodeURIComponent(p)),
    query: new URLSearchParams(query),
    alive: () => generation === my,
    every(ms, f) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const tick = async () => {
        if (generation !== my) return;
        if (!document.hidden) {
          try {
            await f();
            if (generation === my) status.replaceChildren();
          } catch (e) {
            if (generation === my && !(e instanceof ApiError && e.status === 401)) fill(status, alert('warn', 'Live update failed: ', errorText(e), ' — retrying.'));
          }
        }
        if (generation === my) timer = setTimeout(tick, ms);
      };
      cleanups.push(() => clearTimeout(timer));
      void tick();
    },
    onCleanup(f) { cleanups.push(f); },
    go(hash) { location.hash = hash; },
  };
  try {
    await found.fn(ctx);
  } catch (e) {
    if (ctx.alive() && !(e instanceof ApiError && e.status === 401)) page.append(alert('error', errorText(e)));
  }
  window.scrollTo(0, 0);
}

function signOut(): void {
  tokenStore.clear();
  showLogin(null);
}

function showLogin(reason: string | null): void {
  teardown();
  loginShown = true;
  els = null;
  const { form, input } = loginForm({
    brand: 'edgemq', title: 'Sign in', button: 'Sign in', testid: 'login', refused: 'Sign-in failed',
    intro: 'This server needs a token. Use the admin token (the ADMIN_TOKEN secret) or a token issued with POST /v1/tokens.',
    notice: reason ? alert('error', reason) : null,
    check: (token) => call('GET', '/v1/health', undefined, { token, quiet401: true }),
    done: () => {
      mode = 'token';
      loginShown = false;
      booted = true;
      void route();
    },
  });
  fill(app, h('div', { class: 'login' }, form));
  input.focus();
}

onUnauthorized((e) => {
  if (loginShown) return;
  const had = tokenStore.get();
  tokenStore.clear();
  showLogin(had ? `The server refused the token: ${e.message}` : null);
});

async function boot(): Promise<void> {
  const token = tokenStore.get();
  try {
    await call('GET', '/v1/health', undefined, { quiet401: true });
    mode = token ? 'token' : 'open';
    booted = true;
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      tokenStore.clear();
      showLogin(token ? `The saved token was refused: ${e.message}` : null);
      return;
    }
    fill(app, h('div', { class: 'login' }, h('div', { class: 'login-card' }, h('h1', null, 'edgemq'), alert('error', errorText(e)),
      h('button', { type: 'button', onclick: () => location.reload() }, 'Try again'))));
    return;
  }
  void route();
}

window.addEventListener('hashchange', () => void route());
void boot();
