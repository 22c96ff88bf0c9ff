import { connectAsync } from 'mqtt';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '@edgeml/core';
import { startEmbeddedBroker } from './embedded.js';

describe('the embedded broker', () => {
  it('refuses devices until the hub has subscribed, so nothing they send is acknowledged into the void', async () => {
    const broker = await startEmbeddedBroker({
      port: 0,
      log: silentLogger,
      authenticate: (u, p) => (p !== 'pw' ? undefined : u === 'edgeml-hub' ? { role: 'hub' } : { role: 'device', deviceId: u }),
    });
    try {
      const as = (username: string) => connectAsync(broker.url, { username, password: 'pw', clientId: username, reconnectPeriod: 0 });
      await expect(as('dev-1')).rejects.toThrow(/Server unavailable/i);
      const hub = await as('edgeml-hub');
      broker.open();
      const dev = await as('dev-1');
      await Promise.all([dev.endAsync(), hub.endAsync()]);
    } finally {
      await broker.close();
    }
  });
});
