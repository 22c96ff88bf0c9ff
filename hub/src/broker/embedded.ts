import { createServer, type Server } from 'node:net';
import { Aedes } from 'aedes';
import { userError, type Logger } from '@edgeml/core';

export interface EmbeddedBroker {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** aedes inside the hub process: the zero-setup broker. Any external MQTT broker can replace it. */
export async function startEmbeddedBroker(opts: { host?: string; port: number; log: Logger }): Promise<EmbeddedBroker> {
  const broker = await Aedes.createBroker({});
  const server: Server = createServer(broker.handle);
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
  broker.on('clientError', (client, err) => opts.log.debug('mqtt client error', { client: client.id, error: err.message }));
  opts.log.info('embedded MQTT broker listening', { host, port });
  return {
    url: `mqtt://${host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Drop connected clients so server.close() can complete.
        broker.close();
      }),
  };
}
