import type { Task } from '@edgeml/core';
import type { QuantizationReport } from '@edgeml/ml';

const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
const num = (v: number) => String(Number(v.toPrecision(4)));

/** The quantize report as lines: calibration and range rule, then the test split comparison. */
export function formatQuantizationReport(r: QuantizationReport, format: string, task: Task): string {
  const t = r.test;
  const lines = [
    `calibration: ${r.calibration.sample}; range rule: ${r.calibration.rangeRule}`,
    `test split, ${t.rows} rows: ${t.figure} float ${t.float.toFixed(4)}, ${format} ${t.quantized.toFixed(4)}`,
    `  ${pct(t.disagreement)} of rows disagree (${t.disagreementRule})`,
    `  largest ${task === 'classification' ? 'probability' : 'value'} difference ${num(t.maxDifference)}${t.maxDifferenceRow > 0 ? ` (test row ${t.maxDifferenceRow})` : ''}`,
    `  ${pct(t.outsideCalibration)} of rows have an input outside the calibration range${t.clippedInputs !== undefined ? `, ${pct(t.clippedInputs)} beyond the int8 input's range` : ''}` +
      `${t.clippedOutputs !== undefined ? `; ${t.clippedOutputs} at the edge of the int8 output range` : ''}`,
  ];
  return lines.join('\n') + '\n';
}
