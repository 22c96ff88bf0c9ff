import type { Command } from 'commander';
import { int } from './parsers.js';

/** The demo and the long-running processes: hub and agent. */
export function registerFleetCommands(program: Command): void {
  program
    .command('demo')
    .description('the whole loop on this machine: hub, training, signed release, agent processes, predictions')
    .option('--agents <n>', 'how many agent processes to start', int('--agents'), 3)
    .option('--json', 'print one JSON object instead of a table')
    .option('--keep', 'keep the demo data directory instead of deleting it')
    .action(async (o) => (await import('../commands/demo.js')).demo(o));

  const hub = program.command('hub').description('the hub: registry, artifact store, signing, MQTT');
  hub
    .command('start')
    .description('run the hub until interrupted')
    .option('--data-dir <dir>', 'where the registry, artifacts and keys live', '.edgeml/hub')
    .option('--mqtt-port <port>', 'port of the embedded MQTT broker', int('--mqtt-port'), 1883)
    .option('--mqtt-host <host>', 'address the embedded broker listens on', '127.0.0.1')
    .option('--http-port <port>', 'port of the hub HTTP API (enrolment, metrics)', int('--http-port'), 8750)
    .option('--http-host <host>', 'address the HTTP API listens on', '127.0.0.1')
    .option('--tls-cert <file>', 'serve the embedded broker over TLS (mqtts) with this PEM certificate')
    .option('--tls-key <file>', 'private key (PEM) for --tls-cert')
    .option('--https-cert <file>', 'serve the HTTP API over HTTPS with this PEM certificate (tokens and device passwords cross it)')
    .option('--https-key <file>', 'private key (PEM) for --https-cert')
    .option('--broker <url>', 'use this MQTT broker instead of the embedded one')
    .option('--broker-username <name>', 'user name at the external broker')
    .option('--broker-password <secret>', 'password at the external broker (or EDGEML_BROKER_PASSWORD)')
    .option('--broker-ca <file>', 'CA certificate to trust for an mqtts:// broker')
    .option('--public-broker-url <url>', 'the broker URL devices are given at enrolment')
    .option('--artifact-base-url <url>', 'devices download artifacts over HTTP(S) from <url>/v1/artifacts/<sha256> instead of MQTT chunks ("self": this hub\'s API)')
    .option('--keys <dir>', 'signing key directory (default: <data-dir>/keys, generated on first start)')
    .option('--webhook <url[,secret]>', 'send hub events (docs/EVENTS.md) as JSON to this URL, signed with HMAC-SHA256 when a secret (16+ characters) follows the comma; repeatable', (v: string, all: string[]) => [...all, v], [] as string[])
    .option('--slack-webhook <url>', 'send hub events as one line of Slack-compatible text to this incoming-webhook URL; repeatable', (v: string, all: string[]) => [...all, v], [] as string[])
    .option('--retrain-config <file...>', 'release configs (edgeml.json) of models the hub retrains by itself when their triggers fire')
    .action(async (o) => (await import('../commands/hub.js')).hubStart(o));
  hub
    .command('events')
    .description('the hub\'s events (docs/EVENTS.md), newest first, with what became of each webhook delivery')
    .option('--data-dir <dir>', 'hub data directory', '.edgeml/hub')
    .option('--limit <n>', 'how many events', int('--limit'), 50)
    .option('--json', 'print JSON')
    .action(async (o) => (await import('../commands/events.js')).hubEvents(o));
  hub
    .command('token')
    .description('create a token: a one-time enrolment token for one device (default), or an HTTP API token for CI, operators or admins')
    .option('--data-dir <dir>', 'hub data directory', '.edgeml/hub')
    .option('--ttl <duration>', 'how long the token is valid, e.g. 1h, 7d', '24h')
    .option('--model <name>', 'bind the device to this model: the hub refuses what it reports for any other')
    .option('--channel <name>', 'bind the device to this channel')
    .option('--tags <t1,t2>', 'the tags rollouts target the device by; the tags its status claims are then ignored')
    .option('--kind <kind>', 'device (enrol one device), ci (publish, start rollouts), operator (read, pause/resume/abort rollouts) or admin (everything)', 'device')
    .option('--keys <dir>', 'signing key directory holding root.pub (default: <data-dir>/keys)')
    .option('--label <text>', 'a note stored with an API token (who or what holds it)')
    .option('--revoke <token-or-id>', 'revoke an API token (by id or token) or an unused enrolment token')
    .option('--list', 'list API tokens (ids, kinds, expiry; never secrets)')
    .option('--json', 'print JSON')
    .action(async (o) => (await import('../commands/hub.js')).hubToken(o));

  const agent = program.command('agent').description('the device agent');
  agent
    .command('start')
    .description('run the agent until interrupted')
    .requiredOption('--config <file>', 'agent config (JSON)')
    .action(async (o) => (await import('../commands/agent.js')).agentStart(o));
  agent
    .command('enroll')
    .description('exchange a one-time token for this device\'s credentials and write its config')
    .requiredOption('--hub <url>', 'the hub HTTP API, e.g. http://hub.local:8750')
    .requiredOption('--token <token>', 'one-time token from `edgeml hub token`, as printed (<secret>.<root key fingerprint>)')
    .option('--root-fingerprint <sha256>', 'fingerprint of the hub\'s root key, when the token does not carry it')
    .option('--ca <file>', 'CA certificate to trust for an https:// hub')
    .requiredOption('--device-id <id>', 'this device\'s id')
    .requiredOption('--model <name>', 'the model this device serves')
    .option('--channel <name>', 'release channel to follow', 'stable')
    .option('--data-dir <dir>', 'the agent\'s data directory', '/var/lib/edgeml')
    .option('--config <file>', 'where to write the agent config', 'agent.json')
    .option('--broker-ca <file>', 'CA certificate to trust for an mqtts:// broker')
    .option('--api-port <port>', 'local prediction API port', int('--api-port'), 8760)
    .action(async (o) => (await import('../commands/agent.js')).agentEnroll(o));
}
