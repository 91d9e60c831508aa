/**
 * The API reference (/docs) in a real browser against a real `wrangler dev`: every endpoint of
 * /v1/openapi.json grouped by tag, the produce endpoint with its request body schema ($refs
 * resolved), responses and error shape, links to the schemas, the filter, a deep link, the link
 * from the dashboard, and the token box when the server has an ADMIN_TOKEN (and the reuse of
 * the dashboard's token). Screenshots go to test-artifacts/dashboard/NN-docs-*.png.
 */
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Json } from '../e2e/client';
import { useServer } from '../e2e/server';
import { ARTIFACTS, launch, openPage, shot, textOf, until } from './browser';

let browser: Browser;
beforeAll(async () => { browser = await launch(); });
afterAll(async () => { await browser?.close(); });

const PRODUCE = '[data-op="POST /v1/topics/{topic}/messages"]';
const METHODS = ['get', 'put', 'post', 'patch', 'delete'];

/** The operations of a document, as the page labels them: "POST /v1/topics", by first tag. */
function operations(doc: Json): Map<string, string[]> {
  const byTag = new Map<string, string[]>();
  for (const [path, item] of Object.entries<Json>(doc.paths)) {
    for (const m of METHODS) {
      if (!item[m]) continue;
      const tag = item[m].tags?.[0] ?? 'other';
      byTag.set(tag, [...(byTag.get(tag) ?? []), `${m.toUpperCase()} ${path}`]);
    }
  }
  return byTag;
}

const fieldNames = (p: Page, scope: string) =>
  p.locator(`${scope} > .fields-wrap > table > tbody > tr[data-field]`).evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.field));

describe('API reference on an open server (npm start)', () => {
  const ctx = useServer();
  let page: Page;
  let errors: string[];
  let doc: Json;

  beforeAll(async () => { ({ page, errors } = await openPage(browser)); });
  afterAll(async () => {
    await page?.close();
    expect(errors, 'errors in the page').toEqual([]);
  });

  it('serves /docs as static files, like the dashboard', async () => {
    const r = await fetch(`${ctx.server.url}/docs`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await r.text()).toContain('/docs/app.js');
    expect((await fetch(`${ctx.server.url}/docs/app.js`)).headers.get('content-type')).toMatch(/javascript/);
    const slash = await fetch(`${ctx.server.url}/docs/`, { redirect: 'manual' });
    expect(slash.status).toBe(307);
    expect(new URL(slash.headers.get('location')!, ctx.server.url).pathname).toBe('/docs');
  });

  it('renders every endpoint of /v1/openapi.json, grouped by tag', async () => {
    doc = await (await fetch(`${ctx.server.url}/v1/openapi.json`)).json();
    const byTag = operations(doc);
    const total = [...byTag.values()].flat().length;
    expect(total).toBeGreaterThan(25);

    await page.goto(`${ctx.server.url}/docs`);
    await page.locator(PRODUCE).waitFor();
    expect(await page.title()).toContain('edgemq API');
    expect(await page.locator('section.op').count()).toBe(total);
    for (const [tag, ops] of byTag) {
      const shown = await page.locator(`section.tag[data-tag="${tag}"] section.op`).evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.op));
      expect(shown, tag).toEqual(ops);
    }
    // the sidebar lists them all too, and the error shape is described once
    expect(await page.locator('.toc-op').count()).toBe(total);
    expect(await fieldNames(page, '#errors [data-schema=Error]')).toEqual(['error']);
    expect(await textOf(page.locator('#errors'))).toContain('TOPIC_NOT_FOUND');
    await shot(page, 'docs-top');
  });

  it('shows the produce endpoint with its request body schema, responses and errors', async () => {
    const op = page.locator(PRODUCE);
    expect(await textOf(op.locator('.op-summary'))).toContain('Produce one message');
    expect(await textOf(op.locator('tr[data-param=topic]'))).toMatch(/topic\s*required\s*path\s*string/i);

    // the body: one message (MessageInput) or a batch (ProduceBatch), both resolved from their $refs
    const body = op.locator('.request-body');
    expect(await body.locator('.media-type').allInnerTexts()).toEqual(['application/json', 'application/octet-stream']);
    expect(await textOf(body.locator('.alts-label'))).toBe('One of:');
    expect(await fieldNames(page, `${PRODUCE} .request-body .alts > ol > li > [data-schema=MessageInput]`))
      .toEqual(['body', 'encoding', 'tag', 'keys', 'properties', 'messageGroup', 'deliverAt', 'delayMs', 'dedupId']);
    const row = (name: string) => textOf(body.locator(`[data-schema=MessageInput] tr[data-field=${name}]`));
    expect(await row('body')).toContain('a string, or any JSON value');
    expect(await row('encoding')).toContain('"text" | "json" | "base64"');
    expect(await row('tag')).toContain('≤ 128 characters');
    expect(await row('keys')).toMatch(/array of string\s+≤ 32 items/);
    expect(await row('properties')).toContain('map of string → string');
    expect(await row('delayMs')).toContain('0..31,536,000,000');
    expect(await textOf(body.locator('[data-schema=MessageInput] .note'))).toBe('No other fields are accepted.');
    expect(await textOf(body.locator('[data-schema=ProduceBatch] tr[data-field=messages]'))).toMatch(/messages\s*required\s*array of MessageInput\s*≥ 1 item/i);
    expect(await textOf(body.locator('.media').nth(1))).toContain('string (binary)');

    // responses: 201 with its schema; the errors on one line, with their shape
    const created = op.locator('.resp[data-status="201"]');
    expect(await textOf(created)).toContain('every message is durably stored');
    expect(await created.locator('.schema-ref', { hasText: 'ProduceResult' }).count()).toBe(1);
    const errs = await textOf(op.locator('.resp-errors'));
    expect(errs).toMatch(/^400\s+401\s+403\s+404\s+413\s+errors, as Error/);
    expect(errs).toContain('{"error": {"code": string, "message": string}}');
    await op.scrollIntoViewIfNeeded();
    await op.screenshot({ path: join(ARTIFACTS, 'docs-produce-endpoint.png') });
  });

  it('links $refs to the schema list, filters endpoints, and follows a deep link', async () => {
    await page.locator(`${PRODUCE} .request-body a.schema-ref`, { hasText: 'MessageInput' }).first().click();
    expect(new URL(page.url()).hash).toBe('#schema-MessageInput');
    const def = page.locator('#schema-MessageInput');
    expect(await fieldNames(page, '#schema-MessageInput > .schema')).toContain('dedupId');
    const box = await def.boundingBox();
    expect(box && box.y >= -1 && box.y < 900).toBe(true);

    const filter = page.locator('[data-testid=filter]');
    await filter.fill('reset-offset');
    await until('the filter to apply', async () => (await page.locator('section.op:visible').count()) === 1);
    expect(await page.locator('section.op:visible').getAttribute('data-op')).toBe('POST /v1/groups/{group}/reset-offset');
    expect(await page.locator('.toc-op:visible').count()).toBe(1);
    await shot(page, 'docs-filtered');
    await filter.fill('no such endpoint');
    expect(await textOf(page.locator('.empty:visible'))).toContain('No endpoint matches');
    await filter.fill('');
    expect(await page.locator('section.op:visible').count()).toBe(await page.locator('section.op').count());

    await page.goto('about:blank');
    await page.goto(`${ctx.server.url}/docs#op-put-v1-groups-group`);
    const put = page.locator('#op-put-v1-groups-group');
    await put.waitFor();
    await until('the deep link to scroll', async () => { const b = await put.boundingBox(); return !!b && b.y >= -1 && b.y < 100; });
    expect(await textOf(put.locator('tr[data-field=retryPolicy] .prop-type'))).toBe('{type: "CUSTOMIZED"} | {type: "EXPONENTIAL", initialMs, maxMs, multiplier}');
  });

  it('is linked from the dashboard', async () => {
    await page.goto(`${ctx.server.url}/dashboard`);
    await page.locator('nav.nav-links').getByRole('link', { name: 'API reference', exact: true }).click();
    await page.locator(PRODUCE).waitFor();
    expect(new URL(page.url()).pathname).toBe('/docs');
  });
});

