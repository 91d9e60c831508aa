/**
 * Chromium for the browser tests: Debian's /usr/bin/chromium (`.ci/run` installs it) driven by
 * playwright-core, which never downloads a browser. Screenshots go to test-artifacts/ (gitignored).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const ARTIFACTS = join(ROOT, 'test-artifacts', 'dashboard');
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export async function launch(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: install Debian's (apt-get install -y chromium, as .ci/run does) or set CHROMIUM_PATH`);
  }
  mkdirSync(ARTIFACTS, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

/** A page that records uncaught errors, and accepts confirm() dialogs (delete, skip backlog, resend all). */
export async function openPage(browser: Browser): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
  page.setDefaultTimeout(15_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`uncaught: ${e.message}`));
  page.on('console', (m) => {
    // a 401 or 404 answer is logged by Chromium as "Failed to load resource": that is the API talking, not a bug
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(`console: ${m.text()}`);
  });
  page.on('dialog', (d) => void d.accept());
  return { page, errors };
}

let n = 0;
/** A full-page screenshot, numbered in the order taken: test-artifacts/dashboard/NN-name.png */
export async function shot(page: Page, name: string): Promise<string> {
  const path = join(ARTIFACTS, `${String(++n).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** Follows a link of the sidebar. */
export async function nav(page: Page, name: string): Promise<void> {
  await page.locator('nav.nav-links').getByRole('link', { name, exact: true }).click();
}

/** The visible text of the first match, once it is there. */
export async function textOf(l: Locator): Promise<string> {
  await l.first().waitFor();
  return (await l.first().innerText()).trim();
}

/** Polls f until it answers truthy (or throws after ms). */
export async function until<T>(what: string, f: () => Promise<T | null | undefined | false>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** For <input type="datetime-local">: the local time without zone. */
export function localInput(ms: number): string {
  const d = new Date(ms);
  const p = (x: number) => String(x).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}
