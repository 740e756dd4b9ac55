/**
 * The `ringmaster` executable. Output goes through OutputStream (never blocking, never fatal);
 * anything else that writes to stdout or stderr (a notifier's console.log) gets an 'error'
 * listener, so a closed pipe is not a crash; a hang-up of the terminal is not a stop.
 */
import { runCli } from './cli.js';
import { flushOutput } from './output.js';

for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});
const code = await runCli(process.argv.slice(2));
await flushOutput();
// A reader that never reads must not keep the process alive once the command is done.
process.exit(code);