describe('API reference on a server with ADMIN_TOKEN', () => {
  const TOKEN = `docs-admin-${Math.random().toString(36).slice(2)}`;
  const ctx = useServer({ vars: { ADMIN_TOKEN: TOKEN } });
  let page: Page;
  let errors: string[];

  beforeAll(async () => { ({ page, errors } = await openPage(browser)); });
  afterAll(async () => {
    await page?.close();
    expect(errors, 'errors in the page').toEqual([]);
  });

  it('asks for a token on 401, refuses a wrong one, and renders with the right one', async () => {
    expect((await fetch(`${ctx.server.url}/docs`)).status).toBe(200); // the page is public; the document is not
    expect((await fetch(`${ctx.server.url}/v1/openapi.json`)).status).toBe(401);

    await page.goto(`${ctx.server.url}/docs`);
    const form = page.locator('form[data-testid=token-form]');
    await form.waitFor();
    await shot(page, 'docs-token');
    await form.locator('[name=token]').fill('not-the-token');
    await form.getByRole('button', { name: 'Show the reference' }).click();
    expect(await textOf(form.locator('.alert-error'))).toContain('The server refused the token');

    await form.locator('[name=token]').fill(TOKEN);
    await form.getByRole('button', { name: 'Show the reference' }).click();
    await page.locator(PRODUCE).waitFor();
    expect(await textOf(page.locator('.docs-sidebar .who'))).toContain('Read with your saved token');

    // kept for the tab (the dashboard's storage): a reload needs no token, and the dashboard is signed in too
    await page.reload();
    await page.locator(PRODUCE).waitFor();
    await page.goto(`${ctx.server.url}/dashboard`);
    await page.locator('[data-testid=totals]').waitFor();
    expect(await page.locator('form[data-testid=login]').count()).toBe(0);
  });

  it("uses the token the dashboard's sign-in stored", async () => {
    const fresh = await openPage(browser);
    try {
      await fresh.page.goto(`${ctx.server.url}/dashboard`);
      const login = fresh.page.locator('form[data-testid=login]');
      await login.locator('[name=token]').fill(TOKEN);
      await login.getByRole('button', { name: 'Sign in' }).click();
      await fresh.page.locator('[data-testid=totals]').waitFor();
      await fresh.page.locator('nav.nav-links').getByRole('link', { name: 'API reference', exact: true }).click();
      await fresh.page.locator(PRODUCE).waitFor();
      expect(await fresh.page.locator('form[data-testid=token-form]').count()).toBe(0);
      // "Forget it" signs out of both
      await fresh.page.locator('.docs-sidebar .who button').click();
      await fresh.page.locator('form[data-testid=token-form]').waitFor();
      expect(await fresh.page.evaluate(() => sessionStorage.length + localStorage.length)).toBe(0);
    } finally {
      await fresh.page.close();
      expect(fresh.errors).toEqual([]);
    }
  });
});
