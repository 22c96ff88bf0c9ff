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
    .option('--broker <url>', 'use this MQTT broker instead of the embedded one')
    .option('--keys <dir>', 'signing key directory (default: <data-dir>/keys, generated on first start)')
    .action(async (o) => (await import('../commands/hub.js')).hubStart(o));

  const agent = program.command('agent').description('the device agent');
  agent
    .command('start')
    .description('run the agent until interrupted')
    .requiredOption('--config <file>', 'agent config (JSON)')
    .action(async (o) => (await import('../commands/agent.js')).agentStart(o));
}
