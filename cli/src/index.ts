export { main } from './main.js';
export { spawnAgent, enrollAgent, waitFor, type AgentProcess, type SpawnOptions } from './commands/fleet-procs.js';
export { deviceRuntimes } from './runtimes.js';
export { LAUNCHER_ENV } from './launcher-env.js';
