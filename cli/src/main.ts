/**
 * The `edgeml` command. Thin: parses flags, calls hub/agent/ml, prints. Each command's code is
 * imported only when it runs, so `edgeml --help` does not load tfjs.
 */
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { isEdgemlError } from '@edgeml/core';

const int = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a whole number`);
  return n;
};

export function buildProgram(): Command {
  const program = new Command('edgeml')
    .description('Train, quantize, validate, sign and ship ML models to edge devices, and keep them healthy there.')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({ outputError: (str, write) => write(str) })
    .showHelpAfterError('(run with --help for usage)');

  program
    .command('demo')
    .description('the whole loop on this machine: hub, training, signed release, agent processes, predictions')
    .option('--agents <n>', 'how many agent processes to start', int('--agents'), 3)
    .option('--json', 'print one JSON object instead of a table')
    .option('--keep', 'keep the demo data directory instead of deleting it')
    .action(async (o) => (await import('./commands/demo.js')).demo(o));

  const hub = program.command('hub').description('the hub: registry, artifact store, signing, MQTT');
  hub
    .command('start')
    .description('run the hub until interrupted')
    .option('--data-dir <dir>', 'where the registry, artifacts and keys live', '.edgeml/hub')
    .option('--mqtt-port <port>', 'port of the embedded MQTT broker', int('--mqtt-port'), 1883)
    .option('--mqtt-host <host>', 'address the embedded broker listens on', '127.0.0.1')
    .option('--broker <url>', 'use this MQTT broker instead of the embedded one')
    .option('--keys <dir>', 'signing key directory (default: <data-dir>/keys, generated on first start)')
    .action(async (o) => (await import('./commands/hub.js')).hubStart(o));

  const agent = program.command('agent').description('the device agent');
  agent
    .command('start')
    .description('run the agent until interrupted')
    .requiredOption('--config <file>', 'agent config (JSON)')
    .action(async (o) => (await import('./commands/agent.js')).agentStart(o));

  program
    .command('train')
    .description('validate a CSV, train a model and evaluate it on the test split')
    .requiredOption('--data <file>', 'CSV file with a header row')
    .requiredOption('--target <column>', 'the column to predict')
    .requiredOption('--out <dir>', 'where to write the model')
    .option('--task <task>', 'classification or regression (inferred when not given)')
    .option('--arch <arch>', 'mlp or cnn', 'mlp')
    .option('--input-shape <shape>', 'one row as an image, e.g. 8x8x1 (needed for cnn)')
    .option('--seed <n>', 'seed for the split, initialisation and shuffling', int('--seed'), 42)
    .option('--json', 'print the result as JSON')
    .action(async (o) => (await import('./commands/train.js')).train(o));

  const models = program.command('models').description('the registry of a hub');
  models
    .command('show')
    .description('versions of a model in a hub registry')
    .argument('<model>')
    .argument('[version]')
    .option('--data-dir <dir>', 'hub data directory', '.edgeml/hub')
    .option('--json', 'print JSON')
    .action(async (model, version, o) => (await import('./commands/models.js')).modelsShow(model, version, o));

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
