// `think-lens serve`: flags into ServeOptions, one line with the URL once listening, and a clean
// stop on SIGINT/SIGTERM (the running generation is cancelled, connections closed, worker ended).
import type { LoadParams } from '../../core/protocol/rpc';
import { cachePrecisionFlag, deviceFlag, modelFlag, num, parse, quantizeFlag, UsageError, type CliIo } from '../cli/args';
import { ThinkServer } from './server';

export const SERVE_USAGE = `  think-lens serve --model DIR|FILE.gguf [--host 127.0.0.1] [--port 8080] [--name NAME]
                      [--api-key KEY] [--device cpu|webgpu|cuda] [--quantize int8|int4] [--cache-precision float16|float32]
                      [--prune-ratio R] [--queue N (default 4)] [--max-body-bytes N] [--verbose]
                      OpenAI-compatible API: /v1/models, /v1/chat/completions, /v1/completions, /metrics, /tokenize`;

export async function serve(args: string[], io: CliIo): Promise<number> {
  const { values: v } = parse(args, {
    model: { type: 'string' },
    host: { type: 'string' },
    port: { type: 'string' },
    name: { type: 'string' },
    'api-key': { type: 'string' },
    device: { type: 'string' },
    quantize: { type: 'string' },
    'cache-precision': { type: 'string' },
    'prune-ratio': { type: 'string' },
    'max-body-bytes': { type: 'string' },
    queue: { type: 'string' },
    verbose: { type: 'boolean' },
  });
  const load: LoadParams = { modelDir: modelFlag(v.model, 'serve') };
  const device = deviceFlag(v.device);
  if (device) load.device = device;
  const quantize = quantizeFlag(v.quantize);
  if (quantize) load.quantize = quantize;
  const cachePrecision = cachePrecisionFlag(v['cache-precision']);
  if (cachePrecision) load.cachePrecision = cachePrecision;
  const ratio = num('prune-ratio', v['prune-ratio'], { min: 0, max: 1 });
  if (ratio !== undefined) load.think = { ratio };
  const port = num('port', v.port, { int: true, min: 0 }) ?? 8080;
  if (port > 65535) throw new UsageError(`--port must be an integer in [0, 65535] (got "${v.port}")`);
  if (v['api-key'] !== undefined && !v['api-key'].trim()) throw new UsageError('--api-key must not be empty');

  const server = await ThinkServer.start({
    load,
    host: v.host ?? '127.0.0.1',
    port,
    name: v.name,
    apiKey: v['api-key'],
    queue: num('queue', v.queue, { int: true, min: 0 }),
    maxBodyBytes: num('max-body-bytes', v['max-body-bytes'], { int: true, min: 1 }),
    onLog: (level, message) => {
      if (level !== 'info' || v.verbose) io.stderr.write(`[${level}] ${message}\n`);
    },
  });
  const l = server.loaded;
  io.stdout.write(`think-lens: serving ${server.modelName} (${l.device}) at ${server.url}/v1\n`);
  // Resolves on the first signal; a second one while closing exits at once.
  let stop: (s: NodeJS.Signals) => void = () => {};
  const signal = await new Promise<NodeJS.Signals>((ok) => {
    stop = ok;
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  process.off('SIGINT', stop);
  process.off('SIGTERM', stop);
  const force = () => process.exit(130);
  process.once('SIGINT', force);
  process.once('SIGTERM', force);
  await server.close();
  process.off('SIGINT', force);
  process.off('SIGTERM', force);
  io.stderr.write(`think-lens: stopped (${signal})\n`);
  return 0;
}
