/**
 * Environment the `edgeml` launcher (bin/edgeml.js) sets through its `#!/usr/bin/env -S` line,
 * before Node starts, because glibc reads it only then.
 *
 * A hub streams multi-MB artifacts through 64 KiB chunks and request buffers. glibc raises its
 * mmap threshold to the size of any freed mapping, after which buffers of that size come from
 * its heap and, fragmented, are not given back: a hub measured one step of ~35 MB over its
 * first publishes and stayed there. A fixed threshold keeps every buffer of 16 KiB or more
 * mmapped and returned when freed (28 publishes of 17 MB: 1.08x of the RSS after the first,
 * against 1.16-1.27x without; docs/BENCHMARKS.md). tfjs allocates inside WASM memory, so training
 * does not pay for it.
 */
export const LAUNCHER_ENV = { MALLOC_MMAP_THRESHOLD_: '16384' } as const;
