/**
 * The sidecar that makes a batch run resumable: `<out>.progress.json`, written atomically after
 * the output and error files are fsynced. It says how many input records are done and how
 * many bytes of each file hold their results, so a resumed run truncates both files to those
 * offsets (dropping anything written after the checkpoint) and skips the finished records.
 */
import { readFile, rm } from 'node:fs/promises';
import { z } from 'zod';
import { userError, writeFileAtomic } from '@edgeml/core';

export const CheckpointSchema = z.object({
  schema: z.literal(1),
  input: z.object({ path: z.string(), size: z.number(), mtimeMs: z.number(), format: z.enum(['csv', 'jsonl']) }),
  output: z.object({ format: z.enum(['csv', 'jsonl']), bytes: z.number().int().nonnegative() }),
  errors: z.object({ bytes: z.number().int().nonnegative() }),
  model: z.object({ name: z.string(), version: z.union([z.number(), z.string()]), sha256: z.string() }),
  /** Input records consumed (predicted or reported bad), in file order. */
  records: z.number().int().nonnegative(),
  predicted: z.number().int().nonnegative(),
  bad: z.number().int().nonnegative(),
  updatedAt: z.string(),
  /**
   * Where the input's next record starts, when the run stopped at a record boundary it knows
   * the offset of: a run with workers seeks there instead of reading the finished records again.
   */
  resumeAt: z.object({ offset: z.number().int().nonnegative(), lines: z.number().int().nonnegative(), columns: z.array(z.string()) }).optional(),
});
export type Checkpoint = z.infer<typeof CheckpointSchema>;

export const checkpointPath = (out: string) => `${out}.progress.json`;

/** The checkpoint of an interrupted run, or undefined when there is none. */
export async function readCheckpoint(out: string): Promise<Checkpoint | undefined> {
  const path = checkpointPath(out);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  let parsed;
  try {
    parsed = CheckpointSchema.safeParse(JSON.parse(text));
  } catch {
    parsed = undefined;
  }
  if (!parsed?.success) throw userError('bad-checkpoint', `${path} is not a batch progress file this version can read; delete it to start over`);
  return parsed.data;
}

export const writeCheckpoint = (out: string, c: Checkpoint) => writeFileAtomic(checkpointPath(out), JSON.stringify(c, null, 2) + '\n');

export const removeCheckpoint = (out: string) => rm(checkpointPath(out), { force: true });
