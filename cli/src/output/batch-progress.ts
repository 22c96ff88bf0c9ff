import cliProgress from 'cli-progress';
import type { BatchProgress } from '@edgeml/agent';

/**
 * Batch inference progress on stderr, by bytes of input read (the row count is not known
 * before the end). Nothing is drawn when stderr is not a terminal.
 */
export function batchProgress(model: string): { update: (p: BatchProgress) => void; stop: () => void } {
  if (!process.stderr.isTTY) return { update: () => undefined, stop: () => undefined };
  const started = performance.now();
  let bar: cliProgress.SingleBar | undefined;
  let first: BatchProgress | undefined;
  return {
    update(p) {
      first ??= p;
      const rate = Math.round((p.records - first.records) / Math.max((performance.now() - started) / 1000, 1e-3));
      if (!bar) {
        bar = new cliProgress.SingleBar(
          { stream: process.stderr, format: `batch ${model} [{bar}] {percentage}% | {rows} rows | {bad} bad | {rate} rows/s | ETA {eta_formatted}`, hideCursor: true, etaBuffer: 50 },
          cliProgress.Presets.shades_classic,
        );
        bar.start(p.totalBytes, 0, { rows: 0, bad: 0, rate: 0 });
      }
      bar.update(p.bytesRead, { rows: p.records, bad: p.bad, rate });
    },
    stop() {
      bar?.stop();
    },
  };
}
