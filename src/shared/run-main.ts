import type { Command, OptionValues } from 'commander';
import { explainError, isExpectedError } from './explain-error.js';
import { exitWhenLogged } from './logger.js';

/** What a command's work ends with: an exit code, or 'running' for a server that stays up. */
export type MainResult = number | 'running';

/**
 * The one way into every entrypoint: parses the command line with `program` (so `--help` and unknown
 * flags are answered before anything starts), runs `main`, and ends the process with its exit code. A
 * failure is one explanation on stderr and exit code 1; only an unexpected one (a bug) adds its stack.
 * Commands with subcommands give no `main`: their actions go through `finish`.
 */
export function runMain<O extends OptionValues>(program: Command, main?: (options: O) => Promise<MainResult>): void {
  if (main) program.action((options: O) => finish(() => main(options)));
  program.showHelpAfterError().parseAsync(process.argv).catch(fail);
}

/** Runs a command's work and ends the process as runMain promises (for commander actions). */
export async function finish(work: () => Promise<MainResult>): Promise<void> {
  let result: MainResult;
  try {
    result = await work();
  } catch (error) {
    fail(error);
    return;
  }
  if (result !== 'running') exitAfterOutput(result);
}

function fail(error: unknown): void {
  const explanation = explainError(error);
  const stack = !isExpectedError(error) && error instanceof Error && error.stack ? `\n${error.stack}` : '';
  process.stderr.write(`${explanation}${stack}\n`);
  exitAfterOutput(1);
}

/** Exits once stdout has drained, the log's lines too: writes to a pipe are asynchronous. */
function exitAfterOutput(code: number): void {
  process.stdout.write('', () => exitWhenLogged(code));
}
