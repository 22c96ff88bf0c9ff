import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { userError } from '@edgeml/core';
import { formatTfliteInfo, readTflite } from '@edgeml/tflite';
import { printJson } from './options.js';

/** `edgeml inspect`: what a .tflite file holds, from any converter. */
export async function inspect(file: string, o: { json?: boolean; tensors?: boolean }): Promise<void> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(resolve(file));
  } catch (e) {
    throw userError('file-missing', `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const info = readTflite(bytes);
  if (o.json) printJson(info);
  else process.stdout.write(formatTfliteInfo(info, { tensors: o.tensors ?? false }) + '\n');
}
