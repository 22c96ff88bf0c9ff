import type { Command } from 'commander';
import { int, num } from './parsers.js';

const hubOptions = (c: Command) =>
  c
    .option('--hub <url>', 'the hub HTTP API', 'http://127.0.0.1:8750')
    .option('--token <token>', 'hub admin token (default: EDGEML_HUB_TOKEN, or the hub data dir on this machine)')
    .option('--data-dir <dir>', 'hub data directory to read the admin token from', '.edgeml/hub');

/** Operating a fleet: releases from CI, staged rollouts, rollbacks, fleet status. */
export function registerOperateCommands(program: Command): void {
  hubOptions(
    program
      .command('release')
      .description('from CI: train, validate data, quantize, gate, sign and publish (or start a rollout); exit 1 on a failed gate')
      .option('--config <file>', 'release config', 'edgeml.json')
      .option('--json', 'print the result as JSON'),
  ).action(async (o) => (await import('../commands/release.js')).release({ ...o, hub: o.hub === 'http://127.0.0.1:8750' ? undefined : o.hub }));

  hubOptions(
    program
      .command('rollout')
      .description('roll a published version out in stages, gated on what the devices report')
      .argument('<model>')
      .argument('[version]')
      .option('--canary <n|p%>', 'canary devices: a count or a share of the fleet', '1')
      .option('--canary-tags <tags>', 'canaries are the devices with these tags (comma-separated)')
      .option('--waves <list>', 'cumulative shares after the canary, e.g. 10%,50%,100%', '100%')
      .option('--soak <duration>', 'time each wave runs before its gates are judged, e.g. 10m', '5m')
      .option('--no-benchmark', 'skip the canaries\' device benchmark')
      .option('--bench-p95-ms <ms>', 'largest p95 (ms) in the canaries\' benchmark (default: the release budget)', num('--bench-p95-ms'))
      .option('--max-p95-ms <ms>', 'largest p95 per-row latency on the devices', num('--max-p95-ms'))
      .option('--max-error-rate <x>', 'largest share of failed requests', num('--max-error-rate'))
      .option('--min-live-accuracy <x>', 'smallest accuracy from feedback labels', num('--min-live-accuracy'))
      .option('--max-accuracy-drop <x>', 'largest fall of live accuracy below the test accuracy', num('--max-accuracy-drop'))
      .option('--min-labels <n>', 'labels needed before live accuracy is judged', int('--min-labels'))
      .option('--max-drift <psi>', 'largest population stability index of any feature', num('--max-drift'))
      .option('--pause', 'pause the model\'s running rollout')
      .option('--resume', 'resume it')
      .option('--abort', 'abort it and roll the upgraded devices back')
      .option('--status', 'show the model\'s latest rollout')
      .option('--wait', 'wait until the rollout completes or halts (exit 1 when it halts)')
      .option('--json', 'print JSON'),
  ).action(async (model, version, o) => (await import('../commands/rollout.js')).rollout(model, version, o));

  hubOptions(
    program
      .command('retrain')
      .description('continuous training by hand: the hub retrains the model on its data and the validated device feedback, and releases the challenger only if it beats production')
      .argument('<model>')
      .option('--config <file>', 'the model\'s release config: its "hub" is used when --hub is not given', 'edgeml.json')
      .option('--no-wait', 'start the run and return its id')
      .option('--timeout <duration>', 'how long to wait for the run, e.g. 30m', '1h')
      .option('--json', 'print the run as JSON'),
  ).action(async (model, o, cmd: Command) => (await import('../commands/retrain.js')).retrain(model, { ...o, hubFromConfig: cmd.getOptionValueSource('hub') === 'default' }));

  hubOptions(
    program
      .command('rollback')
      .description('send every device of a model back to an earlier version with a signed rollback directive')
      .argument('<model>')
      .option('--to <version>', 'the version to go back to (default: the one before the newest)', int('--to'))
      .option('--json', 'print JSON'),
  ).action(async (model, o) => (await import('../commands/rollout.js')).rollback(model, o));

  const fleet = program.command('fleet').description('the fleet of devices');
  fleet
    .command('status')
    .description('every device as the broker holds it: online or not, last known version, desired version, p95, live accuracy, drift')
    .option('--broker <url>', 'MQTT broker (default: the broker of the hub in --data-dir, else mqtt://127.0.0.1:1883)')
    .option('--username <name>', 'broker user (default: the operator account from --data-dir)')
    .option('--password <secret>', 'broker password (or EDGEML_BROKER_PASSWORD)')
    .option('--ca <file>', 'CA certificate for mqtts://')
    .option('--data-dir <dir>', 'hub data directory to read the operator account from', '.edgeml/hub')
    .option('--quiet-ms <ms>', 'end the scan after this long without a new message', int('--quiet-ms'), 300)
    .option('--json', 'print JSON')
    .option('--watch', 'keep the table up to date until interrupted')
    .option('--wait-converged', 'wait until every device runs its desired version (exit 0), or exit 1 at --timeout')
    .option('--timeout <duration>', 'how long --wait-converged waits, e.g. 90s, 10m', '10m')
    .action(async (o) => (await import('../commands/fleet.js')).fleetStatus(o));
}
