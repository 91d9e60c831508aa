/**
 * The web pages: the dashboard at /dashboard and the API reference at /docs, served from the
 * module src/dashboard/build.mjs generates (see there why not Workers Static Assets). No token is
 * needed: each page asks for one and calls /v1 with it. Outside /v1, so neither auth nor the body
 * limits run for them.
 */
import type { Context } from 'hono';
import { SITE_FILES } from '../generated/site';
import type { App } from './define';

/** Mounts the site serves, each an index page with its files under it. */
const MOUNTS = ['/dashboard', '/docs'];

function serve(c: Context): Response | Promise<Response> {
  const path = c.req.path;
  // `/docs/` and `/docs/index.html` are `/docs` (what Static Assets' drop-trailing-slash did)
  const page = path.replace(/\/(index\.html)?$/, '');
  if (page !== path && SITE_FILES[page]) return c.redirect(page + new URL(c.req.url).search, 307);
  const f = SITE_FILES[path];
  if (!f) return c.notFound();
  // no-cache: the names are not versioned, so browsers revalidate; a match costs a 304
  const headers = { 'Content-Type': f.type, ETag: f.etag, 'Cache-Control': 'no-cache', 'X-Content-Type-Options': 'nosniff' };
  const seen = c.req.header('If-None-Match');
  if (seen && seen.split(',').some((t) => t.trim().replace(/^W\//, '') === f.etag)) return new Response(null, { status: 304, headers });
  return new Response(f.body, { headers });
}

export function siteRoutes(app: App) {
  for (const m of MOUNTS) {
    app.get(m, serve);
    app.get(`${m}/*`, serve);
  }
}
