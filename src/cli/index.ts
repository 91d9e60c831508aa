/** The bin's entry (bundled to dist/cli.mjs): runs the command line in this process. */
import { EXIT } from './exit';
import { run } from './main';

const ctl = new AbortController();
let interrupted = 0;
process.on('SIGINT', () => {
  // the first Ctrl-C lets the command finish what it holds (acks); the second stops at once
  if (++interrupted > 1) process.exit(EXIT.INTERRUPTED);
  ctl.abort();
});
process.stdout.on('error', (e: NodeJS.ErrnoException) => { if (e.code === 'EPIPE') process.exit(EXIT.OK); });

const code = await run(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env, signal: ctl.signal });
// exit now (an idle keep-alive connection would hold the process a few seconds), once the output is out
process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
