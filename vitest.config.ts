import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/*/src/**/*.test.ts', 'hub/src/**/*.test.ts', 'agent/src/**/*.test.ts', 'cli/src/**/*.test.ts', 'test/src/**/*.test.ts'],
    // Model training and multi-process system tests are slow on a 2-core machine by nature.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Two cores: run test files two at a time; tfjs and child processes are CPU-bound.
    maxWorkers: 2,
    pool: 'forks',
  },
});
