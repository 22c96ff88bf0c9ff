/**
 * How the agent's process is started: the launcher's shebang (agent/bin/edgeml-agent.js) and
 * the systemd unit install-service writes both apply these, because V8 and glibc read them at
 * start-up only (v8.setFlagsFromString afterwards does not resize the heap, and glibc reads its
 * tunables before main).
 *
 * V8 flag: under load V8 grows each young-generation semi-space to 16 MB and keeps the pages,
 * which was most of the agent's RSS growth; capped at 1 MB, scavenges run more often on a heap
 * that is mostly long-lived anyway. `--expose-gc` lets the agent collect once when a burst of
 * requests ends (agent/src/idle-gc.ts), which gives back what the burst left behind.
 */
export const AGENT_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1', '--optimize-for-size', '--expose-gc'];

/**
 * Environment: glibc's malloc keeps freed memory of compiler threads (V8 compiles the TFLite
 * interpreter's WASM on background threads) and of request buffers in its heaps, fragmented,
 * and raises its mmap threshold to the size of any freed mapping, so that later buffers of that
 * size come from the heap too. A fixed threshold keeps every block of 16 KiB or more mmapped and
 * returned when freed: an agent with the digits model loaded measured ~68 MB instead of ~88 MB
 * (docs/BENCHMARKS.md, footprint). The hub's launcher sets the same (cli/src/launcher-env.ts).
 */
export const AGENT_ENV: Readonly<Record<string, string>> = { MALLOC_MMAP_THRESHOLD_: '16384' };
