// `npm run profile`: where a decode step's time goes. Prefills a prompt through the runtime's own
// parts (graph, Runner, KvCache, ThinK), then decodes with onnxruntime's profiler on and prints the
// kernel time per op type, per step, as a markdown table (the README's profile comes from it).
//   npm run profile -- --model DIR [--context 1024] [--steps 40] [--ratio 0.5]
//     [--quantize int8|int4] [--cache-precision float16|float32]
// The profiler's own overhead inflates small kernels; compare op types within one run.
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { InferenceSession } from 'onnxruntime-node';
import { DEFAULT_CACHE_PRECISION, DEFAULT_THINK, type CachePrecision } from '../core/protocol/settings';
import { KvCache } from '../runtime/cache/kvcache';
import { flushIfDue, pruneAfterPrefill } from '../runtime/cache/think';
import { Runner } from '../runtime/engine/runner';
import { buildModelGraph } from '../runtime/graph/model';
import { WeightFile } from '../runtime/graph/weightFile';
import { openModel } from '../runtime/model/weights';

function flag(name: string, fallback?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? process.argv[i + 1] : fallback;
  if (v === undefined) throw new Error(`--${name} is required`);
  return v;
}

interface ProfileEvent {
  cat: string;
  name: string;
  ts: number;
  dur: number;
  args?: { op_name?: string };
}

async function main(): Promise<void> {
  const dir = resolve(flag('model'));
  const n = Number(flag('context', '1024'));
  const steps = Number(flag('steps', '40'));
  const ratio = Number(flag('ratio', '0.5'));
  const quantize = flag('quantize', 'int8');
  const precision = flag('cache-precision', DEFAULT_CACHE_PRECISION) as CachePrecision;
  const weights = openModel(dir);
  const config = { ...weights.config, contextLength: Math.max(weights.config.contextLength, n + steps + 1) };
  const weightFile = WeightFile.create();
  const graph = buildModelGraph(weights, { weightBits: quantize === 'int4' ? 4 : 8, weightFile, cachePrecision: precision });
  const layout = { compressed: false, bits: null, precision } as const;
  const open = (profile: boolean) =>
    InferenceSession.create(graph.bytes, {
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'all',
      enableProfiling: profile,
      profileFilePrefix: join(tmpdir(), `think-lens-profile-${process.pid}`),
      extra: { session: { model_external_initializers_file_folder_path: weightFile.folder } },
    });
  const prefill = new Runner(await open(false), config, layout);
  const cache = new KvCache(config.layers, config.kvHeads, config.headDim, n + steps, layout);
  const querySquares = Array.from({ length: config.layers }, () => new Float64Array(config.kvHeads * config.headDim));
  const ids = Array.from({ length: n }, (_, i) => 100 + ((i * 7919) % (config.vocabSize - 100)));
  for (let at = 0; at < n; at += 512) await prefill.step(cache, ids.slice(at, at + 512), { windowFrom: n - DEFAULT_THINK.window, querySquares });
  const think = { ...DEFAULT_THINK, ratio };
  pruneAfterPrefill(cache, querySquares, think, config, steps);
  await prefill.session.release();

  const runner = new Runner(await open(true), config, layout);
  for (let i = 0; i < steps; i++) {
    await runner.step(cache, [100 + i]);
    flushIfDue(cache, think);
  }
  // onnxruntime-node returns no file name: the profiler writes its prefix plus a timestamp.
  await runner.session.endProfiling();
  const file = join(tmpdir(), readdirSync(tmpdir()).find((f) => f.startsWith(`think-lens-profile-${process.pid}`) && f.endsWith('.json'))!);
  const events = JSON.parse(readFileSync(file, 'utf8')) as ProfileEvent[];
  rmSync(file, { force: true });
  await runner.session.release();
  weightFile.dispose();

  // The first steps warm up; the rest are averaged.
  const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run');
  const warm = Math.min(3, runs.length - 1);
  const from = runs[warm].ts;
  const kernels = events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time') && e.ts >= from);
  const measured = runs.length - warm;
  const byOp = new Map<string, { us: number; nodes: number }>();
  for (const k of kernels) {
    const op = k.args?.op_name ?? '?';
    const e = byOp.get(op) ?? { us: 0, nodes: 0 };
    e.us += k.dur;
    e.nodes++;
    byOp.set(op, e);
  }
  const total = [...byOp.values()].reduce((s, e) => s + e.us, 0) / measured;
  const run = runs.slice(warm).reduce((s, e) => s + e.dur, 0) / measured;
  console.log(`${weights.config.architecture} ${config.layers} layers, ${n}-token context, ThinK ${ratio}, ${quantize} weights, ${precision} cache; ${measured} profiled steps`);
  console.log(`per step: ${(run / 1000).toFixed(2)} ms in the session (profiled), ${(total / 1000).toFixed(2)} ms in kernels, ${(kernels.length / measured).toFixed(0)} kernels\n`);
  console.log('| op type | ms per step | share | kernels per step |');
  console.log('| --- | ---: | ---: | ---: |');
  for (const [op, e] of [...byOp].sort((a, b) => b[1].us - a[1].us))
    console.log(`| ${op} | ${(e.us / measured / 1000).toFixed(2)} | ${((100 * e.us) / measured / total).toFixed(0)}% | ${(e.nodes / measured).toFixed(0)} |`);
}

main().catch((e) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
