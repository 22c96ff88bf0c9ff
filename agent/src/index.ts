export { startAgent, type Agent, type AgentOptions } from './agent.js';
export { Predictor, runModel, selfTest, NoModelError, type LoadedModel, type PredictResult, type Served } from './serve/predictor.js';
export { startApi, type ApiOptions } from './serve/http.js';
export { StateStore, type AgentState, type UpdateStateId, updateStates } from './state/store.js';
export { MAX_TRANSITIONS } from './update/machine.js';
