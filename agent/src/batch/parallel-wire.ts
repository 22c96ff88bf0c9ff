/** What the batch runner and its workers send each other (parallel.ts, model-worker.ts). */
import type { ArtifactFormat } from '@edgeml/core';
import type { WireError } from './codec.js';
import type { DecoderOptions } from './decode.js';
import type { DataFormat, ModelStamp } from './formats.js';

/**
 * Where a worker thread finds the runtimes: a module (by URL) whose named export returns the
 * registry. Functions cannot cross to a thread; a module the worker imports itself can.
 */
export interface RuntimeSource {
  module: string;
  export: string;
}

/** What a worker loads its interpreter from: given when it starts, before any run is known. */
export interface WorkerLoad {
  runtimes: RuntimeSource;
  format: ArtifactFormat;
  artifact: Uint8Array;
}

/** How a run decodes, batches and encodes: the first message a worker gets for it. */
export interface RunSetup {
  codec: DecoderOptions & { inFormat: DataFormat; model: ModelStamp; outSize: number };
  batchSize: number;
}

export type WorkerSetup = WorkerLoad & RunSetup;

export interface BlockRequest {
  seq: number;
  bytes: Uint8Array;
  /** Start afresh after this many lines; absent: carry on from the block before, on this worker. */
  lineBase?: number;
  /** The input's columns, once known. */
  columns?: string[];
  last: boolean;
  /**
   * Output buffers this thread has written out, for the worker to encode into again: buffers
   * go round instead of being allocated per block, since every allocation of a few MB counts as
   * external memory and buys a full garbage collection soon after, on both threads.
   */
  spare?: ArrayBuffer[];
}

export type BlockReply =
  | {
      seq: number;
      ok: true;
      /** The block's output rows, encoded. */
      out: Uint8Array;
      /** The request's input buffer, given back to be read into again. */
      input: ArrayBuffer;
      /** The errors file's lines for the block's bad records. */
      errText: string;
      predicted: number;
      /** Records read (in fail mode: up to the fatal one). */
      records: number;
      /** The first bad records, and how many there were. */
      bad: { line: number; error: string }[];
      badCount: number;
      fatal?: { line: number; error: string };
      /** When the block held the header: its columns and the output header. */
      columns?: string[];
      header?: string;
    }
  | { seq: number; ok: false; error: WireError };
