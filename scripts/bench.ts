// `npm run bench`: our runtime and llama.cpp side by side, in one run, on random-weight models of
// real shapes, with the machine's memory bandwidth measured alongside. Prints a markdown table
// and writes bench-results/bench.json. Every configuration runs in its own child process.
//
//   npm run bench                        full plan (under 15 minutes on 2 cores)
//   npm run bench -- --quick             1k context, one model (smoke run)
//   npm run bench -- --quick --model DIR --out FILE   (what the test runs, on a tiny model)
//   --contexts 1024,4096,16384,32768     override the contexts of every model
//   --quantize int8|int4                 ours with MatMulNBits weights, llama.cpp on a Q8_0 / Q4_0 GGUF
//   --only smollm2-135m                  only these models
//   --cache-precision float32            ours with a float32 KV cache (default: the runtime's float16)
//   --shared-prefill-from N              from this context on (default 16384), our two ratios share
//                                        one prefill and decode step by step in turn with llama.cpp's
//                                        defaults, in two processes, so both meet the same load
//   --device webgpu|cuda                 ours on that provider (WebGPU keeps the cache on the GPU),
//                                        llama.cpp on its Vulkan / CUDA build with every layer
//                                        offloaded; the default plan is then the Llama-3.2-1B shape
//                                        at 8k and 32k context
//   --bandwidth-gbs N                    the GPU read bandwidth for the bound (default: measured
//                                        through WebGPU; required for a bound on cuda)
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import type { CachePrecision } from '../core/protocol/settings';
import { dirname, join, resolve } from 'node:path';
import { cachePrecisionFlag } from '../runtime/cli/args';
import { loadConfig } from '../runtime/model/config';
import { openModel } from '../runtime/model/weights';
import { combineBandwidth, measureBandwidth, type Bandwidth } from './bench/bandwidth';
import { runChild, startStepped, type SteppedChild } from './bench/child';
import { convertToGguf, type GgufFileType as AnyGgufFileType } from './bench/gguf';
import type { GpuBandwidth, GpuBandwidthJob } from './bench/gpuBandwidth';
import type { LlamaCppJob, LlamaCppResult } from './bench/llamacpp';
import { prepareModel, promptIds, type BenchModelSpec, type PreparedModel } from './bench/models';
import type { OursJob, OursRun } from './bench/ours';
import { boundFraction, computeRatios, renderMarkdown, type BenchFailure, type BenchReport, type BenchRow } from './bench/report';

/** The GGUF file types the benchmark runs llama.cpp on: the floats and the blocks our int8 / int4 match. */
type GgufFileType = Extract<AnyGgufFileType, 'F32' | 'F16' | 'Q8_0' | 'Q4_0'>;

const ROOT = resolve(__dirname, '..');
const SHARED = resolve(ROOT, '../shared/models');
const THREADS = 2;
const PRUNED_RATIO = 0.5;
/** From this context on, our two ratios share one prefill (see scripts/bench/ours.ts) and take turns with llama.cpp. */
const SHARED_PREFILL_FROM = 16384;
const CHILD_TIMEOUT_MS = 10 * 60 * 1000;

interface ModelPlan {
  spec: BenchModelSpec;
  contexts: number[];
  /** llama.cpp F16 GGUF (with llama.cpp's default F16 KV cache) at these contexts too */
  f16Contexts: number[];
}

