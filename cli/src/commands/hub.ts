import { resolve } from 'node:path';
import { createLogger } from '@edgeml/core';
import { startHub } from '@edgeml/hub';
import { untilSignal } from './signals.js';

export async function hubStart(o: { dataDir: string; mqttPort: number; mqttHost: string; broker?: string; keys?: string }): Promise<void> {
  const log = createLogger({ name: 'hub' });
  const hub = await startHub({
    dataDir: resolve(o.dataDir),
    mqttPort: o.mqttPort,
    mqttHost: o.mqttHost,
    log,
    ...(o.broker ? { brokerUrl: o.broker } : {}),
    ...(o.keys ? { keysDir: resolve(o.keys) } : {}),
  });
  process.stdout.write(`hub running: broker ${hub.brokerUrl}, data ${resolve(o.dataDir)}, root key ${resolve(hub.keysDir, 'root.pub')}\n`);
  await untilSignal();
  log.info('stopping');
  await hub.close();
}
