// Our runtime, one configuration per process: load the model through the real Engine, prefill a
// prompt of `context` token ids, then decode `steps` tokens greedily. Reports what the Engine
// measures itself (prefill tokens/s, decode ms/token), the cache's key and value bytes after
// decode, and the process's peak RSS.
//
// Long contexts ('shared-prefill'): a prefill of 16k tokens takes minutes on 2 cores (attention is
// quadratic), and the Engine cannot re-prune a cache it already holds, so one process drives the
// Engine's own parts (Runner, KvCache, pruneAfterPrefill) in the Engine's order: chunked prefill
// with full keys, then a copy of the cache that ThinK prunes, then decode of both caches with
// their steps interleaved (ratio 0, ratio r, then ratio r, ratio 0, ...). Interleaving puts both ratios under the
// same load: on a shared machine the memory bandwidth drifts by tens of percent within minutes,
// which back-to-back runs would read as a speedup or a slowdown. Peak RSS is taken before the
// copy, so it is the prefill's (shared by both ratios: its full-key cache sets it either way).
import { DEFAULT_PREFILL_CHUNK, Engine } from '../../runtime/engine/engine';
import { KvCache } from '../../runtime/cache/kvcache';
import { buildModelGraph } from '../../runtime/graph/model';
import { WeightFile } from '../../runtime/graph/weightFile';
import { Runner } from '../../runtime/engine/runner';
import { openSession } from '../../runtime/engine/session';
import { flushIfDue, pruneAfterPrefill } from '../../runtime/cache/think';
import { openModel } from '../../runtime/model/weights';
import { DEFAULT_CACHE_PRECISION, DEFAULT_THINK, type CachePrecision, type Device } from '../../core/protocol/settings';
import { argmax } from '../fidelity/metrics';
import { childMain, isEntry, peakMemory, runSteps, type Stepper } from './child';

export interface OursJob {
  /** 'engine': one ratio through Engine.generate; 'shared-prefill': ratio 0 then `ratio`, one prefill */
  method: 'engine' | 'shared-prefill';
  modelDir: string;
  /** prompt tokens */
  context: number;
  /** decode steps */
  steps: number;
  /** ThinK key-channel prune ratio */
  ratio: number;
  promptIds: number[];
  /** the Engine's context limit (set above max_position_embeddings for random-weight long runs) */
  contextLength: number;
  /** linear-layer weights quantized at load (MatMulNBits); absent: float32 */
  quantize?: 'int8' | 'int4';
  /** execution provider ('engine' method only); absent: cpu */
  device?: Device;
  /** the KV cache's precision; absent: the runtime's default */
  cachePrecision?: CachePrecision;
}

export interface OursResult {
  prefillTokensPerSec: number;
  decodeMsPerToken: number;
  decodeSteps: number;
  keyBytes: number;
  valueBytes: number;
  fullKeyBytes: number;
  peakRssBytes: number;
  /** greedy tokens after the prompt (the first one is checked against llama.cpp) */
  firstTokens: number[];
  loadMs: number;
  /** weight bytes the decode reads per token as computed (float32 in our graph) */
  weightBytesPerToken: number;
  /** how the cache stored keys and values */
  cachePrecision: CachePrecision;
  /** every cache byte (keys, values, codes, indices) per cached token, after decode (CacheStats.bytesPerToken) */
  cacheBytesPerToken: number;
  /** an unpruned float16 cache's bytes per token (llama.cpp's default cache) */
  fp16FullBytesPerToken: number;
}

export interface OursRun {
  /** one entry per ratio measured: [job.ratio] for 'engine', [0, job.ratio] for 'shared-prefill' */
  results: { ratio: number; result: OursResult }[];
}

export async function runOurs(job: OursJob): Promise<OursRun> {
  if (job.method === 'shared-prefill') return runSteps(await prepareSharedPrefill(job), job.steps);
  return { results: [{ ratio: job.ratio, result: await runEngine(job) }] };
}

/**
 * Weight bytes one decode step reads: tied heads read the embedding once as the LM head, untied
 * ones lm_head (one embedding row is noise). Float32 in our graph; quantized linear layers read
 * their codes plus a float scale and a zero point per block of 32.
 */
function decodeWeightBytes(modelDir: string, quantize?: 'int8' | 'int4'): number {
  const w = openModel(modelDir);
  const c = w.config;
  const read = w.parameters - (w.tiedHead ? 0 : c.vocabSize * c.hiddenSize);
  if (!quantize) return read * 4;
  const bits = quantize === 'int8' ? 8 : 4;
  const norms = (2 * c.layers + 1) * c.hiddenSize + (c.attentionBias ? c.layers * (c.queryHeads + 2 * c.kvHeads) * c.headDim : 0);
  const matrices = read - norms;
  return matrices * (bits / 8 + 4 / 32 + bits / 8 / 32) + norms * 4;
}

