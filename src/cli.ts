import { Command, CommanderError } from 'commander';
import { InputError } from './errors.js';
import { Interrupted } from './signals.js';
import { version } from './version.js';
// Commands, in the order a user meets them (help lists them so).
import { demoCommand } from './commands/demo.js';
import { synthCommand } from './commands/synth.js';
import { infoCommand } from './commands/info.js';
import { routeCommand } from './commands/route.js';
import { reportCommand } from './commands/report.js';
import { wicCommand } from './commands/wic.js';
import { balanceCommand } from './commands/balance.js';
import { importCommand } from './commands/import.js';
import { diffCommand } from './commands/diff.js';

/** Registers every command; the work itself lives in src/commands/*.ts and the library code they call. */
export function buildProgram(): Command {
  const program = new Command('moe-inspect')
    .description('Record and analyse expert routing of Mixture-of-Experts checkpoints (DeepSeekMoE family).')
    .version(version)
    .option('--debug', 'print stack traces for errors');
  program.addCommand(demoCommand());
  program.addCommand(synthCommand());
  program.addCommand(infoCommand());
  program.addCommand(routeCommand());
  program.addCommand(reportCommand());
  program.addCommand(wicCommand());
  program.addCommand(balanceCommand());
  program.addCommand(importCommand());
  program.addCommand(diffCommand());
  return program;
}

/** Runs the CLI: bad input exits 1 with one line on stderr, bad usage exits 2 (commander's own handling). */
export async function main(argv: string[]): Promise<void> {
  // `moe-inspect ... | head` closes the pipe early; that is not an error worth a stack trace.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
  const program = buildProgram();
  // addCommand does not pass settings down, so each command gets them here. Usage errors read like every other
  // error: one line, `moe-inspect: ...`, with the hint on the same line.
  const output = { outputError: (message: string, write: (text: string) => void) => write(errorLine(message.trim().replace(/^error: /, ''), true)) };
  for (const command of [program, ...program.commands]) command.exitOverride().configureOutput(output);
  try {
    await program.parseAsync(argv);
  } catch (error) {
    process.exitCode = exitCodeFor(error, argv.includes('--debug'));
  }
}

function exitCodeFor(error: unknown, debug: boolean): number {
  if (error instanceof CommanderError) {
    // Help and version are "errors" in commander's exitOverride mode; usage errors were already printed.
    return error.exitCode === 0 ? 0 : 2;
  }
  if (error instanceof Interrupted) {
    process.stderr.write(`moe-inspect: ${error.message}\n`);
    return error.exitCode;
  }
  if (error instanceof InputError) {
    const usage = error.code.startsWith('usage-');
    process.stderr.write(errorLine(error.message, usage));
    if (debug) process.stderr.write(`${error.stack}\n`);
    return usage ? 2 : 1;
  }
  process.stderr.write(`moe-inspect: internal error: ${error instanceof Error ? error.stack : String(error)}\n`);
  return 3;
}

/** An error as the one line on stderr, whatever the message quotes (a JSON parser may echo a multi-line input); bad usage ends with the help hint. */
function errorLine(message: string, usage: boolean): string {
  return `moe-inspect: ${message.replace(/\s*\n\s*/g, ' ')}${usage ? ' (add --help for usage)' : ''}\n`;
}
