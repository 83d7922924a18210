// Creates the onnxruntime session for a model graph on the requested execution provider,
// falling back to CPU with one clear log line when that provider cannot start.
import './float16Mapping';
import { env, InferenceSession } from 'onnxruntime-node';
import type { Device } from '../../core/protocol/settings';
import type { ModelGraph } from '../graph/model';

export type LogFn = (level: 'info' | 'warn' | 'error', message: string) => void;

export interface OpenedSession {
  session: InferenceSession;
  device: Device;
  fallback?: string;
}

// onnxruntime's own logger would print raw C++ errors (a missing CUDA library, say) to stderr;
// every failure also comes back as an exception, which we turn into one clear line.
env.logLevel = 'fatal';

/** `graph` may depend on the provider it will run on (the model graph does; see GraphOptions.gpu). */
export async function openSession(graph: ModelGraph | ((device: Device) => ModelGraph), modelDir: string, device: Device, log: LogFn): Promise<OpenedSession> {
  const graphFor = typeof graph === 'function' ? graph : () => graph;
  const create = (provider: Device) => {
    const g = graphFor(provider);
    return InferenceSession.create(g.bytes, options(provider, g));
  };
  const options = (provider: Device, graph: ModelGraph): InferenceSession.SessionOptions => ({
    executionProviders: [provider],
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3, // errors only: warnings would interleave with the CLI's output
    // Initializers are external data inside the model's own .safetensors files, or in the weight
    // file a quantized load writes (graph/weightFile.ts).
    extra: { session: { model_external_initializers_file_folder_path: graph.externalFolder ?? modelDir } },
  });
  if (device !== 'cpu') {
    try {
      return { session: await create(device), device };
    } catch (e) {
      const why = firstLine(e);
      const fallback = `${device} execution provider could not start (${why}); running on CPU`;
      log('warn', fallback);
      return { session: await create('cpu'), device: 'cpu', fallback };
    }
  }
  return { session: await create('cpu'), device: 'cpu' };
}

/** An error's first line, short enough for one log line. */
export function firstLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n')[0].trim().slice(0, 300);
}
