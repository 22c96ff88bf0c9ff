export { startHub, type Hub, type HubOptions } from './hub.js';
export { Registry, type VersionRecord, type DeviceRecord } from './registry/registry.js';
export { ArtifactStore } from './store/artifacts.js';
export { startEmbeddedBroker, type EmbeddedBroker } from './broker/embedded.js';
export { buildRelease, signRelease, chunkHashes, DEFAULT_CHUNK_SIZE, type ReleaseInput } from './release/manifest.js';
export { runPipeline, packageArtifact, type Candidate, type PipelineOptions } from './release/pipeline.js';
export { evaluateGates, type GateLimits, type GateVerdict, type Measured } from './release/gates.js';
