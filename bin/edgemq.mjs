#!/usr/bin/env node
/**
 * The `edgemq` command. It runs the CLI bundled in dist/cli.mjs (built by `npm run build:client`,
 * which `npm ci`/`npm install` run through `prepare`). In a checkout, a missing or stale bundle
 * (sources newer than it) is rebuilt first with esbuild, so the command always runs the code
 * in front of you.
 *
 * `node bin/edgemq.mjs --build` only builds: dist/cli.mjs (the CLI, for Node) and
 * dist/client.mjs (the SDK, `edgemq/client`, for Node, browsers and Workers).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DIST = join(ROOT, 'dist');
const CLI = join(DIST, 'cli.mjs');
const SOURCES = ['src/client', 'src/cli', 'src/model'].map((d) => join(ROOT, d));

const BUILDS = [
  { entry: 'src/client/index.ts', out: 'client.mjs', platform: 'neutral', target: 'es2022' },
  { entry: 'src/cli/index.ts', out: 'cli.mjs', platform: 'node', target: 'node20' },
];

function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

function stale() {
  if (!existsSync(CLI) || !existsSync(join(DIST, 'client.mjs'))) return true;
  if (!SOURCES.every((d) => existsSync(d))) return false; // an installed package: no sources to build from
  const built = Math.min(statSync(CLI).mtimeMs, statSync(join(DIST, 'client.mjs')).mtimeMs);
  return SOURCES.some((d) => newest(d) > built);
}

/** Builds both bundles; answers false (with a note) when esbuild is not installed. */
async function build({ quiet }) {
  let esbuild;
  try {
    esbuild = await import('esbuild');
  } catch {
    if (!quiet) process.stderr.write('edgemq: esbuild is not installed, so dist/ was not built (run `npm install` in the edgemq project)\n');
    return false;
  }
  mkdirSync(DIST, { recursive: true });
  for (const b of BUILDS) {
    const r = await esbuild.build({
      entryPoints: [join(ROOT, b.entry)], bundle: true, format: 'esm', platform: b.platform, target: b.target,
      write: false, outfile: join(DIST, b.out), legalComments: 'none', logLevel: 'error',
      banner: { js: `// edgemq ${b.out}: generated from ${b.entry} by bin/edgemq.mjs --build; do not edit` },
    });
    // written whole, then renamed: a command started meanwhile never sees half a file
    const tmp = join(DIST, `.${b.out}.${process.pid}.tmp`);
    writeFileSync(tmp, r.outputFiles[0].contents);
    renameSync(tmp, join(DIST, b.out));
  }
  return true;
}

if (process.argv[2] === '--build') {
  const ok = await build({ quiet: false });
  process.stderr.write(ok ? `edgemq: built ${BUILDS.map((b) => `dist/${b.out}`).join(' and ')}\n` : '');
  process.exit(0);
}

if (stale()) await build({ quiet: existsSync(CLI) });
if (!existsSync(CLI)) {
  process.stderr.write('edgemq: dist/cli.mjs is missing: run `npm run build:client` in the edgemq project\n');
  process.exit(1);
}
globalThis.__EDGEMQ_VERSION__ = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version;
await import(pathToFileURL(CLI).href);
