/**
 * The `edgeml-agent` command: the device package's own entry point. Flags are parsed with
 * node:util (no CLI framework to load on a small device); each subcommand declares its flags
 * once, and help, defaults, required flags and value checks all come from that declaration.
 * Exit codes: 0 success, 1 a failed check, 2 bad usage, one line on stderr for a user error.
 */
import { parseArgs } from 'node:util';
import { isEdgemlError, userError } from '@edgeml/core';
import { batchCommand, enrollCommand, installServiceCommand, predictCommand, startCommand, type BatchFlags, type EnrollFlags } from './commands.js';
import type { PredictOptions } from './predict.js';

interface Flag {
  help: string;
  /** Default: a string value. */
  kind?: 'string' | 'boolean' | 'int';
  required?: boolean;
  default?: string | number;
  choices?: readonly string[];
}

interface Subcommand {
  help: string;
  flags: Record<string, Flag>;
  run(values: Record<string, unknown>, ctx: { script: string }): Promise<void>;
}

const PROG = 'edgeml-agent';

const commands: Record<string, Subcommand> = {
  enroll: {
    help: "exchange a one-time token for this device's credentials and write its config",
    flags: {
      hub: { help: 'the hub HTTP API, e.g. http://hub.local:8750', required: true },
      token: { help: 'one-time token from `edgeml hub token`, as printed (<secret>.<root key fingerprint>)', required: true },
      'device-id': { help: "this device's id", required: true },
      model: { help: 'the model this device serves', required: true },
      channel: { help: 'release channel to follow', default: 'stable' },
      'data-dir': { help: "the agent's data directory", default: '/var/lib/edgeml' },
      config: { help: 'where to write the agent config', default: 'agent.json' },
      'api-port': { help: 'local prediction API port', kind: 'int', default: 8760 },
      'root-fingerprint': { help: "fingerprint of the hub's root key, when the token does not carry it" },
      ca: { help: 'CA certificate to trust for an https:// hub' },
      'broker-ca': { help: 'CA certificate to trust for an mqtts:// broker' },
    },
    run: (v) => enrollCommand(v as unknown as EnrollFlags, PROG),
  },
  start: {
    help: 'run the agent until interrupted (SIGINT or SIGTERM)',
    flags: { config: { help: 'agent config (JSON) written by enroll', required: true } },
    run: (v) => startCommand(v as { config: string }),
  },
  predict: {
    help: 'predict one row with the installed model or through a running agent',
    flags: {
      'agent-dir': { help: "the agent's data directory: use the model it has installed" },
      url: { help: "a running agent's local API, e.g. http://127.0.0.1:8760" },
      token: { help: 'bearer token of the agent API (default: $EDGEML_API_TOKEN)' },
      row: { help: 'the row as a JSON array, or comma-separated numbers, in feature order' },
      features: { help: 'the row as a JSON object of named features' },
      json: { help: 'print the prediction as JSON', kind: 'boolean' },
    },
    run: (v) => predictCommand(v as PredictOptions),
  },
  batch: {
    help: 'offline batch inference over a CSV or JSON-lines file with the installed model; resumable, needs no network',
    flags: {
      in: { help: 'input file (.csv with a header row, or .jsonl)', required: true },
      out: { help: 'output file (.csv or .jsonl; default format: the input format)', required: true },
      'agent-dir': { help: "the agent's data directory", required: true },
      'on-error': { help: 'bad rows: fail (stop, exit 1) or skip (report them in OUT.errors.jsonl)', default: 'fail', choices: ['fail', 'skip'] },
      'batch-size': { help: 'rows per runtime call', kind: 'int', default: 256 },
      workers: { help: 'worker threads, each with its own interpreter (default: the number of cores; 1 on a device short of memory)', kind: 'int' },
      resume: { help: 'continue an interrupted run (OUT.progress.json) instead of starting over', kind: 'boolean' },
      'in-format': { help: 'input format when the file name does not say', choices: ['csv', 'jsonl'] },
      'out-format': { help: 'output format when the file name does not say', choices: ['csv', 'jsonl'] },
      json: { help: 'print the summary as JSON', kind: 'boolean' },
    },
    run: (v) => batchCommand(v as unknown as BatchFlags),
  },
  'install-service': {
    help: 'write a systemd unit that runs the agent at boot and restarts it when it stops',
    flags: {
      config: { help: 'agent config (JSON)', default: '/etc/edgeml/agent.json' },
      user: { help: 'system user the agent runs as', default: 'edgeml' },
      out: { help: 'where to write the unit', default: '/etc/systemd/system/edgeml-agent.service' },
    },
    run: (v, ctx) => installServiceCommand(v as { config: string; user: string; out: string }, ctx.script),
  },
};

