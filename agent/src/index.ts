export { startAgent, type Agent, type AgentOptions } from './agent.js';
export { Predictor, runModel, selfTest, type LoadedModel, type PredictResult } from './serve/predictor.js';
export { StateStore, type AgentState, type UpdateStateId, updateStates } from './state/store.js';
export { MAX_TRANSITIONS } from './update/machine.js';
