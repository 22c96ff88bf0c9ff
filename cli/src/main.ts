/**
 * The `edgeml` command. Thin: parses flags, calls hub/agent/ml, prints. Each command's code is
 * imported only when it runs, so `edgeml --help` does not load tfjs.
 */
import { Command, CommanderError } from 'commander';
import { isEdgemlError } from '@edgeml/core';
import { registerFleetCommands } from './program/fleet.js';
import { registerModelCommands } from './program/model.js';
import { registerSecurityCommands } from './program/security.js';
import { registerOperateCommands } from './program/operate.js';
import { registerDeviceCommands } from './program/device.js';

export function buildProgram(): Command {
  const program = new Command('edgeml')
    .description('Train, quantize, validate, sign and ship ML models to edge devices, and keep them healthy there.')
    .version('0.1.0')
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({ outputError: (str, write) => write(str) })
    .showHelpAfterError('(run with --help for usage)');
  registerFleetCommands(program);
  registerModelCommands(program);
  registerSecurityCommands(program);
  registerOperateCommands(program);
  registerDeviceCommands(program);
  return program;
}
/** The one top-level catch: user errors are one line and exit 2, failed checks exit 1, bugs print a stack. */
export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (e) {
    process.exitCode = exitCodeFor(e);
  }
}

function exitCodeFor(e: unknown): number {
  if (e instanceof CommanderError) {
    // Commander already printed its message; help and version are not errors.
    return e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help' ? 0 : 2;
  }
  if (isEdgemlError(e)) {
    process.stderr.write(`edgeml: ${e.message}\n`);
    return e.exitCode;
  }
  process.stderr.write(`edgeml: internal error (this is a bug; please report it):\n${(e as Error)?.stack ?? String(e)}\n`);
  return 70;
}
