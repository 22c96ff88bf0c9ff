import { createLogger, loadAgentConfig } from '@edgeml/core';
import { agentRuntimes, enrollDevice, startAgent } from '@edgeml/agent';
import { resolve } from 'node:path';
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

export async function agentEnroll(o: { hub: string; token: string; deviceId: string; model: string; channel: string; dataDir: string; config: string; brokerCa?: string; ca?: string; rootFingerprint?: string; apiPort: number }): Promise<void> {
  const config = await enrollDevice({
    hubUrl: o.hub,
    token: o.token,
    deviceId: o.deviceId,
    model: o.model,
    channel: o.channel,
    dataDir: o.dataDir,
    configPath: o.config,
    api: { port: o.apiPort },
    ...(o.brokerCa ? { brokerCa: o.brokerCa } : {}),
    ...(o.ca ? { hubCa: o.ca } : {}),
    ...(o.rootFingerprint ? { rootFingerprint: o.rootFingerprint } : {}),
  });
  process.stdout.write(`enrolled ${config.deviceId} for ${config.model}/${config.channel}; broker ${config.broker.url}; wrote ${resolve(o.config)} (mode 0600)\nstart it with: edgeml agent start --config ${resolve(o.config)}\n`);
}
