#!/usr/bin/env -S node --max-semi-space-size=1
// The flag caps V8's young generation (agent/src/cli/node-flags.ts says why); `env -S` passes it.
// The device package's command. Thin: the compiled agent lives in dist/.
import { fileURLToPath } from 'node:url';
import { runAgentCli } from '../dist/index.js';

process.exitCode = await runAgentCli(process.argv.slice(2), fileURLToPath(import.meta.url));
