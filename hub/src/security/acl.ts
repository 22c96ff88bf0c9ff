/**
 * Who may do what on the embedded broker. Every client authenticates: the hub with its own
 * secret, devices with the credentials enrolment gave them, operators (fleet status) with a
 * read-only secret. A device may publish only under its own `devices/{id}/` subtree, may read
 * releases, artifacts and its own commands, and nothing of other devices.
 */
import { TOPIC_ROOT } from '@edgeml/core';

export type Identity = { role: 'hub' } | { role: 'operator' } | { role: 'device'; deviceId: string };

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
