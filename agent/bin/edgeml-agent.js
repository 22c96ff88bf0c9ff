#!/usr/bin/env -S MALLOC_MMAP_THRESHOLD_=16384 node --max-semi-space-size=1 --optimize-for-size --expose-gc
// The variable and the flag bound the agent's memory (agent/src/cli/node-flags.ts says why); `env -S` passes them.
// The device package's command. Thin: the compiled agent lives in dist/.
import { fileURLToPath } from 'node:url';
import { runAgentCli } from '../dist/index.js';

process.exitCode = await runAgentCli(process.argv.slice(2), fileURLToPath(import.meta.url));
