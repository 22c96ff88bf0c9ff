import { createLogger, loadAgentConfig } from '@edgeml/core';
import { agentRuntimes, enrollCommand, startAgent, type EnrollFlags } from '@edgeml/agent';
import { untilSignal } from './signals.js';

export async function agentStart(o: { config: string }): Promise<void> {
  const config = await loadAgentConfig(o.config);
  const log = createLogger({ name: `agent:${config.deviceId}` });
  // The device package's serving runtimes: one interpreter per loaded model.
  const agent = await startAgent({ config, runtimes: agentRuntimes('serve'), log });
  log.info('agent running', { deviceId: config.deviceId, api: agent.apiUrl, broker: config.broker.url });
  await untilSignal();
  log.info('stopping');
  await agent.close();
}

/** The device package's enrol command, with this CLI's own start command in its hint. */
export function agentEnroll(o: EnrollFlags): Promise<void> {
  return enrollCommand(o, 'edgeml agent');
}
