/**
 * Who may do what on the embedded broker. Every client authenticates: the hub with its own
 * secret, devices with the credentials enrolment gave them, operators (fleet status) with a
 * read-only secret. A device may publish only under its own `devices/{id}/` subtree, may read
 * releases, artifacts and its own commands, and nothing of other devices.
 */
import { TOPIC_ROOT } from '@edgeml/core';

export type Identity = { role: 'hub' } | { role: 'operator' } | { role: 'device'; deviceId: string };

/**
 * The client id a user name may connect with: the user name itself, or the user name, a colon
 * and any suffix (a second connection of the same identity, e.g. `edgeml-hub:1234-99`). User
 * names never contain a colon, so no client can take over the session of another identity
 * (MQTT gives a new connection with a taken client id the old one's place).
 */
export function clientIdAllowed(username: string, clientId: string): boolean {
  return clientId === username || clientId.startsWith(`${username}:`);
}

/** Devices may retain only their status and presence: the broker keeps one of each per device. */
export function mayRetain(who: Identity, topic: string): boolean {
  if (who.role !== 'device') return who.role === 'hub';
  const own = `${TOPIC_ROOT}/devices/${who.deviceId}/`;
  return topic === `${own}status` || topic === `${own}presence`;
}

export function mayPublish(who: Identity, topic: string): boolean {
  if (who.role === 'hub') return true;
  if (who.role === 'operator') return false;
  return topic.startsWith(`${TOPIC_ROOT}/devices/${who.deviceId}/`) && !topic.includes('+') && !topic.includes('#');
}

export function maySubscribe(who: Identity, filter: string): boolean {
  if (who.role === 'hub') return true;
  const parts = filter.split('/');
  if (`${parts[0]}/${parts[1]}` !== TOPIC_ROOT) return false;
  const [, , area, a, b, ...rest] = parts;
  if (who.role === 'operator') {
    // Read-only: device statuses and presence, the hub's analyses of them and the desired state, nothing else.
    if (area === 'fleet') return (a === 'devices' && b !== undefined && b !== '#' && rest.length === 0) || a === 'desired';
    return area === 'devices' && a !== undefined && a !== '#' && (b === 'status' || b === 'presence') && rest.length === 0;
  }
  switch (area) {
    case 'releases':
      return true;
    case 'artifacts':
      return a !== undefined && a !== '#' && a !== '+';
    case 'devices':
      // Only its own subtree: never a wildcard in the device level.
      return a === who.deviceId;
    default:
      return false;
  }
}
