export { main } from './main.js';
export { spawnAgent, waitFor, type AgentProcess } from './commands/fleet-procs.js';
export { deviceRuntimes } from './runtimes.js';