interface Args {
  quick: boolean;
  modelDir?: string;
  out: string;
  contexts?: number[];
  /** ours with MatMulNBits weights; llama.cpp then runs a Q8_0 / Q4_0 GGUF */
  quantize?: 'int8' | 'int4';
  /** only these model names (smollm2-135m, qwen2.5-0.5b, llama-3.2-1b) */
  only?: string[];
  /** ours on this execution provider, llama.cpp on the matching GPU build */
  device?: 'webgpu' | 'cuda';
  /** GPU read bandwidth for the bound, GB/s */
  bandwidthGBps?: number;
  /** our KV cache's precision (absent: the runtime's default) */
  cachePrecision?: CachePrecision;
  /** from this context on: one shared prefill for our ratios, decoded in turn with llama.cpp's defaults */
  sharedPrefillFrom: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { quick: false, out: join(ROOT, 'bench-results/bench.json'), sharedPrefillFrom: SHARED_PREFILL_FROM };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${k} needs a value`);
      return v;
    };
    if (k === '--quick') a.quick = true;
    else if (k === '--model') a.modelDir = resolve(value());
    else if (k === '--out') a.out = resolve(value());
    else if (k === '--contexts') {
      a.contexts = value().split(',').map((s) => Number(s));
      if (a.contexts.some((c) => !(Number.isInteger(c) && c >= 64))) throw new Error(`--contexts: integers >= 64 separated by commas, got ${argv[i]}`);
    } else if (k === '--quantize') {
      const q = value();
      if (q !== 'int8' && q !== 'int4') throw new Error(`--quantize: int8 or int4, got ${q}`);
      a.quantize = q;
    } else if (k === '--only') a.only = value().split(',');
    else if (k === '--cache-precision') {
      a.cachePrecision = cachePrecisionFlag(value());
    }
    else if (k === '--shared-prefill-from') {
      a.sharedPrefillFrom = Number(value());
      if (!(Number.isInteger(a.sharedPrefillFrom) && a.sharedPrefillFrom >= 64)) throw new Error(`--shared-prefill-from: an integer >= 64, got ${argv[i]}`);
    } else if (k === '--device') {
      const d = value();
      if (d !== 'webgpu' && d !== 'cuda') throw new Error(`--device: webgpu or cuda, got ${d}`);
      a.device = d;
    } else if (k === '--bandwidth-gbs') {
      a.bandwidthGBps = Number(value());
      if (!(a.bandwidthGBps > 0)) throw new Error(`--bandwidth-gbs: a positive number, got ${argv[i]}`);
    } else throw new Error(`unknown option ${k} (known: --quick, --model DIR, --out FILE, --contexts LIST, --quantize int8|int4, --only NAMES, --cache-precision float16|float32, --shared-prefill-from N, --device webgpu|cuda, --bandwidth-gbs N)`);
  }
  return a;
}

/** Decode steps per context: enough for a stable mean, few at long contexts where each step is slow. */
function stepsFor(context: number, quick: boolean): number {
  if (quick) return 8;
  if (context <= 1024) return 32;
  if (context <= 4096) return 24;
  if (context <= 16384) return 32;
  return 8;
}

function readJson(path: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
}

function plan(args: Args): ModelPlan[] {
  if (args.modelDir) {
    // A ready model folder (the test's tiny model): benchmarked as it is, under its folder name.
    const spec: BenchModelSpec = { name: args.modelDir.split('/').filter(Boolean).pop()!, config: readJson(join(args.modelDir, 'config.json')) };
    return [{ spec, contexts: args.contexts ?? [1024], f16Contexts: [] }];
  }
  const smolDir = join(SHARED, 'smollm2-135m-instruct');
  const qwenShape = join(SHARED, 'shapes/qwen2.5-0.5b-instruct.json');
  if (!existsSync(join(smolDir, 'config.json'))) throw new Error(`${smolDir}/config.json not found: the benchmark's model shapes come from ../shared/models (or pass --model DIR)`);
  const smol: BenchModelSpec = { name: 'smollm2-135m', config: readJson(join(smolDir, 'config.json')), tokenizerDir: smolDir, preTokenizer: 'smollm' };
  if (args.quick) return [{ spec: smol, contexts: args.contexts ?? [1024], f16Contexts: [] }];
  if (args.device) {
    const llamaShape = join(SHARED, 'shapes/llama-3.2-1b-instruct.json');
    if (!existsSync(llamaShape)) throw new Error(`${llamaShape} not found: the GPU benchmark's model shape comes from ../shared/models`);
    const llama: BenchModelSpec = { name: 'llama-3.2-1b', config: readJson(llamaShape), tokenizerNote: 'llama-3.2-1b: random weights fed token ids (its tokenizer is not in ../shared/models)' };
    return [{ spec: llama, contexts: args.contexts ?? [8192, 32768], f16Contexts: [] }, { spec: smol, contexts: args.contexts ?? [1024, 16384], f16Contexts: [] }];
  }
  const plans: ModelPlan[] = [{ spec: smol, contexts: args.contexts ?? [1024, 4096, 16384], f16Contexts: [1024] }];
  if (existsSync(qwenShape))
    plans.push({
      spec: {
        name: 'qwen2.5-0.5b',
        config: readJson(qwenShape),
        tokenizerNote: 'qwen2.5-0.5b: its 151,936-token vocabulary does not fit the SmolLM2 tokenizer; both runtimes get token ids (ours without a tokenizer, the GGUF with a byte-level placeholder vocabulary)',
      },
      // 16k of prefill on this shape alone takes longer than the whole 15-minute budget on 2 cores.
      contexts: args.contexts ?? [1024, 4096],
      f16Contexts: [1024],
    });
  return plans;
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const args = parseArgs(process.argv.slice(2));
  const log = (s: string) => process.stderr.write(`[bench] ${s}\n`);
  /** llama.cpp's GGUF at our quantized weights' precision. */
  const quantFile: GgufFileType | null = args.quantize === 'int8' ? 'Q8_0' : args.quantize === 'int4' ? 'Q4_0' : null;
  const plans = plan(args).filter((p) => !args.only || args.only.includes(p.spec.name));
  if (!plans.length) throw new Error(`--only ${args.only?.join(',')}: no such model in this plan (smollm2-135m, qwen2.5-0.5b; with --device: llama-3.2-1b, smollm2-135m)`);
  const notes: string[] = [];
  const failures: BenchFailure[] = [];
  const rows: BenchRow[] = [];

