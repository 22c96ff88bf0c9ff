import type { Command } from 'commander';
import { int } from './parsers.js';

/** Keys, signing and verification: what a CI that builds its own artifacts needs. */
export function registerSecurityCommands(program: Command): void {
  const keys = program.command('keys').description('root and release signing keys');
  keys
    .command('generate')
    .description('write a root key pair, a release key pair and the root-signed release-key document')
    .requiredOption('--dir <dir>', 'key directory (private keys are written with mode 0600)')
    .option('--force', 'overwrite keys that already exist')
    .option('--lifetime <duration>', 'how long the release key is valid, e.g. 90d', '365d')
    .option('--root-dir <dir>', 'write the root private key here instead (offline media); --dir then holds only what the hub needs')
    .action(async (o) => (await import('../commands/keys.js')).keysGenerate(o));
  keys
    .command('rotate')
    .description('replace the release key, signed by the root key in the same directory; devices need no change')
    .requiredOption('--dir <dir>', 'key directory (the hub\'s)')
    .option('--lifetime <duration>', 'how long the new release key is valid, e.g. 90d', '365d')
    .option('--root-dir <dir>', 'where root.key is, when it is kept apart from --dir')
    .action(async (o) => (await import('../commands/keys.js')).keysRotate(o));

  program
    .command('sign')
    .description('sign any artifact file as a release (TUF-style envelope, Ed25519)')
    .requiredOption('--artifact <file>', 'the artifact to sign')
    .requiredOption('--model <name>', 'model name')
    .requiredOption('--version <n>', 'release version (a whole number above every earlier one)', int('--version'))
    .option('--channel <name>', 'release channel', 'stable')
    .option('--expires <duration>', 'lifetime, e.g. 30d, 12h', '365d')
    .option('--format <format>', "artifact format (default: the model description's)")
    .option('--spec <file>', 'model description (edgeml-model.json) giving the input spec; default: beside the artifact')
    .requiredOption('--keys <dir>', 'key directory with release.key and release-key.json')
    .requiredOption('--out <file>', 'where to write the signed envelope')
    .action(async (o) => (await import('../commands/sign.js')).sign(o));

  program
    .command('verify')
    .description("run the agent's own verification on files: exit 0 when an agent would install, 1 with a reason code otherwise")
    .requiredOption('--envelope <file>', 'signed release envelope')
    .requiredOption('--root-key <file>', 'pinned root public key (root.pub)')
    .option('--artifact <file>', 'the artifact, to check its size and sha256')
    .option('--seen-version <n>', 'highest version the device has seen', int('--seen-version'))
    .option('--model <name>', 'the model the device runs')
    .option('--channel <name>', 'the channel the device follows')
    .option('--json', 'print the verdict as JSON')
    .action(async (o) => (await import('../commands/sign.js')).verify(o));

  const device = program.command('device').description('device identities at the hub: list, revoke, unblock');
  const deviceFlags = (c: Command) =>
    c
      .option('--hub <url>', 'a running hub\'s HTTP API (an admin token); without it, the registry in --data-dir is changed directly')
      .option('--token <token>', 'hub admin token (default: EDGEML_HUB_TOKEN, or the hub data dir on this machine)')
      .option('--data-dir <dir>', 'hub data directory', '.edgeml/hub')
      .option('--json', 'print JSON');
  deviceFlags(device.command('list').description('every enrolled or revoked device id')).action(async (o) => (await import('../commands/device.js')).deviceList(o));
  deviceFlags(
    device
      .command('revoke')
      .description('remove a device\'s credentials, drop its connection and block its id from enrolling again')
      .argument('<id>'),
  ).action(async (id: string, o) => (await import('../commands/device.js')).deviceRevoke(id, o));
  deviceFlags(device.command('unblock').description('let a revoked device id enrol again').argument('<id>')).action(async (id: string, o) =>
    (await import('../commands/device.js')).deviceUnblock(id, o),
  );
}
