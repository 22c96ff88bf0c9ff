/**
 * The `edgeml` command. Thin: parses flags, calls hub/agent/ml, prints. Each command's code is
 * imported only when it runs, so `edgeml --help` does not load tfjs.
 */
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { isEdgemlError } from '@edgeml/core';

const num = (name: string) => (v: string) => {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number`);
  return n;
};

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
    .option('--base-model <model.json>', 'start from your own tfjs LayersModel instead of a built-in architecture')
    .option('--seed <n>', 'seed for the split, initialisation and shuffling', int('--seed'), 42)
    .option('--json', 'print the result as JSON')
    .action(async (o) => (await import('./commands/train.js')).train(o));

  program
    .command('quantize')
    .description('make a smaller variant of a trained model and compare it with the float model')
    .requiredOption('--model <dir>', 'model directory from edgeml train')
    .requiredOption('--format <format>', 'tfjs-uint8 or tfjs-float16')
    .requiredOption('--out <dir>', 'where to write the quantized model directory')
    .option('--calibration <file>', 'CSV of representative rows (default: a sample of the training split)')
    .option('--json', 'print the report as JSON')
    .action(async (o) => (await import('./commands/quantize.js')).quantize(o));

  program
    .command('validate')
    .description('check a model against accuracy and device-latency gates; exit 1 when a gate fails')
    .requiredOption('--model <dir>', 'model directory (from train or quantize)')
    .requiredOption('--data <file>', 'labelled CSV to evaluate on')
    .option('--target <column>', "the label column (must be the model's)")
    .option('--min-accuracy <x>', 'minimum accuracy (0..1)', num('--min-accuracy'))
    .option('--min-macro-f1 <x>', 'minimum macro-F1 (0..1)', num('--min-macro-f1'))
    .option('--max-rmse <x>', 'maximum RMSE (regression)', num('--max-rmse'))
    .option('--min-r2 <x>', 'minimum R^2 (regression)', num('--min-r2'))
    .option('--max-drop <x>', 'maximum fall of accuracy (R^2 for regression) against production', num('--max-drop'))
    .option('--max-p50-ms <ms>', 'maximum single-row p50 latency', num('--max-p50-ms'))
    .option('--max-p95-ms <ms>', 'maximum single-row p95 latency', num('--max-p95-ms'))
    .option('--max-p99-ms <ms>', 'maximum single-row p99 latency', num('--max-p99-ms'))
    .option('--min-throughput <rows>', 'minimum batch throughput, rows/s', num('--min-throughput'))
    .option('--max-size-kb <kb>', 'maximum artifact size in KiB', num('--max-size-kb'))
    .option('--max-memory-mb <mb>', 'maximum peak RSS of the device process in MiB', num('--max-memory-mb'))
    .option('--hub-dir <dir>', 'hub data directory: compare with the version in production')
    .option('--model-name <name>', 'the model name in the hub registry (with --hub-dir)')
    .option('--runs <n>', 'single-row runs for latency', int('--runs'), 2000)
    .option('--json', 'print every figure and verdict as JSON')
    .action(async (o) => (await import('./commands/validate.js')).validate(o));

  program
    .command('probe-runtime', { hidden: true })
    .requiredOption('--model <dir>')
    .option('--runs <n>', 'single-row runs', int('--runs'), 2000)
    .action(async (o) => (await import('./commands/probe.js')).probeRuntime(o));

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
