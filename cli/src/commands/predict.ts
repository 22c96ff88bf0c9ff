/** `edgeml predict`: the agent's predict command, with model directories besides the installed model. */
import { predict as predictWith, type PredictOptions } from '@edgeml/agent';
import { loadDeviceModel } from './device-model.js';

export const predict = (o: PredictOptions): Promise<void> => predictWith(o, loadDeviceModel, ['--agent-dir', '--model']);
