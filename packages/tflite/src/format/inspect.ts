/**
 * The human-readable view behind `edgeml inspect MODEL.tflite`: size breakdown, inputs and
 * outputs with their quantization, operators with options, and every tensor.
 */
import type { OptionValue, TfliteModelInfo, TfliteQuantization, TfliteTensor } from '@edgeml/runtime';

export interface FormatOptions {
  /** List every tensor (default true). */
  tensors?: boolean;
}

export function formatTfliteInfo(info: TfliteModelInfo, options: FormatOptions = {}): string {
  const lines: string[] = [];
  const { fileBytes, weightBytes, overheadBytes } = info.size;
  lines.push(`TFLite model (schema v${info.schemaVersion})${info.description ? `: ${info.description}` : ''}`);
  lines.push(
    `size: ${bytes(fileBytes)} = weights ${bytes(weightBytes)} (${pct(weightBytes, fileBytes)}) + fixed overhead ${bytes(overheadBytes)}`,
  );
  const ops = info.operatorCodes.map((c) => `${c.name} v${c.version}`).join(', ');
  lines.push(`operator codes: ${ops || '(none)'}`);
  for (const s of info.signatures) lines.push(`signature "${s.key}": subgraph ${s.subgraph}, in [${s.inputs.join(', ')}], out [${s.outputs.join(', ')}]`);
  for (const m of info.metadata) lines.push(`metadata "${m.name}": buffer ${m.buffer} (${bytes(info.buffers[m.buffer]?.bytes ?? 0)})`);

  info.subgraphs.forEach((sg, i) => {
    lines.push('');
    lines.push(`subgraph ${i}${sg.name ? ` "${sg.name}"` : ''}: ${sg.tensors.length} tensors, ${sg.operators.length} operators`);
    for (const ix of sg.inputs) lines.push(`  input  ${tensorLine(sg.tensors[ix]!)}`);
    for (const ix of sg.outputs) lines.push(`  output ${tensorLine(sg.tensors[ix]!)}`);
    lines.push('  operators:');
    const w = String(Math.max(0, sg.operators.length - 1)).length;
    for (const op of sg.operators) {
      const opts = Object.entries(op.options).map(([k, v]) => `${k}=${optionText(v)}`).join(' ');
      lines.push(
        `    ${String(op.index).padStart(w)}  ${`${op.op} v${op.version}`.padEnd(24)} (${op.inputs.join(',')}) -> (${op.outputs.join(',')})${opts ? `  ${opts}` : ''}`,
      );
    }
    if (options.tensors ?? true) {
      lines.push('  tensors:');
      for (const t of sg.tensors) lines.push(`    ${tensorLine(t)}`);
    }
  });
  return lines.join('\n');
}

function tensorLine(t: TfliteTensor): string {
  const parts = [`#${t.index}`, t.name || '(unnamed)', t.type.toLowerCase(), `[${t.shape.join(',')}]`];
  if (t.dataBytes > 0) parts.push(bytes(t.dataBytes));
  if (t.quantization) parts.push(quantText(t.quantization));
  if (t.isVariable) parts.push('variable');
  return parts.join('  ');
}

function quantText(q: TfliteQuantization): string {
  if (q.scale.length === 1) return `q: scale ${num(q.scale[0]!)} zp ${q.zeroPoint[0] ?? 0}`;
  if (q.scale.length === 0) return `q: min ${q.min?.map(num).join(',')} max ${q.max?.map(num).join(',')}`;
  const lo = Math.min(...q.scale);
  const hi = Math.max(...q.scale);
  const zps = new Set(q.zeroPoint);
  return `q: ${q.scale.length} scales on axis ${q.quantizedDimension} (${num(lo)}..${num(hi)}) zp ${[...zps].join('/')}`;
}

function optionText(v: OptionValue): string {
  return Array.isArray(v) ? `[${v.join(',')}]` : typeof v === 'number' ? num(v) : String(v);
}

function num(v: number): string {
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 1e-3 && Math.abs(v) < 1e4 ? String(Number(v.toPrecision(6))) : v.toExponential(4);
}

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

function pct(part: number, whole: number): string {
  return whole > 0 ? `${((100 * part) / whole).toFixed(1)}%` : '0%';
}
