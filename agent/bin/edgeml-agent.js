#!/usr/bin/env node
// The device package's command. Thin: the compiled agent lives in dist/.
import { fileURLToPath } from 'node:url';
import { runAgentCli } from '../dist/index.js';

process.exitCode = await runAgentCli(process.argv.slice(2), fileURLToPath(import.meta.url));
