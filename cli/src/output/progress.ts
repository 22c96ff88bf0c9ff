import cliProgress from 'cli-progress';
import type { EpochLog } from '@edgeml/ml';

/**
 * A training progress bar on stderr (stdout stays clean for --json). cli-progress draws nothing
 * when stderr is not a terminal, so CI logs are not filled with redraws.
 */
export function trainingProgress(): { onEpoch: (log: EpochLog, max: number) => void; stop: () => void } {
  let bar: cliProgress.SingleBar | undefined;
  let last = 0;
  return {
    onEpoch(log, max) {
      if (!bar) {
        bar = new cliProgress.SingleBar(
          { stream: process.stderr, format: 'training [{bar}] epoch {value}/{total}  loss {loss}  val_loss {valLoss}', hideCursor: true },
          cliProgress.Presets.shades_classic,
        );
        bar.start(max, 0, { loss: '-', valLoss: '-' });
      }
      last = log.epoch;
      bar.update(log.epoch, { loss: log.loss.toFixed(4), valLoss: log.valLoss.toFixed(4) });
    },
    stop() {
      // Early stopping ends before the epoch budget: show the bar as complete where it stopped.
      bar?.setTotal(last);
      bar?.stop();
    },
  };
}
