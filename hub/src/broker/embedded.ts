import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { Aedes, type Client } from 'aedes';
import { userError, type Logger } from '@edgeml/core';
import { clientIdAllowed, mayPublish, mayRetain, maySubscribe, type Identity } from '../security/acl.js';
import { DEFAULT_BROKER_LIMITS, PublishRate, watchPacketSizes, type BrokerLimits } from './limits.js';
import { indexedMemoryPersistence } from './retained-index.js';

/** What a device did that the broker refused or cut: counted by the hub per device. */
export type BrokerViolation = 'client-id' | 'packet-too-large' | 'rate-limited' | 'retain-refused';

export interface EmbeddedBroker {
  url: string;
  port: number;
  /** Drop every connection authenticated as this device (after revocation); returns how many. */
  disconnectDevice(deviceId: string): number;
  /**
   * Let devices in. Until then they are refused (CONNACK 3, server unavailable, and they retry):
   * a device let in before the hub has subscribed would have its records acknowledged by the
   * broker and delivered to no one.
   */
  open(): void;
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
  limits?: Partial<BrokerLimits>;
  /** A client broke a broker limit: its device id (or user name), "(unauthenticated)" before it logged in. */
  onViolation?: (deviceId: string, violation: BrokerViolation, detail: string) => void;
  /**
   * Called with each publish a device is allowed to make, before the broker acknowledges it.
   * aedes sends a QoS 1 PUBACK before it delivers the message to any subscriber: a record the
   * hub must keep is stored here, or a hub killed in between loses a record the device has
   * already deleted. Throwing refuses the publish (the device is disconnected and sends it again).
   */
  beforeAck?: (topic: string, payload: Buffer) => void;
}

/** aedes inside the hub process: the zero-setup broker, with authentication and ACLs on. */
export async function startEmbeddedBroker(opts: BrokerOptions): Promise<EmbeddedBroker> {
  const identities = new WeakMap<Client, Identity>();
  const bySocket = new WeakMap<object, Identity>();
  const limits: BrokerLimits = { ...DEFAULT_BROKER_LIMITS, ...opts.limits };
  const rate = new PublishRate(limits);
  let open = false;
  const violation = (who: Identity | undefined, fallback: string, v: BrokerViolation, detail: string) => {
    try {
      opts.onViolation?.(who?.role === 'device' ? who.deviceId : fallback, v, detail);
    } catch (e) {
      opts.log.error('counting a broker violation failed', { error: (e as Error).message });
    }
  };
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
      if (!clientIdAllowed(username!, client.id)) {
        // Taking another identity's client id would take over its session (and kick it off).
        opts.log.warn('mqtt client id refused', { client: client.id, username });
        violation(who, username!, 'client-id', `client id "${client.id.slice(0, 80)}" is not "${username}" or "${username}:..."`);
        done(Object.assign(new Error('client id must be the user name'), { returnCode: 2 as const }), false);
        return;
      }
      if (who.role === 'device' && !open) {
        done(Object.assign(new Error('the hub is starting'), { returnCode: 3 as const }), false);
        return;
      }
      identities.set(client, who);
      bySocket.set(client.conn, who);
      if (who.role === 'device') devices.add(client);
      done(null, true);
    },
    authorizePublish(client, packet, done) {
      // A null client is the broker itself (last wills are checked here with their client).
      const who = client ? identities.get(client) : ({ role: 'hub' } as const);
      if (!who || (client && cutOff.has(client)) || !mayPublish(who, packet.topic)) {
        opts.log.warn('mqtt publish refused', { client: client?.id ?? null, topic: packet.topic });
        return done(new Error(`not allowed to publish to ${packet.topic}`));
      }
      if (packet.retain && !mayRetain(who, packet.topic)) {
        // Delivered, not kept: retained messages are what the broker holds in memory for good.
        packet.retain = false;
        violation(who, client?.id ?? '', 'retain-refused', packet.topic);
      }
      if (!client) return done(null);
      const accept = () => {
        try {
          opts.beforeAck?.(packet.topic, packet.payload as Buffer);
        } catch (e) {
          return done(e as Error);
        }
        done(null);
      };
      if (who.role !== 'device') return accept();
      const wait = rate.take(who.deviceId);
      if (wait === undefined) {
        violation(who, client.id, 'rate-limited', `more than ${limits.devicePublishRate}/s beyond a burst of ${limits.devicePublishBurst}`);
        return done(new Error('publish rate limit exceeded'));
      }
      if (wait === 0) return accept();
      violation(who, client.id, 'rate-limited', `held ${Math.round(wait)} ms: over ${limits.devicePublishRate}/s beyond a burst of ${limits.devicePublishBurst}`);
      // Holding the callback holds aedes' reading of this client's socket (it reads the next
      // batch when this one is done): TCP pushes back, and the device's QoS 1 outbox waits.
      setTimeout(accept, wait);
    },
    authorizeSubscribe(client, sub, done) {
      const who = identities.get(client);
      if (who && maySubscribe(who, sub.topic)) return done(null, sub);
      opts.log.warn('mqtt subscribe refused', { client: client.id, topic: sub.topic });
      // A null subscription answers the client with a failure code instead of dropping it.
      done(null, null);
    },
  });
  const handle = (socket: Socket) => {
    broker.handle(socket);
    watchPacketSizes(
      socket,
      () => (bySocket.get(socket)?.role === 'device' ? limits.maxDevicePacketBytes : limits.maxPacketBytes),
      (announced) => {
        const who = bySocket.get(socket);
        opts.log.warn('mqtt packet too large; disconnecting', { remote: socket.remoteAddress ?? null, bytes: announced });
        violation(who, '(unauthenticated)', 'packet-too-large', `${announced} bytes announced`);
        socket.destroy();
      },
    );
  };
  const server: Server = opts.tls ? createTlsServer({ cert: opts.tls.cert, key: opts.tls.key }, handle) : createServer(handle);
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
    open: () => {
      open = true;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Drop connected clients so server.close() can complete.
        broker.close();
      }),
  };
}
