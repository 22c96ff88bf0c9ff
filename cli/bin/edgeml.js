#!/usr/bin/env -S MALLOC_MMAP_THRESHOLD_=16384 node
// The variable keeps glibc from holding freed multi-MB buffers (cli/src/launcher-env.ts says why).
// Thin launcher: the compiled CLI lives in dist/ (built by the root `prepare` step).
import { main } from '../dist/main.js';

await main(process.argv);
