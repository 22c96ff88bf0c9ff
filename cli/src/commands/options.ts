import { userError, type Task } from '@edgeml/core';
import type { Architecture } from '@edgeml/ml';

/** `8x8x1` -> [8, 8, 1]. */
export function parseShape(text: string | undefined): number[] | undefined {
  if (text === undefined) return undefined;
  const dims = text.split('x').map(Number);
  if (dims.length === 0 || dims.some((d) => !Number.isInteger(d) || d <= 0)) {
    throw userError('bad-usage', `--input-shape "${text}" is not a shape like 8x8x1`);
  }
  return dims;
}

export function parseTask(text: string | undefined): Task | undefined {
  if (text === undefined) return undefined;
  if (text !== 'classification' && text !== 'regression') throw userError('bad-usage', `--task must be classification or regression, not "${text}"`);
  return text;
}

export function parseArch(text: string): Architecture {
  if (text !== 'mlp' && text !== 'cnn') throw userError('bad-usage', `--arch must be mlp or cnn, not "${text}"`);
  return text;
}

export const printJson = (value: unknown) => process.stdout.write(JSON.stringify(value, null, 2) + '\n');
