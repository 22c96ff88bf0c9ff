import { readFile } from 'node:fs/promises';
import { parse } from 'csv-parse/sync';
import { userError } from '@edgeml/core';

/** A CSV file as text cells, each row with the 1-based line it came from (for error messages). */
export interface CsvTable {
  file: string;
  header: string[];
  rows: string[][];
  lines: number[];
}

export async function readCsvFile(file: string): Promise<CsvTable> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw userError('file-missing', `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return parseCsv(text, file);
}

export function parseCsv(text: string, file = '<input>'): CsvTable {
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parse(text, { info: true, relax_column_count: true, skip_empty_lines: true, trim: true, bom: true }) as unknown as typeof records;
  } catch (e) {
    throw userError('bad-csv', `${file}: ${(e as Error).message}`);
  }
  const first = records[0];
  if (!first) throw userError('empty-file', `${file}: the file is empty; a header row and data rows are needed`);
  const header = first.record;
  const seen = new Set<string>();
  header.forEach((name, i) => {
    if (name === '') throw userError('bad-header', `${file}:${first.info.lines}: column ${i + 1} has an empty name`);
    if (seen.has(name)) throw userError('bad-header', `${file}:${first.info.lines}: column "${name}" appears twice in the header`);
    seen.add(name);
  });
  const rows: string[][] = [];
  const lines: number[] = [];
  for (const { record, info } of records.slice(1)) {
    if (record.length !== header.length) {
      throw userError('ragged-row', `${file}:${info.lines}: row has ${record.length} fields, the header has ${header.length}`);
    }
    rows.push(record);
    lines.push(info.lines);
  }
  if (rows.length === 0) throw userError('empty-file', `${file}: the file has a header but no data rows`);
  return { file, header, rows, lines };
}