  // Measured before the first run and after every run, so each run lies between two measurements;
  // the better of the two bounds its decode (see bandwidth.ts). rowAfter[i]: the measurement that
  // preceded rows[i]'s run.
  const measurements: Bandwidth[] = [];
  const rowAfter: number[] = [];
  const measure = async () => {
    log('measuring memory bandwidth ...');
    const b = await measureBandwidth(args.quick ? { bytesPerWorker: 64 * 1024 * 1024, passes: 2 } : {});
    log(`read ${b.readGBps.toFixed(1)} GB/s, copy ${b.copyGBps.toFixed(1)} GB/s`);
    measurements.push(b);
  };
  const push = (r: Omit<BenchRow, 'readGBps' | 'boundFraction'>) => {
    rows.push({ ...r, readGBps: 0, boundFraction: null });
    rowAfter.push(measurements.length - 1);
  };
  await measure();
  const gpu = args.device ? await gpuBandwidth(args, log) : undefined;
  if (gpu && gpu.readGBps === null) notes.push('no GPU bandwidth (pass --bandwidth-gbs): the bandwidth bound column is empty');

  for (const p of plans) {
    const fileTypes: GgufFileType[] = quantFile ? [quantFile] : p.f16Contexts.length ? ['F32', 'F16'] : ['F32'];
    const m: PreparedModel = args.modelDir
      ? await prepareExisting(args.modelDir, p.spec, fileTypes, log)
      : await prepareModel(p.spec, join(ROOT, '.cache/bench-models'), fileTypes, log);
    if (p.spec.tokenizerNote) notes.push(p.spec.tokenizerNote);
    const config = loadConfig(m.dir);
    const c = config;
    const beyond = p.contexts.filter((n) => n + 2 * stepsFor(n, args.quick) > c.contextLength);
    if (beyond.length)
      notes.push(`${p.spec.name}: contexts ${beyond.join(', ')} exceed max_position_embeddings ${c.contextLength}; the context limit is raised (random weights: extrapolation is harmless for speed)`);
    // Prompt ids avoid the low ids where special tokens usually sit.
    const lo = Math.min(100, c.vocabSize - 1);
    for (const n of p.contexts) {
      const steps = stepsFor(n, args.quick);
      const ids = promptIds(n, lo, c.vocabSize);
      const contextLength = Math.max(c.contextLength, n + 2 * steps + 8);
      const kvPerToken = c.layers * c.kvHeads * c.headDim * 2;

      const shared = n >= args.sharedPrefillFrom && !args.device;
      const ourJobs: OursJob[] = shared
        ? [{ method: 'shared-prefill', modelDir: m.dir, context: n, steps, ratio: PRUNED_RATIO, promptIds: ids, contextLength, quantize: args.quantize, cachePrecision: args.cachePrecision }]
        : [0, PRUNED_RATIO].map((ratio) => ({ method: 'engine' as const, modelDir: m.dir, context: n, steps, ratio, promptIds: ids, contextLength, quantize: args.quantize, device: args.device, cachePrecision: args.cachePrecision }));

      const pushOurs = (run: OursRun, method: string) => {
        for (const { ratio, result: x } of run.results)
          push({
            model: p.spec.name, context: n, runtime: 'ours', ratio, weights: args.quantize === 'int8' ? 'INT8' : args.quantize === 'int4' ? 'INT4' : 'F32', kv: x.cachePrecision === 'float16' ? 'F16' : 'F32', defaults: false, method,
            prefillTokensPerSec: x.prefillTokensPerSec, decodeMsPerToken: x.decodeMsPerToken, decodeSteps: x.decodeSteps,
            keyBytes: x.keyBytes, valueBytes: x.valueBytes, cacheBytesPerToken: x.cacheBytesPerToken, peakRssBytes: x.peakRssBytes,
            bytesPerToken: x.weightBytesPerToken + x.keyBytes + x.valueBytes,
            firstTokens: x.firstTokens, loadMs: x.loadMs,
          });
      };
      // llama.cpp as its users run it first (our weights, its default F16 cache, flash attention on),
      // then on an F32 cache (the same precision as our float32 cache setting); an F16 GGUF with its F16 cache where asked.
      const llamaRuns: { ft: GgufFileType; kv: 'F32' | 'F16'; defaults: boolean }[] = [
        { ft: quantFile ?? 'F32', kv: 'F16', defaults: true },
        { ft: quantFile ?? 'F32', kv: 'F32', defaults: false },
      ];
      if (p.f16Contexts.includes(n) && !quantFile) llamaRuns.push({ ft: 'F16', kv: 'F16', defaults: false });
      const llamaJob = ({ ft, kv, defaults }: (typeof llamaRuns)[number]): LlamaCppJob => ({
        ggufPath: m.gguf[ft]!,
        steps,
        threads: THREADS,
        promptIds: ids,
        kvType: kv,
        gpu: args.device === 'webgpu' ? 'vulkan' : args.device,
        ...(defaults ? { flashAttention: true } : {}),
      });
      const pushLlama = ({ ft, kv, defaults }: (typeof llamaRuns)[number], x: LlamaCppResult, method: string) => {
        const elem = kv === 'F32' ? 4 : 2;
        const keyBytes = (kvPerToken / 2) * (n + x.decodeSteps) * elem;
        // llama.cpp computes in the file's precision: F16 matrices are read as 2 bytes.
        const bytes = llamaWeightBytes(m.dir, ft) + 2 * keyBytes;
        push({
          model: p.spec.name, context: n, runtime: 'llama.cpp', ratio: null, weights: ft, kv, defaults, method,
          prefillTokensPerSec: x.prefillTokensPerSec, decodeMsPerToken: x.decodeMsPerToken, decodeSteps: x.decodeSteps,
          keyBytes, valueBytes: keyBytes, cacheBytesPerToken: kvPerToken * elem, peakRssBytes: x.peakRssBytes,
          bytesPerToken: bytes,
          firstTokens: x.firstTokens, loadMs: x.loadMs,
        });
      };
      const llamaMethod = (x: LlamaCppResult) => `node-llama-cpp ${x.backend}, flash attention ${x.flashAttention}`;

      if (shared) {
        // The headline pair decodes in turn, step by step, in two processes (see lockstep()).
        const defaults = llamaRuns.shift()!;
        log(`ours ${p.spec.name} ${n} tokens, ratios 0 and ${PRUNED_RATIO} (shared prefill), step by step in turn with llama.cpp's defaults ...`);
        try {
          const both = await lockstep(ourJobs[0], llamaJob(defaults), steps);
          pushOurs(both.ours, 'shared-prefill, in turn with llama.cpp defaults');
          pushLlama(defaults, both.llama, `${llamaMethod(both.llama)}, in turn with ours`);
        } catch (e) {
          failures.push({ model: p.spec.name, context: n, runtime: 'ours shared-prefill in turn with llama.cpp defaults', error: errorText(e) });
        }
        await measure();
      } else
        for (const job of ourJobs) {
          log(`ours ${p.spec.name} ${n} tokens, ratio ${job.ratio} ...`);
          try {
            pushOurs(await runChild<OursRun>(join(ROOT, 'scripts/bench/ours.ts'), job, CHILD_TIMEOUT_MS), job.method);
          } catch (e) {
            failures.push({ model: p.spec.name, context: n, runtime: `ours ${job.method}`, error: errorText(e) });
          }
          await measure();
        }

      for (const run of llamaRuns) {
        log(`llama.cpp ${p.spec.name} ${n} tokens, ${run.ft} weights, ${run.kv} KV${run.defaults ? ', flash attention on (its defaults)' : ''} ...`);
        try {
          const x = await runChild<LlamaCppResult>(join(ROOT, 'scripts/bench/llamacpp.ts'), llamaJob(run), CHILD_TIMEOUT_MS);
          pushLlama(run, x, llamaMethod(x));
        } catch (e) {
          failures.push({ model: p.spec.name, context: n, runtime: `llama.cpp ${run.ft}`, error: errorText(e) });
        }
        await measure();
      }
    }
  }
  rows.forEach((r, i) => {
    const [before, after] = [measurements[rowAfter[i]], measurements[rowAfter[i] + 1]];
    r.readGBps = Math.max(before.readGBps, after.readGBps);
    // The bandwidth decode is bound by: the GPU's for GPU runs, else the one measured around the run.
    r.boundFraction = boundFraction(r.bytesPerToken, r.decodeMsPerToken, gpu ? gpu.readGBps : r.readGBps);
  });
  const bandwidth = measurements.reduce(combineBandwidth);
  if (rows.some((r) => r.method.startsWith('shared-prefill')))
    notes.push(
      `from ${args.sharedPrefillFrom} tokens our two ratios share one prefill in one process: ThinK prunes a copy of the cache, then the two decode with their steps interleaved; one peak RSS (the prefill's) for both. ` +
        `That process and llama.cpp's (at its defaults) take turns step by step (ours at both ratios, then llama.cpp, alternating which goes first; each turn starts once the other process's threads are quiet), so both meet the same machine load; each times its own steps`,
    );
  if (args.quantize)
    notes.push(
      `--quantize ${args.quantize}: our linear layers use MatMulNBits ${args.quantize} weights (asymmetric, blocks of 32, float scale and zero point); llama.cpp runs a ${quantFile} GGUF our writer quantizes as ggml does (symmetric, blocks of 32, float16 scale): the same bits per weight, not the same codes`,
    );
  notes.push(`ours computes in float32 over its default float16 KV cache (stored as float16, widened in the graph); llama.cpp's defaults store F16 too; llama.cpp rows with an F32 KV are the footnote comparison; F16 / F16 is llama.cpp's default KV type on an F16 GGUF`);
  notes.push(`prompt: fixed pseudo-random token ids, identical for both runtimes; decode is greedy`);

