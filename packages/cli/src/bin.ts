/**
 * The `ringmaster` executable. Output goes through OutputStream (never blocking, never fatal);
 * anything else that writes to stdout or stderr (a notifier's console.log) gets an 'error'
 * listener, so a closed pipe is not a crash; a hang-up of the terminal is not a stop.
 */
import { runCli } from './cli.js';
import { EXIT, flushOutput, outputFailure } from './output.js';

for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});
let code = await runCli(process.argv.slice(2));
await flushOutput();
// Output written nowhere (a full disk under `> file`) is a failure, though the work succeeded.
const lost = outputFailure();
if (lost) {
  process.stderr.write(`ringmaster: ${lost}\n`);
  if (code === EXIT.OK) code = EXIT.FAILED;
}
// A reader that never reads must not keep the process alive once the command is done.
process.exit(code);
