#!/usr/bin/env node
/**
 * Builds the dashboard: src/dashboard/main.ts (with uPlot and the CSS it imports) bundled by
 * esbuild into public/dashboard/app.js and app.css, and index.html copied beside them. The Worker
 * serves public/ as static assets (wrangler.toml [assets]), so /dashboard is public/dashboard/index.html.
 * Run by `npm run build:dashboard`, and by wrangler itself before `wrangler dev` and `wrangler deploy`
 * (wrangler.toml [build]). `--watch` rebuilds on change.
 */
import { build, context } from 'esbuild';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, '..', '..', 'public', 'dashboard');
const watch = process.argv.includes('--watch');

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
copyFileSync(join(here, 'index.html'), join(out, 'index.html'));

const options = {
  entryPoints: { app: join(here, 'main.ts') },
  outdir: out,
  bundle: true,
  format: 'esm',
  target: ['es2022', 'chrome110', 'firefox110', 'safari16'],
  minify: true,
  sourcemap: 'linked',
  legalComments: 'linked',
  logLevel: watch ? 'info' : 'warning',
};

if (watch) {
  const ctx = await context(options);
  await ctx.watch();
} else {
  const t0 = Date.now();
  await build(options);
  console.log(`dashboard built into public/dashboard in ${Date.now() - t0} ms`);
}
