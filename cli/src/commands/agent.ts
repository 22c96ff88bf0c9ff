import { createLogger, loadAgentConfig } from '@edgeml/core';
import { startAgent } from '@edgeml/agent';
import { deviceRuntimes } from '../runtimes.js';
import { untilSignal } from './signals.js';

export async function agentStart(o: { config: string }): Promise<void> {
  const config = await loadAgentConfig(o.config);
  const log = createLogger({ name: `agent:${config.deviceId}` });
  const agent = await startAgent({ config, runtimes: deviceRuntimes(), log });
  log.info('agent running', { deviceId: config.deviceId, api: agent.apiUrl, broker: config.broker.url });
  await untilSignal();
  log.info('stopping');
  await agent.close();
}
