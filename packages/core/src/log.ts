/**
 * A small structured logger: one JSON object per line on stderr, so daemons' logs can be
 * shipped as they are and tests can read them. Pass a Logger in; never import a global one.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type Logger = Record<LogLevel, (msg: string, fields?: Record<string, unknown>) => void>;

const order: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export function createLogger(opts: { name: string; level?: LogLevel; write?: (line: string) => void }): Logger {
  const min = order[opts.level ?? (process.env.EDGEML_LOG_LEVEL as LogLevel | undefined) ?? 'info'] ?? order.info;
  const write = opts.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const make = (level: LogLevel) => (msg: string, fields?: Record<string, unknown>) => {
    if (order[level] < min) return;
    write(JSON.stringify({ t: new Date().toISOString(), level, name: opts.name, msg, ...fields }));
  };
  return { debug: make('debug'), info: make('info'), warn: make('warn'), error: make('error') };
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
