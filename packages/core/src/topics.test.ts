import { describe, expect, it } from 'vitest';
import { deviceIdOfTopic, topics, validName } from './topics.js';

describe('topics', () => {
  it('puts every topic under edgeml/v1', () => {
    expect(topics.release('iris', 'stable')).toBe('edgeml/v1/releases/iris/stable');
    expect(topics.status('dev-1')).toBe('edgeml/v1/devices/dev-1/status');
    expect(topics.telemetry('dev_1.a')).toBe('edgeml/v1/devices/dev_1.a/telemetry');
    expect(topics.artifactChunk('ab12', 4096, 3)).toBe('edgeml/v1/artifacts/ab12/4096/3');
    expect(topics.artifactChunks('ab12', 4096)).toBe('edgeml/v1/artifacts/ab12/4096/+');
    expect(topics.allStatuses()).toBe('edgeml/v1/devices/+/status');
  });

  it.each([
    ['a separator', 'a/b'],
    ['a single-level wildcard', 'a+'],
    ['a multi-level wildcard', '#'],
    ['a space', 'a b'],
    ['nothing', ''],
    ['more than 128 characters', 'x'.repeat(129)],
  ])('refuses a segment holding %s', (_, bad) => {
    expect(() => topics.status(bad)).toThrow(/invalid device id/);
    expect(() => topics.release(bad, 'stable')).toThrow(/invalid model/);
    expect(() => topics.release('iris', bad)).toThrow(/invalid channel/);
    expect(() => validName('model', bad)).toThrow(/invalid model/);
  });

  it('accepts a segment of exactly 128 allowed characters', () => {
    expect(validName('model', 'a'.repeat(128))).toBe('a'.repeat(128));
  });

  it('finds the device id in a device topic', () => {
    expect(deviceIdOfTopic('edgeml/v1/devices/dev-7/status')).toBe('dev-7');
    expect(deviceIdOfTopic(topics.telemetry('pi.kitchen'))).toBe('pi.kitchen');
  });

  it.each([
    ['a release topic', 'edgeml/v1/releases/iris/stable'],
    ['another root', 'other/v1/devices/dev-7/status'],
    ['another protocol version', 'edgeml/v2/devices/dev-7/status'],
    ['a topic too short to name a device', 'edgeml/v1/devices'],
  ])('finds no device id in %s', (_, topic) => {
    expect(deviceIdOfTopic(topic)).toBeUndefined();
  });
});
