/**
 * MQTT topic names, in one place. Every topic lives under `edgeml/v1/` so a broker can be
 * shared with other applications and a future protocol version can run beside this one.
 * docs/PROTOCOL.md describes each topic; keep the two in step.
 */
export const TOPIC_ROOT = 'edgeml/v1';

const segment = (kind: string, value: string): string => {
  // A topic level must not contain wildcards or separators, or a device could subscribe to,
  // or publish under, more than its own subtree.
  if (!/^[A-Za-z0-9._-]{1,128}$/.test(value)) throw new Error(`invalid ${kind} "${value}": use letters, digits, '.', '_' or '-'`);
  return value;
};

export const topics = {
  release: (model: string, channel: string) => `${TOPIC_ROOT}/releases/${segment('model', model)}/${segment('channel', channel)}`,
  /**
   * One chunk of an artifact cut at `chunkSize`. The size is part of the address: the same bytes
   * released again with another chunk size are other chunks, so two desired releases of one
   * artifact never overwrite each other's retained chunks under a device that is downloading.
   */
  artifactChunk: (sha256: string, chunkSize: number, index: number) => `${TOPIC_ROOT}/artifacts/${segment('sha256', sha256)}/${chunkSize}/${index}`,
  artifactChunks: (sha256: string, chunkSize: number) => `${TOPIC_ROOT}/artifacts/${segment('sha256', sha256)}/${chunkSize}/+`,
  status: (deviceId: string) => `${TOPIC_ROOT}/devices/${segment('device id', deviceId)}/status`,
  allStatuses: () => `${TOPIC_ROOT}/devices/+/status`,
  /**
   * Online/offline apart from the status: the agent's last will lands here, so the retained
   * status keeps the device's last known state and version while it is away.
   */
  presence: (deviceId: string) => `${TOPIC_ROOT}/devices/${segment('device id', deviceId)}/presence`,
  allPresence: () => `${TOPIC_ROOT}/devices/+/presence`,
  telemetry: (deviceId: string) => `${TOPIC_ROOT}/devices/${segment('device id', deviceId)}/telemetry`,
  allTelemetry: () => `${TOPIC_ROOT}/devices/+/telemetry`,
  feedback: (deviceId: string) => `${TOPIC_ROOT}/devices/${segment('device id', deviceId)}/feedback`,
  allFeedback: () => `${TOPIC_ROOT}/devices/+/feedback`,
  command: (deviceId: string) => `${TOPIC_ROOT}/devices/${segment('device id', deviceId)}/cmd`,
  commandResult: (deviceId: string) => `${TOPIC_ROOT}/devices/${segment('device id', deviceId)}/cmd/result`,
  allCommandResults: () => `${TOPIC_ROOT}/devices/+/cmd/result`,
  /** A release for one device: how a staged rollout reaches its waves. */
  deviceRelease: (model: string, channel: string, deviceId: string) =>
    `${TOPIC_ROOT}/releases/${segment('model', model)}/${segment('channel', channel)}/${segment('device id', deviceId)}`,
  /** The hub's analysis of a device (live accuracy, drift), retained for `fleet status`. */
  fleetDevice: (deviceId: string) => `${TOPIC_ROOT}/fleet/devices/${segment('device id', deviceId)}`,
  allFleetDevices: () => `${TOPIC_ROOT}/fleet/devices/+`,
  /**
   * The version the hub wants a model's channel (or one device of it, during a rollout or
   * after a halted one) to run, retained so `fleet status` can tell converged from pending.
   */
  desired: (model: string, channel: string, deviceId?: string) =>
    `${TOPIC_ROOT}/fleet/desired/${segment('model', model)}/${segment('channel', channel)}${deviceId === undefined ? '' : `/${segment('device id', deviceId)}`}`,
  allDesired: () => `${TOPIC_ROOT}/fleet/desired/#`,
} as const;

/** The device id in a `devices/{id}/...` topic, or undefined when the topic is not one. */
export function deviceIdOfTopic(topic: string): string | undefined {
  const parts = topic.split('/');
  if (parts.length < 4 || `${parts[0]}/${parts[1]}` !== TOPIC_ROOT || parts[2] !== 'devices') return undefined;
  return parts[3];
}

export const validName = (kind: string, value: string): string => segment(kind, value);
