import { readFile } from 'node:fs/promises';
import { isAbsolute, dirname, resolve } from 'node:path';
import type { z } from 'zod';
import { userError } from './errors.js';
import { AgentConfigSchema, describeZodError, type AgentConfig } from './schemas.js';

/** Read a JSON file and parse it with a schema; every failure is one clear user error. */
export async function readJsonFile<T extends z.ZodTypeAny>(path: string, schema: T, what: string): Promise<z.infer<T>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw userError('file-missing', `cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw userError('bad-json', `${what} ${path} is not valid JSON: ${(e as Error).message}`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw userError('bad-config', `${what} ${path}: ${describeZodError(parsed.error)}`);
  return parsed.data;
}

/** Agent config; relative paths in it are relative to the config file, as a user expects. */
export async function loadAgentConfig(path: string): Promise<AgentConfig> {
  const config = await readJsonFile(path, AgentConfigSchema, 'agent config');
  const base = dirname(resolve(path));
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  const broker = config.broker.ca ? { ...config.broker, ca: abs(config.broker.ca) } : config.broker;
  return { ...config, broker, dataDir: abs(config.dataDir), rootKey: abs(config.rootKey) };
}
