import { Option, type Command } from 'commander';
import { int } from './parsers.js';

/** On the device: one prediction, batch inference, and the agent as a system service. */
export function registerDeviceCommands(program: Command): void {
  program
    .command('predict')
    .description('predict one row with the installed model, a model directory, or a running agent')
    .option('--agent-dir <dir>', "the agent's data directory: use the model it has installed")
    .option('--model <path>', 'a model directory from edgeml train or quantize')
    .option('--url <url>', "a running agent's local API, e.g. http://127.0.0.1:8080")
    .option('--token <token>', 'bearer token of the agent API (default: $EDGEML_API_TOKEN)')
    .option('--row <values>', 'the row as a JSON array, or comma-separated numbers, in feature order')
    .option('--features <json>', 'the row as a JSON object of named features')
    .option('--json', 'print the prediction as JSON')
    .action(async (o) => (await import('../commands/predict.js')).predict(o));

  program
    .command('batch')
    .description('offline batch inference over a CSV or JSON-lines file; resumable, needs no network')
    .requiredOption('--in <file>', 'input file (.csv with a header row, or .jsonl)')
    .requiredOption('--out <file>', 'output file (.csv or .jsonl; default format: the input format)')
    .option('--agent-dir <dir>', "the agent's data directory: use the model it has installed")
    .option('--model <path>', 'a model directory from edgeml train or quantize')
    .addOption(new Option('--on-error <mode>', 'bad rows: fail (stop, exit 1) or skip (report them in OUT.errors.jsonl)').choices(['fail', 'skip']).default('fail'))
    .option('--batch-size <n>', 'rows per runtime call', int('--batch-size'), 256)
    .option('--workers <n>', 'threads running the model, each on a share of the file (default: the number of cores)', int('--workers'))
    .option('--resume', 'continue an interrupted run (OUT.progress.json) instead of starting over')
    .addOption(new Option('--in-format <format>', 'input format when the file name does not say').choices(['csv', 'jsonl']))
    .addOption(new Option('--out-format <format>', 'output format when the file name does not say').choices(['csv', 'jsonl']))
    .option('--json', 'print the summary as JSON')
    .addOption(new Option('--checkpoint-rows <n>').argParser(int('--checkpoint-rows')).hideHelp())
    .addOption(new Option('--checkpoint-ms <ms>').argParser(int('--checkpoint-ms')).hideHelp())
    .action(async (o) => (await import('../commands/batch.js')).batch(o));

  const agent = program.commands.find((c) => c.name() === 'agent');
  if (!agent) throw new Error('the agent command group must be registered before the device commands');
  agent
    .command('install-service')
    .description('write a systemd unit that runs the agent at boot and restarts it when it stops')
    .option('--config <file>', 'agent config (JSON)', '/etc/edgeml/agent.json')
    .option('--user <user>', 'system user the agent runs as', 'edgeml')
    .option('--out <file>', 'where to write the unit', '/etc/systemd/system/edgeml-agent.service')
    .action(async (o) => (await import('../commands/service.js')).installService(o));
}
