// Where the shared real models live (../shared/models from the repo root), and a silent log.
import { resolve } from 'node:path';
import type { LogFn } from '../../runtime/session';

export const SHARED_MODELS = resolve(__dirname, '../../../shared/models');
export const STORIES = resolve(SHARED_MODELS, 'stories260k');
export const SMOLLM2 = resolve(SHARED_MODELS, 'smollm2-135m-instruct');

export const quietLog: LogFn = () => {};