async function runEngine(job: OursJob): Promise<OursResult> {
  const engine = await Engine.load(
    { modelDir: job.modelDir, contextLength: job.contextLength, think: { ratio: job.ratio }, quantize: job.quantize, device: job.device, cachePrecision: job.cachePrecision },
    (level, msg) => level !== 'info' && process.stderr.write(`[ours ${level}] ${msg}\n`),
  );
  // CPU figures must never be reported as the GPU's.
  const device = job.device ?? 'cpu';
  if (engine.loaded.device !== device) throw new Error(`asked for ${device}, running on ${engine.loaded.device}: ${engine.loaded.fallback ?? ''}`);
  const noop = () => undefined;
  const r = await engine.generate(
    { requestId: 'bench', prompt: { ids: job.promptIds }, maxNewTokens: job.steps, sampling: { temperature: 0 } },
    { onToken: noop, onProgress: noop, onMasks: noop, isCancelled: () => false },
  );
  await engine.dispose();
  return {
    prefillTokensPerSec: r.timings.prefillTokensPerSec,
    decodeMsPerToken: r.timings.decodeMsPerToken,
    decodeSteps: r.ids.length,
    keyBytes: r.cache.keyBytes,
    valueBytes: r.cache.valueBytes,
    fullKeyBytes: r.cache.fullKeyBytes,
    peakRssBytes: peakMemory().peakRssBytes,
    firstTokens: r.ids.slice(0, 4),
    loadMs: r.timings.loadMs,
    weightBytesPerToken: decodeWeightBytes(job.modelDir, job.quantize),
    cachePrecision: engine.loaded.model.cachePrecision,
    cacheBytesPerToken: r.cache.bytesPerToken,
    fp16FullBytesPerToken: r.cache.fp16FullBytesPerToken,
  };
}

/**
 * The shared-prefill job up to its first decode step: loaded, prefilled, pruned. Each step then
 * decodes one token at both ratios; the benchmark can take turns with llama.cpp between steps.
 */
export async function prepareSharedPrefill(job: OursJob): Promise<Stepper<OursRun>> {
  if (job.method !== 'shared-prefill') throw new Error(`only the shared-prefill method decodes step by step, not ${job.method}`);
  const t0 = performance.now();
  const weights = openModel(job.modelDir);
  const config = { ...weights.config, contextLength: job.contextLength };
  const weightBits = job.quantize === 'int8' ? 8 : job.quantize === 'int4' ? 4 : undefined;
  // Quantized weights are written to a weight file the session reads, as the Engine's load does.
  const weightFile = weightBits ? WeightFile.create() : undefined;
  const precision = job.cachePrecision ?? DEFAULT_CACHE_PRECISION;
  const layout = { compressed: false, bits: null, precision } as const;
  const opened = await openSession(buildModelGraph(weights, { weightBits, weightFile, cachePrecision: precision }), job.modelDir, 'cpu', (level, msg) => level !== 'info' && process.stderr.write(`[ours ${level}] ${msg}\n`));
  const runner = new Runner(opened.session, config, layout);
  const loadMs = performance.now() - t0;
  const n = job.promptIds.length;
  const think = { ...DEFAULT_THINK, ratio: job.ratio };
  const cache = new KvCache(config.layers, config.kvHeads, config.headDim, n + 2 * job.steps, layout);
  const querySquares = Array.from({ length: config.layers }, () => new Float64Array(config.kvHeads * config.headDim));
  const windowFrom = n - Math.min(think.window, n);

  const tPrefill = performance.now();
  let logits: Float32Array | null = null;
  for (let at = 0; at < n; at += DEFAULT_PREFILL_CHUNK)
    logits = await runner.step(cache, job.promptIds.slice(at, at + DEFAULT_PREFILL_CHUNK), { windowFrom, querySquares });
  const prefillTokensPerSec = (n * 1000) / (performance.now() - tPrefill);

  const peakRssBytes = peakMemory().peakRssBytes;
  const full = { cache, logits: logits!, ms: 0, ids: [] as number[] };
  const thin = { cache: cache.clone(), logits: logits!, ms: 0, ids: [] as number[] };
  pruneAfterPrefill(thin.cache, querySquares, think, config, job.steps);
  // Ratio 0 compacts too (every channel kept), as the Engine does.
  pruneAfterPrefill(full.cache, querySquares, { ...think, ratio: 0 }, config, job.steps);
  let i = 0;
  const step = async () => {
    if (i >= job.steps) throw new Error(`the cache holds ${job.steps} decode steps; step ${i + 1} asked`);
    // Which ratio goes first alternates: the second of a pair runs on caches the first just churned.
    for (const d of i++ % 2 ? [thin, full] : [full, thin]) {
      const t = performance.now();
      const id = argmax(d.logits);
      d.ids.push(id);
      d.logits = await runner.step(d.cache, [id], { windowFrom: Infinity });
      // The Engine's flush: generated keys join the compact store once enough accumulate.
      flushIfDue(d.cache, think);
      d.ms += performance.now() - t;
    }
  };
  const weightBytesPerToken = decodeWeightBytes(job.modelDir, job.quantize);
  const stats = (d: typeof full): OursResult => {
    const c = d.cache.stats();
    return {
      prefillTokensPerSec,
      decodeMsPerToken: d.ids.length ? d.ms / d.ids.length : 0,
      decodeSteps: d.ids.length,
      keyBytes: c.keyBytes,
      valueBytes: c.valueBytes,
      fullKeyBytes: c.fullKeyBytes,
      peakRssBytes,
      firstTokens: d.ids.slice(0, 4),
      loadMs,
      weightBytesPerToken,
      cachePrecision: d.cache.layout.precision,
      cacheBytesPerToken: c.bytesPerToken,
      fp16FullBytesPerToken: c.fp16FullBytesPerToken,
    };
  };
  const finish = async (): Promise<OursRun> => {
    const results = [{ ratio: 0, result: stats(full) }, { ratio: job.ratio, result: stats(thin) }];
    await opened.session.release();
    weightFile?.dispose();
    return { results };
  };
  return { step, finish };
}

if (isEntry(__filename)) childMain(runOurs, prepareSharedPrefill);
