export type { ModelRuntime, RuntimeInfo, RuntimeLoader, RuntimeRegistry } from './runtime/types.js';
