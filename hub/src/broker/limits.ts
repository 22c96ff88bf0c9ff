/**
 * What one client may cost the embedded broker: the size of a packet, read from its fixed
 * header before the body is buffered, and a publish rate per device.
 */
import type { Socket } from 'node:net';

export interface BrokerLimits {
  /** Largest MQTT packet from any client (the hub's artifact chunks included). */
  maxPacketBytes: number;
  /** Largest packet from a device once it has authenticated. */
  maxDevicePacketBytes: number;
  /** Sustained publishes per second per device (all its connections together). */
  devicePublishRate: number;
  /** Publishes a device may send at once above the rate (an outbox flush after an outage). */
  devicePublishBurst: number;
  /**
   * Over its rate, a device's publishes are held (the broker stops reading its socket) up to
   * this long; a device that keeps flooding beyond that is disconnected.
   */
  maxThrottleMs: number;
}

export const DEFAULT_BROKER_LIMITS: BrokerLimits = {
  // 16 MiB: headroom over the default 64 KiB artifact chunk, up to chunks of ~16 MB.
  maxPacketBytes: 16 << 20,
  // The hub's largest device payload (4 MiB of telemetry) plus MQTT headers.
  maxDevicePacketBytes: (4 << 20) + 64 * 1024,
  devicePublishRate: 100,
  devicePublishBurst: 1_000,
  maxThrottleMs: 2_000,
};

/**
 * Watches the bytes aedes reads from a socket and calls `tooLarge` as soon as a packet's fixed
 * header announces more than `max()` bytes, before its body arrives. A passive tap: with aedes'
 * 'readable' listener in charge, 'data' fires only for what aedes itself reads.
 */
export function watchPacketSizes(socket: Socket, max: () => number, tooLarge: (announced: number) => void): void {
  // 0: expecting a fixed header's first byte; 1: reading its remaining-length varint; 2: skipping a body.
  let stage = 0;
  let length = 0;
  let multiplier = 1;
  let skip = 0;
  let stopped = false;
  socket.on('data', (chunk: Buffer) => {
    if (stopped) return;
    let i = 0;
    while (i < chunk.length) {
      if (stage === 2) {
        const n = Math.min(skip, chunk.length - i);
        skip -= n;
        i += n;
        if (skip === 0) stage = 0;
        continue;
      }
      const byte = chunk[i++]!;
      if (stage === 0) {
        stage = 1;
        length = 0;
        multiplier = 1;
        continue;
      }
      length += (byte & 0x7f) * multiplier;
      multiplier *= 128;
      if (byte & 0x80) {
        // More than four length bytes is not MQTT: aedes' parser refuses it too.
        if (multiplier > 128 ** 4) stage = 0;
        continue;
      }
      if (length > max()) {
        stopped = true;
        tooLarge(length);
        return;
      }
      skip = length;
      stage = skip === 0 ? 0 : 2;
    }
  });
}

/** A token bucket per device: how long to hold a publish, or undefined to refuse it. */
export class PublishRate {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly limits: Pick<BrokerLimits, 'devicePublishRate' | 'devicePublishBurst' | 'maxThrottleMs'>,
    private readonly now: () => number = Date.now,
  ) {}

  /** Ms to wait before the publish goes through (0: at once), or undefined when it is refused. */
  take(deviceId: string): number | undefined {
    const t = this.now();
    const { devicePublishRate: rate, devicePublishBurst: burst, maxThrottleMs } = this.limits;
    const b = this.buckets.get(deviceId) ?? { tokens: burst, at: t };
    b.tokens = Math.min(burst, b.tokens + ((t - b.at) * rate) / 1000);
    b.at = t;
    this.buckets.set(deviceId, b);
    // Tokens may go below zero: each held publish reserves its place in the queue.
    const wait = b.tokens >= 1 ? 0 : ((1 - b.tokens) * 1000) / rate;
    if (wait > maxThrottleMs) return undefined;
    b.tokens -= 1;
    return wait;
  }

  forget(deviceId: string): void {
    this.buckets.delete(deviceId);
  }
}
