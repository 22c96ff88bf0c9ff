/** `edgeml agent install-service`: the agent's unit, started through this CLI. */
import { installService as install } from '@edgeml/agent';
import { LAUNCHER_ENV } from '../launcher-env.js';
import { cliBin, repoFile } from '../paths.js';

export const installService = (o: { config: string; user: string; out: string }): Promise<void> =>
  install(o, { script: cliBin(), args: ['agent'], env: LAUNCHER_ENV, docs: repoFile('docs/DEVICE.md') });
