// What crosses between the engine host (engineHost.ts) and the engine's thread (engineWorker.ts):
// request and event messages, the layout of the shared control block, and errors in a form that
// survives structured cloning. Kept apart from the worker so the host never loads the engine
// (onnxruntime and the model code) on the thread that serves requests.
import type { GenerateParams, LoadParams, MasksNotification, ProgressNotification, RuntimeStats, TokenNotification } from '../../core/protocol/rpc';
import { ContextOverflowError, ModelError, StaleCacheError } from '../model/errors';

export type LogLevel = 'info' | 'warn' | 'error';

/** Slots of the shared Int32Array (workerData.control). */
export const Control = {
  /** 1 while the current generation should stop. */
  cancel: 0,
  /** Tokens generated so far by the current generation (decode progress). */
  generated: 1,
  /** Prompt tokens prefilled so far by the current generation. */
  processed: 2,
  size: 3,
} as const;

export type HostMessage =
  | { id: number; type: 'load'; params: LoadParams }
  | { id: number; type: 'unload' }
  | { id: number; type: 'generate'; params: GenerateParams }
  | { id: number; type: 'countTokens'; texts: string[] }
  | { id: number; type: 'snapshot' };

/** An error as it crosses the thread boundary (classes do not survive structured cloning). */
export interface WorkerError {
  name: string;
  message: string;
  stack?: string;
  file?: string;
  fault?: string;
  promptTokens?: number;
  contextLength?: number;
  /** StaleCacheError: the handle asked for and the one held (null: none). */
  asked?: string | null;
  held?: string | null;
}

export type WorkerMessage =
  | { type: 'result'; id: number; value: unknown }
  | { type: 'error'; id: number; error: WorkerError }
  | { type: 'token'; n: TokenNotification }
  | { type: 'progress'; p: ProgressNotification }
  | { type: 'masks'; m: MasksNotification }
  | { type: 'log'; level: LogLevel; message: string };

export type Snapshot = Pick<RuntimeStats, 'model' | 'device' | 'think' | 'cache' | 'masks'> | null;

export function serializeError(e: unknown): WorkerError {
  if (e instanceof ModelError) return { name: e.name, message: e.message, stack: e.stack, file: e.file, fault: e.fault };
  if (e instanceof ContextOverflowError)
    return { name: e.name, message: e.message, stack: e.stack, promptTokens: e.promptTokens, contextLength: e.contextLength };
  if (e instanceof StaleCacheError) return { name: e.name, message: e.message, stack: e.stack, asked: e.asked, held: e.held };
  if (e instanceof Error) return { name: e.name, message: e.message, stack: e.stack };
  return { name: 'Error', message: String(e) };
}

/** Rebuilds the runtime's own error classes so callers can map them (RPC codes, CLI exit codes). */
export function deserializeError(e: WorkerError): Error {
  let err: Error;
  if (e.name === 'ModelError' && e.file !== undefined && e.fault !== undefined) err = new ModelError(e.file, e.fault);
  else if (e.name === 'ContextOverflowError' && e.promptTokens !== undefined && e.contextLength !== undefined)
    err = new ContextOverflowError(e.promptTokens, e.contextLength);
  else if (e.name === 'StaleCacheError' && e.asked !== undefined && e.held !== undefined) err = new StaleCacheError(e.asked, e.held);
  else {
    err = new Error(e.message);
    err.name = e.name;
  }
  // Keep the worker's stack: it is where the fault is (shown only with THINK_LENS_DEBUG=1).
  if (e.stack) err.stack = e.stack;
  return err;
}
