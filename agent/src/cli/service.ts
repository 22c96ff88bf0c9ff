/**
 * `edgeml-agent install-service` (and `edgeml agent install-service`): a systemd unit for the agent. It starts at boot, restarts
 * whenever it stops, runs as an unprivileged user, and may write only its data directory.
 */
import { realpath } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { loadAgentConfig, userError, writeFileAtomic } from '@edgeml/core';

export interface UnitOptions {
  node: string;
  /** The script node runs and the arguments before `start` (e.g. the edgeml-agent launcher). */
  launcher: string[];
  config: string;
  user: string;
  dataDir: string;
  /** Other files the agent reads (root key, config): they decide whether /home stays visible. */
  reads: string[];
  apiPort: number;
  /** Variables the process needs before it starts (what the launcher's shebang would set). */
  env?: Readonly<Record<string, string>>;
  docs?: string;
}

/** systemd expands `%` specifiers and splits on whitespace: escape and quote accordingly. */
function arg(value: string): string {
  const escaped = value.replace(/%/g, '%%');
  return /[\s"'\\]/.test(escaped) ? `"${escaped.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"` : escaped;
}

const under = (path: string, dir: string) => path === dir || path.startsWith(`${dir}/`);

export function renderUnit(u: UnitOptions): string {
  const all = [u.node, ...u.launcher.filter((a) => a.startsWith('/')), u.config, u.dataDir, ...u.reads];
  // ProtectHome=yes hides /home entirely (ReadWritePaths cannot reopen it); keep it read-only
  // when the agent or its files live there, as on a development board.
  const home = all.some((p) => ['/home', '/root', '/run/user'].some((d) => under(p, d))) ? 'read-only' : 'yes';
  const state = under(u.dataDir, '/var/lib') && u.dataDir !== '/var/lib' ? u.dataDir.slice('/var/lib/'.length) : undefined;
  const lowPort = u.apiPort > 0 && u.apiPort < 1024;
  return [
    '# Written by install-service (edgeml-agent or edgeml agent); regenerate it rather than editing by hand.',
    '[Unit]',
    'Description=edgeml device agent (model updates and local inference)',
    ...(u.docs ? [`Documentation=file://${u.docs}`] : []),
    'Wants=network-online.target',
    'After=network-online.target',
    // Never give up restarting: a device has no operator at hand to reset a start limit.
    'StartLimitIntervalSec=0',
    '',
    '[Service]',
    'Type=simple',
    `User=${u.user}`,
    `Group=${u.user}`,
    `ExecStart=${[u.node, ...u.launcher, 'start', '--config', u.config].map(arg).join(' ')}`,
    'Restart=always',
    'RestartSec=2',
    // The agent stops cleanly on SIGTERM (it publishes an offline status); give it time to.
    'KillSignal=SIGTERM',
    'TimeoutStopSec=20',
    'Environment=NODE_ENV=production',
    ...Object.entries(u.env ?? {}).map(([k, v]) => `Environment=${arg(`${k}=${v}`)}`),
    `WorkingDirectory=${arg(u.dataDir)}`,
    ...(state ? [`StateDirectory=${arg(state)}`, 'StateDirectoryMode=0750'] : []),
    'StandardOutput=journal',
    'StandardError=journal',
    'SyslogIdentifier=edgeml-agent',
    '',
    '# Hardening: read-only system, one writable directory, no privileges to gain.',
    'NoNewPrivileges=yes',
    'ProtectSystem=strict',
    `ReadWritePaths=${arg(u.dataDir)}`,
    `ProtectHome=${home}`,
    'PrivateTmp=yes',
    'PrivateDevices=yes',
    'ProtectKernelTunables=yes',
    'ProtectKernelModules=yes',
    'ProtectKernelLogs=yes',
    'ProtectControlGroups=yes',
    'ProtectClock=yes',
    'ProtectHostname=yes',
    'ProtectProc=invisible',
    'RestrictSUIDSGID=yes',
    'RestrictRealtime=yes',
    'RestrictNamespaces=yes',
    'LockPersonality=yes',
    'RemoveIPC=yes',
    'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6',
    'SystemCallArchitectures=native',
    'SystemCallFilter=@system-service',
    'SystemCallErrorNumber=EPERM',
    // Not MemoryDenyWriteExecute: V8's JIT and WebAssembly need writable executable memory.
    ...(lowPort ? ['AmbientCapabilities=CAP_NET_BIND_SERVICE', 'CapabilityBoundingSet=CAP_NET_BIND_SERVICE'] : ['CapabilityBoundingSet=', 'AmbientCapabilities=']),
    'UMask=0027',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

/** Who starts the agent: the launcher script (resolved to its real path) and its leading arguments. */
export interface ServiceLauncher {
  script: string;
  args: string[];
  /** Node options before the script (V8 heap limits the launcher's shebang would give). */
  nodeFlags?: readonly string[];
  /** Environment the launcher's shebang would give (glibc reads it before Node starts). */
  env?: Readonly<Record<string, string>>;
  docs?: string;
}

export async function installService(o: { config: string; user: string; out: string }, launcher: ServiceLauncher): Promise<void> {
  if (!/^[a-z_][a-z0-9_-]{0,31}$/i.test(o.user)) throw userError('bad-usage', `--user "${o.user}" is not a valid user name`);
  if (o.user === 'root') throw userError('bad-usage', 'the agent must not run as root; create a system user for it (see docs/DEVICE.md)');
  const configPath = resolve(o.config);
  const config = await loadAgentConfig(configPath);
  const out = resolve(o.out);
  if (!out.endsWith('.service')) throw userError('bad-usage', `--out ${out} must name a .service file`);
  const unit = renderUnit({
    node: process.execPath,
    launcher: [...(launcher.nodeFlags ?? []), await realpath(launcher.script), ...launcher.args],
    config: configPath,
    user: o.user,
    dataDir: config.dataDir,
    reads: [config.rootKey],
    apiPort: config.api.port,
    ...(launcher.env ? { env: launcher.env } : {}),
    ...(launcher.docs ? { docs: launcher.docs } : {}),
  });
  try {
    await writeFileAtomic(out, unit, 0o644);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
      throw userError('permission-denied', `cannot write ${out}: ${code}; run with sudo, or write the unit elsewhere with --out`);
    }
    throw e;
  }
  const name = basename(out);
  process.stdout.write(
    `wrote ${out}\n` +
      `next:\n` +
      `  sudo useradd --system --home-dir ${config.dataDir} --shell /usr/sbin/nologin ${o.user}   # if the user does not exist\n` +
      `  sudo install -d -o ${o.user} -g ${o.user} -m 0750 ${config.dataDir}\n` +
      `  sudo systemctl daemon-reload && sudo systemctl enable --now ${name}\n` +
      `  journalctl -u ${name} -f\n`,
  );
}
