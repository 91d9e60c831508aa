#!/usr/bin/env node
/**
 * Builds the dashboard: src/dashboard/main.ts (with uPlot and the CSS it imports) bundled by
 * esbuild into public/dashboard/app.js and app.css, and index.html copied beside them. The Worker
 * serves public/ as static assets (wrangler.toml [assets]), so /dashboard is public/dashboard/index.html.
 * The API reference is built the same way: src/dashboard/docs/ into public/docs/ (/docs).
 * Run by `npm run build:dashboard`, and by wrangler itself before `wrangler dev` and `wrangler deploy`
 * (wrangler.toml [build]). `--watch` rebuilds on change.
 */
import { build, context } from 'esbuild';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const watch = process.argv.includes('--watch');
// each site: its sources (index.html and main.ts) and where it goes in public/
const sites = [
  { src: here, out: join(here, '..', '..', 'public', 'dashboard') },
  { src: join(here, 'docs'), out: join(here, '..', '..', 'public', 'docs') },
];

for (const { src, out } of sites) {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  copyFileSync(join(src, 'index.html'), join(out, 'index.html'));
}

const optionsFor = ({ src, out }) => ({
  entryPoints: { app: join(src, 'main.ts') },
  outdir: out,
  bundle: true,
  format: 'esm',
  target: ['es2022', 'chrome110', 'firefox110', 'safari16'],
  minify: true,
  sourcemap: 'linked',
  legalComments: 'linked',
  logLevel: watch ? 'info' : 'warning',
});

if (watch) {
  for (const site of sites) await (await context(optionsFor(site))).watch();
} else {
  const t0 = Date.now();
  await Promise.all(sites.map((site) => build(optionsFor(site))));
  console.log(`dashboard built into public/dashboard, API reference into public/docs, in ${Date.now() - t0} ms`);
}