const camel = (flag: string): string => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((c) => c.length));
  return [
    `Usage: ${PROG} <command> [flags]`,
    '',
    'The edgeml device agent: installs signed model releases, serves predictions locally, reports to the hub.',
    '',
    'Commands:',
    ...Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.help}`),
    '',
    `Run ${PROG} <command> --help for its flags.`,
    '',
  ].join('\n');
}

function commandUsage(name: string, c: Subcommand): string {
  const label = (f: string, d: Flag): string => `--${f}${d.kind === 'boolean' ? '' : d.choices ? ` <${d.choices.join('|')}>` : ' <value>'}`;
  const entries = Object.entries(c.flags);
  const width = Math.max(...entries.map(([f, d]) => label(f, d).length));
  return [
    `Usage: ${PROG} ${name} [flags]`,
    '',
    c.help,
    '',
    'Flags:',
    ...entries.map(([f, d]) => `  ${label(f, d).padEnd(width)}  ${d.help}${d.required ? ' (required)' : ''}${d.default !== undefined ? ` (default: ${String(d.default)})` : ''}`),
    '',
  ].join('\n');
}

/** Parse and check a subcommand's flags into camelCase values with defaults applied. */
export function parseFlags(name: string, c: Subcommand, args: string[]): Record<string, unknown> {
  const options: Record<string, { type: 'string' | 'boolean' }> = { help: { type: 'boolean' } };
  for (const [f, d] of Object.entries(c.flags)) options[f] = { type: d.kind === 'boolean' ? 'boolean' : 'string' };
  let values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  try {
    ({ values } = parseArgs({ args, options, strict: true, allowPositionals: false }));
  } catch (e) {
    throw userError('bad-usage', `${name}: ${(e as Error).message}`);
  }
  const out: Record<string, unknown> = {};
  if (values.help) out.help = true;
  for (const [f, d] of Object.entries(c.flags)) {
    const raw = values[f];
    if (raw === undefined) {
      if (d.required && !values.help) throw userError('bad-usage', `${name}: --${f} is required`);
      if (d.default !== undefined) out[camel(f)] = d.default;
      continue;
    }
    if (d.kind === 'boolean') {
      out[camel(f)] = raw;
      continue;
    }
    const text = String(raw);
    if (d.choices && !d.choices.includes(text)) throw userError('bad-usage', `${name}: --${f} must be one of ${d.choices.join(', ')}, not "${text}"`);
    if (d.kind === 'int') {
      const n = Number(text);
      if (!/^\d+$/.test(text) || !Number.isSafeInteger(n)) throw userError('bad-usage', `${name}: --${f} must be a whole number, not "${text}"`);
      out[camel(f)] = n;
    } else {
      out[camel(f)] = text;
    }
  }
  return out;
}

/** Run the command line; `script` is the launcher's path (systemd units start the agent through it). */
export async function runAgentCli(argv: string[], script: string): Promise<number> {
  const [name, ...rest] = argv;
  try {
    if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
      process.stdout.write(usage());
      return name === undefined ? 2 : 0;
    }
    if (name === '--version' || name === '-v') {
      process.stdout.write(`${await packageVersion()}\n`);
      return 0;
    }
    const command = Object.hasOwn(commands, name) ? commands[name] : undefined;
    if (!command) throw userError('bad-usage', `unknown command "${name}"; commands: ${Object.keys(commands).join(', ')}`);
    const values = parseFlags(name, command, rest);
    if (values.help) {
      process.stdout.write(commandUsage(name, command));
      return 0;
    }
    await command.run(values, { script });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (isEdgemlError(e)) {
      process.stderr.write(`${PROG}: ${e.message}\n`);
      return e.exitCode;
    }
    process.stderr.write(`${PROG}: internal error (this is a bug; please report it):\n${(e as Error)?.stack ?? String(e)}\n`);
    return 70;
  }
}

async function packageVersion(): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  // Compiled, this module is dist/cli/main.js; in the device package's bundle it is
  // dist/index.js. The package root is the nearest folder up with our manifest.
  for (let dir = new URL('./', import.meta.url), i = 0; i < 4; dir = new URL('../', dir), i++) {
    const text = await readFile(new URL('package.json', dir), 'utf8').catch(() => undefined);
    const pkg = text === undefined ? undefined : (JSON.parse(text) as { name?: string; version?: string });
    if (pkg?.name === '@edgeml/agent' && pkg.version) return pkg.version;
  }
  return 'unknown';
}
