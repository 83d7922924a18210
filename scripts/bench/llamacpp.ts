// llama.cpp through node-llama-cpp's prebuilt binaries (from the npm registry), one configuration
// per process: load our GGUF on the CPU (or, for the GPU benchmark, every layer on its CUDA or
// Vulkan build), prefill the same prompt token ids as our runtime (no tokenizer round trip), then
// decode greedily, timing both.
//
// Prefill evaluates all prompt ids but the last; the first decode step evaluates the last prompt
// id and samples, so every decode step is one single-token forward at the benchmark's context,
// as in our runtime, and its first sampled token is the greedy next token after the prompt.
import { childMain, isEntry, peakMemory, runSteps, type Stepper } from './child';

export interface LlamaCppJob {
  ggufPath: string;
  steps: number;
  threads: number;
  promptIds: number[];
  /** llama.cpp KV cache element type: 'F32' matches our float32 cache; 'F16' is llama.cpp's default */
  kvType: 'F32' | 'F16';
  /** the GPU build to offload every layer to; absent: CPU only */
  gpu?: 'cuda' | 'vulkan';
  /** false: no flash attention (its CPU kernel rounds to F16); absent: llama.cpp decides */
  flashAttention?: boolean;
}

export interface LlamaCppResult {
  prefillTokensPerSec: number;
  decodeMsPerToken: number;
  decodeSteps: number;
  peakRssBytes: number;
  firstTokens: number[];
  /** every greedy token decoded (tests compare them with our runtime's) */
  tokens: number[];
  loadMs: number;
  /** the llama.cpp CPU backend variant in use, as node-llama-cpp reports it */
  backend: string;
  /** the flash-attention setting the context was created with ("auto" lets llama.cpp decide) */
  flashAttention: string;
}

/** Environment that keeps node-llama-cpp from downloading or building llama.cpp: only the prebuilt binary may load. */
export const NO_DOWNLOAD_ENV = { NODE_LLAMA_CPP_SKIP_DOWNLOAD: 'true' } as const;

export async function runLlamaCpp(job: LlamaCppJob): Promise<LlamaCppResult> {
  return runSteps(await prepareLlamaCpp(job), job.steps);
}

/** llama.cpp loaded and prefilled; each step decodes one token (the benchmark may take turns with ours between steps). */
export async function prepareLlamaCpp(job: LlamaCppJob): Promise<Stepper<LlamaCppResult>> {
  Object.assign(process.env, NO_DOWNLOAD_ENV);
  const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
  const t0 = performance.now();
  const llama = await getLlama({ gpu: job.gpu ?? false, build: 'never', skipDownload: true, usePrebuiltBinaries: true, logLevel: LlamaLogLevel.error, maxThreads: job.threads });
  const model = await llama.loadModel({ modelPath: job.ggufPath, gpuLayers: job.gpu ? 'max' : 0 });
  const n = job.promptIds.length;
  const context = await model.createContext({
    contextSize: n + job.steps + 8,
    threads: { ideal: job.threads, min: job.threads },
    experimentalKvCacheKeyType: job.kvType,
    experimentalKvCacheValueType: job.kvType,
    ...(job.flashAttention !== undefined ? { flashAttention: job.flashAttention } : {}),
  });
  const loadMs = performance.now() - t0;
  const sequence = context.getSequence();

  const tPrefill = performance.now();
  await sequence.evaluateWithoutGeneratingNewTokens(job.promptIds.slice(0, -1) as never[]);
  const prefillMs = performance.now() - tPrefill;

  // The generator runs one forward per next() and none in between (it is suspended at its yield).
  const tokens: number[] = [];
  let decodeMs = 0;
  let done = false;
  const gen = sequence.evaluate([job.promptIds[n - 1]] as never[], { temperature: 0 });
  const step = async () => {
    const t = performance.now();
    const next = await gen.next();
    decodeMs += performance.now() - t;
    if (next.done) done = true;
    else tokens.push(Number(next.value));
  };
  const finish = async (): Promise<LlamaCppResult> => {
    if (done) process.stderr.write(`[llama.cpp] the sequence ended after ${tokens.length} of ${job.steps} tokens\n`);
    await gen.return();
    const result: LlamaCppResult = {
      prefillTokensPerSec: ((n - 1) * 1000) / prefillMs,
      decodeMsPerToken: tokens.length ? decodeMs / tokens.length : 0,
      decodeSteps: tokens.length,
      peakRssBytes: peakMemory().peakRssBytes,
      firstTokens: tokens.slice(0, 4),
      tokens,
      loadMs,
      backend: `${llama.gpu === false ? 'cpu' : llama.gpu} (${llama.buildType})`,
      flashAttention: String(context.flashAttention),
    };
    await context.dispose();
    await model.dispose();
    await llama.dispose();
    return result;
  };
  return { step, finish };
}

if (isEntry(__filename)) childMain(runLlamaCpp, prepareLlamaCpp);

/**
 * llama.cpp's raw logits (CPU, F32 KV cache, flash attention off: its CPU kernel rounds to F16,
 * about 1e-2 on a tiny model's logits) after each of `ids` from `fromIndex` on, one row of
 * `vocab` values per position, all in one batch: tests compare them with our runtime's on the same
 * GGUF, which checks our ggml block decoding against ggml's own.
 */
export async function llamaCppLogits(ggufPath: string, ids: number[], fromIndex: number, vocab: number, threads = 2): Promise<Float32Array[]> {
  Object.assign(process.env, NO_DOWNLOAD_ENV);
  const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
  const llama = await getLlama({ gpu: false, build: 'never', skipDownload: true, usePrebuiltBinaries: true, logLevel: LlamaLogLevel.error, maxThreads: threads });
  try {
    const model = await llama.loadModel({ modelPath: ggufPath, gpuLayers: 0 });
    const context = await model.createContext({ contextSize: ids.length + 8, batchSize: ids.length, flashAttention: false, threads: { ideal: threads, min: threads }, experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32' });
    const input = ids.map((id, i) => (i >= fromIndex ? ([id, { generateNext: { logits: true } }] as const) : id));
    const out = await context.getSequence().controlledEvaluate(input as never);
    const rows: Float32Array[] = [];
    for (let i = fromIndex; i < ids.length; i++) {
      const logits = out[i]?.next?.logits;
      if (!logits) throw new Error(`llama.cpp returned no logits at position ${i}`);
      const row = new Float32Array(vocab);
      for (const [token, v] of logits) row[Number(token)] = v;
      rows.push(row);
    }
    await context.dispose();
    await model.dispose();
    return rows;
  } finally {
    await llama.dispose();
  }
}
