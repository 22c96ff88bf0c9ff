import type { Command } from 'commander';
import { int, num } from './parsers.js';

/** Commands over models: train, quantize, validate, the registry. */
export function registerModelCommands(program: Command): void {
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
    .option('--categorical <encoding>', 'encode text columns: one-hot (top K categories, the rest to "other") or ordinal')
    .option('--max-categories <k>', 'one-hot keeps the K most frequent training categories per column (default 20)', int('--max-categories'))
    .option('--impute <rule>', 'fill gaps: median, mean, most-frequent or constant[=VALUE], fitted on the training split (default: refuse gaps)')
    .option('--search [grid]', 'train candidates and keep the most accurate within the budgets: mlp, cnn (default: the --arch grid) or a JSON search config file')
    .option('--max-p95-ms <ms>', 'search budget: p95 single-row latency in the device runtime', num('--max-p95-ms'))
    .option('--max-size-kb <kb>', 'search budget: artifact size', num('--max-size-kb'))
    .option('--max-memory-mb <mb>', 'search budget: peak memory of the device runtime process', num('--max-memory-mb'))
    .option('--json', 'print the result as JSON')
    .action(async (o) => (await import('../commands/train.js')).train(o));

  program
    .command('import')
    .description('make a model directory from a .tflite file trained elsewhere (e.g. by TensorFlow\'s converter)')
    .requiredOption('--tflite <file>', 'the .tflite model')
    .requiredOption('--task <task>', 'classification or regression')
    .requiredOption('--target <name>', 'what the model predicts (the label column of evaluation data)')
    .requiredOption('--out <dir>', 'where to write the model directory')
    .option('--features <names>', 'feature names in input order, comma-separated')
    .option('--input-shape <shape>', "one row's shape, e.g. 28x28 (default: the model's own; features are then x0, x1, ...)")
    .option('--labels <names>', 'class names in output order, comma-separated (default 0, 1, ...)')
    .option('--data <file>', 'labelled CSV to evaluate the model on and keep as its test rows')
    .option('--json', 'print the result as JSON')
    .action(async (o) => (await import('../commands/import.js')).importCommand(o));

  program
    .command('quantize')
    .description('make a smaller variant of a trained model and compare it with the float model')
    .requiredOption('--model <dir>', 'model directory from edgeml train')
    .requiredOption('--format <format>', 'tflite-int8, tflite-float32, tfjs-uint8 or tfjs-float16')
    .requiredOption('--out <dir>', 'where to write the quantized model directory')
    .option('--calibration <file>', 'CSV of representative rows (default: a sample of the training split)')
    .option('--json', 'print the report as JSON')
    .action(async (o) => (await import('../commands/quantize.js')).quantize(o));

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
    .option('--max-int8-disagreement <x>', 'maximum share of rows whose answer quantization changed (0..1), against the float model kept by quantize', num('--max-int8-disagreement'))
    .option('--hub-dir <dir>', 'hub data directory: compare with the version in production')
    .option('--model-name <name>', 'the model name in the hub registry (with --hub-dir)')
    .option('--runs <n>', 'single-row runs for latency', int('--runs'), 2000)
    .option('--json', 'print every figure and verdict as JSON')
    .action(async (o) => (await import('../commands/validate.js')).validate(o));

  program
    .command('probe-runtime', { hidden: true })
    .requiredOption('--model <dir>')
    .option('--runs <n>', 'single-row runs', int('--runs'), 2000)
    .action(async (o) => (await import('../commands/probe.js')).probeRuntime(o));

  const models = program.command('models').description('the registry of a hub');
  models
    .command('show')
    .description('versions of a model in a hub registry; with a version, its lineage')
    .argument('<model>')
    .argument('[version]')
    .option('--data-dir <dir>', 'hub data directory', '.edgeml/hub')
    .option('--json', 'print JSON')
    .action(async (model, version, o) => (await import('../commands/models.js')).modelsShow(model, version, o));
  models
    .command('diff')
    .description('what changed between two versions: artifact, spec, metrics and lineage (parent, trigger, data, config)')
    .argument('<model>')
    .argument('<a>')
    .argument('<b>')
    .option('--data-dir <dir>', 'hub data directory', '.edgeml/hub')
    .option('--json', 'print JSON')
    .action(async (model, a, b, o) => (await import('../commands/models.js')).modelsDiff(model, a, b, o));

  program
    .command('inspect')
    .description('tensors, operators, quantization and sizes of a .tflite file (ours or TensorFlow\'s)')
    .argument('<model.tflite>')
    .option('--tensors', 'list every tensor')
    .option('--json', 'print the parsed model as JSON')
    .action(async (file, o) => (await import('../commands/inspect.js')).inspect(file, o));
}
