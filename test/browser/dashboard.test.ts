/**
 * The dashboard in a real browser against a real `wrangler dev`: create a topic, send a test
 * message with a key, find it by key, open its trace, resend it to a group, reset a group's
 * offset by time and skip a backlog, resend dead letters (selected, then all), empty states and
 * API errors, and the token login when the server has an ADMIN_TOKEN. Every step leaves a
 * screenshot in test-artifacts/dashboard/.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniq, type Json } from '../e2e/client';
import { useServer } from '../e2e/server';
import { launch, localInput, nav, openPage, shot, textOf, until } from './browser';

let browser: Browser;
beforeAll(async () => { browser = await launch(); });
afterAll(async () => { await browser?.close(); });

describe('dashboard on an open server (npm start)', () => {
  const ctx = useServer();
  let page: Page;
  let errors: string[];
  const T = uniq('dash-orders');
  const KEY = uniq('order');
  const G = uniq('billing');
  let messageId = '';
  const started = Date.now();
  const go = async (hash: string) => { await page.goto(`${ctx.server.url}/dashboard${hash}`); };

  beforeAll(async () => { ({ page, errors } = await openPage(browser)); });
  afterAll(async () => {
    await page?.close();
    expect(errors, 'errors in the page').toEqual([]);
  });

  it('serves /dashboard from the Worker, and the overview shows totals and charts', async () => {
    const r = await fetch(`${ctx.server.url}/dashboard`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await r.text()).toContain('/dashboard/app.js');
    await go('');
    expect(await textOf(page.locator('[data-testid=totals]'))).toContain('Messages stored');
    await page.locator('.uplot').nth(1).waitFor();
    expect(await page.locator('.uplot canvas').count()).toBeGreaterThanOrEqual(2);
    await shot(page, 'overview-empty');
  });

  it('creates a topic from the Topics page', async () => {
    await nav(page, 'Topics');
    const form = page.locator('form[data-testid=create-topic]');
    await form.locator('[name=name]').fill(T);
    await form.locator('[name=queues]').fill('2');
    await form.getByRole('button', { name: 'Create topic' }).click();
    expect(await textOf(form.locator('.alert-ok'))).toContain(`Created topic ${T}`);
    await page.locator('[data-testid=topic-list]').getByRole('link', { name: T, exact: true }).waitFor();
    const t = await ctx.api.topic(T);
    expect(t).toMatchObject({ name: T, queues: 2, type: 'MIXED' });
    await shot(page, 'topic-created');

    // the API's own error message is shown: the same name again
    await form.locator('[name=name]').fill(T);
    await form.getByRole('button', { name: 'Create topic' }).click();
    const err = await textOf(form.locator('.alert-error'));
    expect(err).toContain('TOPIC_EXISTS');
    await shot(page, 'topic-exists-error');
  });

  it('sends a test message with a key from the topic page', async () => {
    await page.locator('[data-testid=topic-list]').getByRole('link', { name: T, exact: true }).click();
    await page.locator('[data-testid=queue-status]').waitFor();
    const form = page.locator('form[data-testid=send-message]');
    await form.locator('[name=body]').fill('{"order": 42, "item": "coffee"}');
    await form.locator('[name=keys]').fill(KEY);
    await form.locator('[name=tag]').fill('created');
    await form.locator('[name=properties]').fill('region=eu');
    await form.getByRole('button', { name: 'Send' }).click();
    messageId = await textOf(page.locator('[data-testid=sent-id]'));
    expect(messageId).toMatch(/^[0-9A-F]+$/);
    const m = (await ctx.api.get(`/v1/topics/${T}/messages/${messageId}`)).body;
    expect(m).toMatchObject({ messageId, body: { order: 42, item: 'coffee' }, encoding: 'json', keys: [KEY], tag: 'created', properties: { region: 'eu' } });
    // the page refreshes its counts at once
    await until('the topic counting it', async () => (await page.locator('.card', { hasText: /^Messages/ }).innerText()).endsWith('1'));
    await shot(page, 'message-sent');
  });

  it('finds the message by key, opens it with its per-group status and trace, and resends it to a group', async () => {
    // a group consumes it first, so that the trace has deliveries and the status a group
    const got = await ctx.api.receiveN(T, G, 1);
    expect(got.map((x: Json) => x.messageId)).toEqual([messageId]);
    await ctx.api.ack(T, G, [got[0].receiptHandle]);

    await nav(page, 'Messages');
    const form = page.locator('form[data-testid=query]');
    await form.locator('select[name=topic]').selectOption(T);
    await form.locator('input[name=by][value=key]').check();
    await form.locator('[name=key]').fill(KEY);
    await form.getByRole('button', { name: 'Search' }).click();
    const row = page.locator('[data-testid=result-table] tbody tr');
    await row.first().waitFor();
    expect(await row.count()).toBe(1);
    expect(await row.first().innerText()).toContain(messageId);
    await shot(page, 'found-by-key');

    await row.first().getByRole('link', { name: messageId }).click();
    expect(await textOf(page.locator('[data-testid=message-id]'))).toBe(messageId);
    expect(await textOf(page.locator('[data-testid=body]'))).toContain('"item": "coffee"');
    const status = page.locator('[data-testid=group-status]');
    expect(await textOf(status.locator('tr', { hasText: G }))).toContain('consumed');
    const types = await page.locator('[data-testid=timeline] .ev-type').allInnerTexts();
    expect(types).toEqual(['PUBLISHED', 'DELIVERED', 'ACKED']);
    expect(await page.locator('[data-testid=timeline]').innerText()).toContain(`Delivered to ${G}`);
    await shot(page, 'message-trace');

    // resend to that group: it gets a copy, and the trace says so
    await page.locator(`[data-testid="resend-${G}"]`).click();
    expect(await textOf(page.locator('[data-testid=resend-result] .alert-ok'))).toContain(`Resent a copy to group ${G}`);
    await until('RESENT in the trace', async () => (await page.locator('[data-testid=timeline] .ev-type').allInnerTexts()).includes('RESENT'));
    const copy = await ctx.api.receiveN(T, G, 1);
    expect(copy.map((x: Json) => x.body)).toEqual([{ order: 42, item: 'coffee' }]);
    await ctx.api.ack(T, G, copy.map((x: Json) => x.receiptHandle));
    await shot(page, 'message-resent');
  });

  it("resets a group's offset by time on the group page", async () => {
    expect((await ctx.api.group(G)).lag).toBe(0);
    await go(`#/groups/${G}`);
    await page.locator('[data-testid=group-queues] table').waitFor();
    const form = page.locator('form[data-testid=reset-offset]');
    await form.locator('[name=topic]').fill(T);
    await form.locator('select[name=to]').selectOption('TIME');
    await form.locator('[name=timestamp]').fill(localInput(started - 60_000));
    await form.getByRole('button', { name: 'Reset offset' }).click();
    await page.locator('[data-testid=reset-result]').waitFor();
    expect(await page.locator('[data-testid=reset-result] tbody tr').count()).toBe(2);
    // the group consumes the topic again from that time: the message and its copy
    expect((await ctx.api.group(G)).lag).toBe(2);
    await until('the lag on the page', async () => (await page.locator('.card', { hasText: 'Total lag' }).innerText()).includes('2'));
    await shot(page, 'group-reset-by-time');
    const again = await ctx.api.receiveN(T, G, 2);
    expect(again.map((x: Json) => x.messageId)).toContain(messageId);
    await ctx.api.ack(T, G, again.map((x: Json) => x.receiptHandle));
  });

  it('skips a backlog from the topic page', async () => {
    for (let i = 0; i < 3; i++) await ctx.api.produce(T, { body: `backlog ${i}` });
    expect((await ctx.api.group(G)).lag).toBe(3);
    await go(`#/topics/${T}`);
    const skip = page.locator(`[data-testid="skip-${G}"]`);
    await until('the Skip backlog button', async () => (await skip.count()) > 0 && await skip.isEnabled());
    await shot(page, 'topic-with-backlog');
    await skip.click();
    await page.locator('[data-testid=reset-result]').waitFor();
    expect((await ctx.api.group(G)).lag).toBe(0);
    expect(await ctx.api.receive(T, G)).toEqual([]);
    await until('lag 0 on the page', async () => (await page.locator('[data-testid=topic-groups] tr', { hasText: G }).innerText()).includes('\t0\t'));
    await shot(page, 'topic-backlog-skipped');
  });

  it('lists groups by lag, and shows the cluster', async () => {
    const lazy = uniq('lazy');
    await ctx.api.produce(T, { body: 'for the lazy group' });
    await ctx.api.post(`/v1/groups/${lazy}/reset-offset`, { topic: T, to: 'EARLIEST' });
    await go('#/groups');
    const rows = page.locator('[data-testid=group-list] tbody tr');
    await rows.first().waitFor();
    const names = await page.locator('[data-testid=group-list] tbody tr td:first-child').allInnerTexts();
    const lags = (await page.locator('[data-testid=group-list] td.lag-cell').allInnerTexts()).map((s) => Number(s.replace(/\D/g, '')));
    expect(names[0]).toBe(lazy);
    expect(lags).toEqual([...lags].sort((a, b) => b - a));
    await shot(page, 'groups-by-lag');

    await nav(page, 'Cluster');
    await page.locator('[data-testid=brokers]').getByRole('link', { name: T }).first().waitFor();
    expect(await page.locator('[data-testid=brokers] tbody tr', { hasText: T }).count()).toBe(2);
    await shot(page, 'cluster');
    await go('');
    await until('messages in the totals', async () => !(await page.locator('[data-testid=totals]').innerText()).includes('Messages stored\n0'));
    await page.waitForTimeout(3500); // a second sample for the live chart
    await shot(page, 'overview');
  });

  it('resends dead letters: the selected one, then all', async () => {
    const D = uniq('dead');
    const T2 = uniq('dash-payments');
    await ctx.api.createTopic(T2, { queues: 1 });
    await ctx.api.putGroup(D, { maxRetries: 0 });
    await ctx.api.produce(T2, { messages: [{ body: 'card declined', keys: ['pay-1'] }, { body: 'timeout', keys: ['pay-2'] }] });
    const got = await ctx.api.receiveN(T2, D, 2);
    expect(got).toHaveLength(2);
    await ctx.api.nack(T2, D, got.map((x: Json) => x.receiptHandle));
    const dead = await until('two dead letters', async () => {
      const r = await ctx.api.get(`/v1/groups/${D}/dlq`);
      return r.body.messages.length === 2 ? r.body.messages as Json[] : null;
    });

    await nav(page, 'Dead letters');
    await page.locator('form[data-testid=dlq-group] select').selectOption(D);
    const table = page.locator('[data-testid=dlq-table]');
    await table.waitFor();
    expect(await table.locator('tbody tr').count()).toBe(2);
    expect(await table.innerText()).toContain(T2);
    await shot(page, 'dlq');

    const first = dead.find((m) => m.body === 'card declined');
    await table.locator(`input[data-id="${first.messageId}"]`).check();
    await page.locator('[data-testid=resend-selected]').click();
    expect(await textOf(page.locator('[data-testid=dlq-result] .alert-ok'))).toContain(`Resent 1 message to their origin topic for group ${D}`);
    await until('the row marked resent', async () => (await table.locator('tr', { hasText: first.messageId }).innerText()).includes('resent'));
    const back = await ctx.api.receiveN(T2, D, 1);
    expect(back.map((x: Json) => x.body)).toEqual(['card declined']);
    await ctx.api.ack(T2, D, back.map((x: Json) => x.receiptHandle));
    await shot(page, 'dlq-resent-selected');

    await page.locator('[data-testid=resend-all]').click(); // confirm() is accepted
    expect(await textOf(page.locator('[data-testid=dlq-result] .alert-ok'))).toContain('Resent 1 message');
    await until('every row resent', async () => (await table.innerText()).match(/not yet/) === null);
    const rest = (await ctx.api.get(`/v1/groups/${D}/dlq`)).body.messages as Json[];
    expect(rest.every((m) => m.resent !== null)).toBe(true);
    expect((await ctx.api.receiveN(T2, D, 1)).map((x: Json) => x.body)).toEqual(['timeout']);
    expect(await page.locator('[data-testid=resend-all]').isDisabled()).toBe(true);
    await shot(page, 'dlq-resent-all');
  });

  it('says so when there is nothing, and suggests what to try', async () => {
    await go(`#/messages?topic=${T}&by=key&key=no-such-key`);
    expect(await textOf(page.locator('[data-testid=results] [data-testid=empty]'))).toMatch(/No message with key "no-such-key" in topic .*browse by time/s);
    await shot(page, 'empty-query');
    const nobody = uniq('nobody');
    await go(`#/dlq/${nobody}`);
    expect(await textOf(page.locator('[data-testid=dlq-list] [data-testid=empty]'))).toContain(`No dead letters for group ${nobody}`);
    await go(`#/messages/${T}/00000000000000000000FFFF`);
    expect(await textOf(page.locator('.alert-error'))).toContain('MESSAGE_NOT_FOUND');
    await shot(page, 'message-not-found');
  });
});

describe('dashboard on a server with ADMIN_TOKEN', () => {
  const TOKEN = `dash-admin-${Math.random().toString(36).slice(2)}`;
  const ctx = useServer({ vars: { ADMIN_TOKEN: TOKEN } });
  let page: Page;
  let errors: string[];

  beforeAll(async () => { ({ page, errors } = await openPage(browser)); });
  afterAll(async () => {
    await page?.close();
    expect(errors, 'errors in the page').toEqual([]);
  });

  it('asks for a token, refuses a wrong one with the API message, and shows data with the right one', async () => {
    ctx.api.token = TOKEN;
    const T = uniq('secured');
    await ctx.api.createTopic(T);
    // the page is public (it is the login form); the API is not
    expect((await fetch(`${ctx.server.url}/dashboard`)).status).toBe(200);
    const anon = await fetch(`${ctx.server.url}/v1/cluster`);
    expect(anon.status).toBe(401);
    expect((await anon.json()).error.code).toBe('UNAUTHORIZED');

    await page.goto(`${ctx.server.url}/dashboard#/topics`);
    const login = page.locator('form[data-testid=login]');
    await login.waitFor();
    await shot(page, 'login');

    await login.locator('[name=token]').fill('not-the-token');
    await login.getByRole('button', { name: 'Sign in' }).click();
    const err = await textOf(login.locator('.alert-error'));
    expect(err).toContain('Sign-in failed');
    expect(err).toContain('not valid');
    await shot(page, 'login-wrong-token');

    await login.locator('[name=token]').fill(TOKEN);
    await login.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('[data-testid=topic-list]').getByRole('link', { name: T }).waitFor();
    expect(await page.locator('.who').innerText()).toContain('Signed in with a token');
    await shot(page, 'signed-in-topics');

    // the token stays for the tab: a reload needs no new sign-in
    await page.reload();
    await page.locator('[data-testid=topic-list]').getByRole('link', { name: T }).waitFor();
    await nav(page, 'Overview');
    expect(await textOf(page.locator('[data-testid=totals] .card', { hasText: 'Topics' }))).toContain('1');

    await page.locator('[data-testid=sign-out]').click();
    await login.waitFor();
    expect(await page.evaluate(() => sessionStorage.length + localStorage.length)).toBe(0);
  });
});
