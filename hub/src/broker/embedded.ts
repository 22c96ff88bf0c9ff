import { createServer, type Server } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { Aedes, type Client } from 'aedes';
import { userError, type Logger } from '@edgeml/core';
import { mayPublish, maySubscribe, type Identity } from '../security/acl.js';
import { indexedMemoryPersistence } from './retained-index.js';

export interface EmbeddedBroker {
  url: string;
  port: number;
  /** Drop every connection authenticated as this device (after revocation); returns how many. */
  disconnectDevice(deviceId: string): number;
  close(): Promise<void>;
}

export interface BrokerOptions {
  host?: string;
  port: number;
  log: Logger;
  /** Who a username and password belong to, or undefined to refuse the connection. */
  authenticate: (username: string, password: string) => Identity | undefined;
  /** PEM certificate and key: serve MQTT over TLS (mqtts). */
  tls?: { cert: string; key: string };
}

/** aedes inside the hub process: the zero-setup broker, with authentication and ACLs on. */
export async function startEmbeddedBroker(opts: BrokerOptions): Promise<EmbeddedBroker> {
  const identities = new WeakMap<Client, Identity>();
  // Authenticated device connections, so a revoked device can be cut off at once.
  const devices = new Set<Client>();
  // Connections cut off by revocation: nothing more from them, not even their last will.
  const cutOff = new WeakSet<Client>();
  const broker = await Aedes.createBroker({
    persistence: indexedMemoryPersistence(),
    // aedes queues deliveries beyond `concurrency` in mqemitter, whose queue drains by recursion:
    // a burst of thousands (a release to a large fleet) overflowed the stack at the default 100.
    concurrency: 65_536,
    authenticate(client, username, password, done) {
      const who = username === undefined || password === undefined ? undefined : opts.authenticate(username, password.toString('utf8'));
      if (!who) {
        opts.log.warn('mqtt authentication refused', { client: client.id, username: username ?? null });
        const err = Object.assign(new Error('bad username or password'), { returnCode: 4 as const });
        done(err, false);
        return;
      }
      identities.set(client, who);
      if (who.role === 'device') devices.add(client);
      done(null, true);
    },
    authorizePublish(client, packet, done) {
      // A null client is the broker itself (last wills are checked here with their client).
      const who = client ? identities.get(client) : ({ role: 'hub' } as const);
      if (who && !(client && cutOff.has(client)) && mayPublish(who, packet.topic)) return done(null);
      opts.log.warn('mqtt publish refused', { client: client?.id ?? null, topic: packet.topic });
      done(new Error(`not allowed to publish to ${packet.topic}`));
    },
    authorizeSubscribe(client, sub, done) {
      const who = identities.get(client);
      if (who && maySubscribe(who, sub.topic)) return done(null, sub);
      opts.log.warn('mqtt subscribe refused', { client: client.id, topic: sub.topic });
      // A null subscription answers the client with a failure code instead of dropping it.
      done(null, null);
    },
  });
  const server: Server = opts.tls ? createTlsServer({ cert: opts.tls.cert, key: opts.tls.key }, broker.handle) : createServer(broker.handle);
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      broker.close();
      reject(e.code === 'EADDRINUSE' ? userError('port-in-use', `MQTT port ${opts.port} on ${host} is already in use; pick another with --mqtt-port`) : e);
    });
    server.listen(opts.port, host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;
  broker.on('clientDisconnect', (client) => devices.delete(client));
  broker.on('clientError', (client, err) => opts.log.debug('mqtt client error', { client: client.id, error: err.message }));
  opts.log.info('embedded MQTT broker listening', { host, port, tls: Boolean(opts.tls) });
  return {
    url: `${opts.tls ? 'mqtts' : 'mqtt'}://${host}:${port}`,
    port,
    disconnectDevice(deviceId) {
      let n = 0;
      for (const client of [...devices]) {
        const who = identities.get(client);
        if (who?.role === 'device' && who.deviceId === deviceId) {
          devices.delete(client);
          cutOff.add(client);
          client.close();
          n++;
        }
      }
      return n;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Drop connected clients so server.close() can complete.
        broker.close();
      }),
  };
}