  const ratios = computeRatios(rows, PRUNED_RATIO);
  const report: BenchReport = {
    startedAt: new Date(Date.now() - (performance.now() - t0)).toISOString(),
    totalSeconds: (performance.now() - t0) / 1000,
    quick: args.quick,
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', node: process.version, threads: THREADS },
    bandwidth,
    gpu,
    rows,
    ratios,
    failures,
    notes,
  };
  mkdirSync(dirname(args.out), { recursive: true });
  writeFileSync(args.out, JSON.stringify(report, null, 2) + '\n');
  process.stdout.write(renderMarkdown(report, PRUNED_RATIO) + '\n');
  log(`wrote ${args.out}`);
  if (failures.length) process.exitCode = 1;
}

/**
 * Ours (both ratios, one shared prefill) and llama.cpp, each in its own process, decoding in turn
 * step by step: on this shared machine the load moves within minutes, and two runs minutes apart
 * would compare the load as much as the runtimes. Prefills run one after the other, alone.
 */
async function lockstep(ourJob: OursJob, llamaJob: LlamaCppJob, steps: number): Promise<{ ours: OursRun; llama: LlamaCppResult }> {
  const ours = startStepped<OursRun>(join(ROOT, 'scripts/bench/ours.ts'), ourJob, CHILD_TIMEOUT_MS);
  let llama: SteppedChild<LlamaCppResult> | undefined;
  try {
    await ours.ready;
    llama = startStepped<LlamaCppResult>(join(ROOT, 'scripts/bench/llamacpp.ts'), llamaJob, CHILD_TIMEOUT_MS);
    await llama.ready;
    // Each turn starts once the other process has gone quiet (onnxruntime spins a core for
    // about 30 ms after each run: measured, it slowed llama.cpp's next step by a fifth).
    let last: SteppedChild<unknown> = llama;
    for (let i = 0; i < steps; i++)
      for (const turn of i % 2 ? [llama, ours] : [ours, llama]) {
        await last.quiet();
        await turn.step();
        last = turn;
      }
    return { ours: await ours.finish(), llama: await llama.finish() };
  } catch (e) {
    ours.kill();
    llama?.kill();
    throw e;
  }
}

/** The GPU read bandwidth the bound uses: --bandwidth-gbs, else measured through WebGPU (not possible on cuda). */
async function gpuBandwidth(args: Args, log: (s: string) => void): Promise<NonNullable<BenchReport['gpu']>> {
  const device = args.device!;
  if (args.bandwidthGBps) return { device, readGBps: args.bandwidthGBps, source: 'given by --bandwidth-gbs' };
  if (device !== 'webgpu') return { device, readGBps: null, source: 'not measured: only WebGPU tensors can stay on the GPU from Node' };
  log('measuring GPU read bandwidth through WebGPU ...');
  const g = await runChild<GpuBandwidth>(join(ROOT, 'scripts/bench/gpuBandwidth.ts'), { bytes: args.quick ? 64 << 20 : 1 << 30, passes: 5 } satisfies GpuBandwidthJob, CHILD_TIMEOUT_MS);
  return { device, readGBps: g.readGBps, source: `measured: row sums of a ${g.bytes >> 20} MiB tensor kept on the GPU, best of ${g.passes}` };
}

/** A caller-provided model folder: used in place; its GGUF files are written next to it. */
async function prepareExisting(dir: string, spec: BenchModelSpec, fileTypes: GgufFileType[], log: (s: string) => void): Promise<PreparedModel> {
  const gguf: PreparedModel['gguf'] = {};
  for (const ft of fileTypes) {
    const path = join(dir, `model-${ft.toLowerCase()}.gguf`);
    log(`converting ${dir} to GGUF ${ft} ...`);
    convertToGguf(dir, path, { fileType: ft });
    gguf[ft] = path;
  }
  return { spec, dir, gguf, contextLength: loadConfig(dir).contextLength };
}

/**
 * Bytes of weights llama.cpp reads per decode step: matrices at the file's precision (Q8_0: 34
 * bytes per 32 weights, Q4_0: 18), 1-D tensors at F32; tied heads read the embedding once. Rows
 * that do not split into blocks of 32 (kept F16 by the writer) are counted at the file's type:
 * every benchmark shape's rows do split.
 */
function llamaWeightBytes(dir: string, ft: GgufFileType): number {
  const c = loadConfig(dir);
  const w = openModel(dir);
  const matrixParams = w.parameters - oneDimParams(c);
  const elem = { F32: 4, F16: 2, Q8_0: 34 / 32, Q4_0: 18 / 32 }[ft];
  const skip = w.tiedHead ? 0 : c.vocabSize * c.hiddenSize; // an untied embedding is only gathered
  return (matrixParams - skip) * elem + oneDimParams(c) * 4;
}

function oneDimParams(c: ReturnType<typeof loadConfig>): number {
  const bias = c.attentionBias ? (c.queryHeads + 2 * c.kvHeads) * c.headDim : 0;
  return c.layers * (2 * c.hiddenSize + bias) + c.hiddenSize;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench: ${errorText(e)}\n`);
  process.exit(1);
});
