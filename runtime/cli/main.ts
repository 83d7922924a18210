// The `think-lens` command line: generate with a local model (streamed text, or one JSON object
// with ids, text, cache bytes and timings), write random-weight models of real shapes, download a
// model from the Hugging Face Hub. Bad input ends with one line on stderr and a non-zero exit code
// (2: usage, 1: everything else), never a stack trace unless THINK_LENS_DEBUG=1.
import { existsSync, readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import type { GenerateParams, GenerateResult, LoadParams, Prompt, SamplingParams } from '../../core/protocol/rpc';
import type { CompressionSettings, Device, ThinkSettings } from '../../core/protocol/settings';
import { cachePrecisionFlag, deviceFlag, modelFlag, num, parse, quantizeFlag, UsageError, type CliIo } from './args';
import { ask, ASK_USAGE } from './ask';
import { DEFAULT_EVICT } from '../cache/evict';
import { EngineHost } from '../host/engineHost';
import { downloadModel, type DownloadProgress } from '../../core/hub';
import { findLocalModels, lmStudioFolders, ollamaStores } from '../../core/localModels';
import { formatBytes } from '../../core/numberFormat';
import { makeRandomModel } from '../model/makeRandom';
import { serve, SERVE_USAGE } from '../serve/cli';

export const USAGE = `usage:
  think-lens generate --model DIR|FILE.gguf (--prompt TEXT | --prompt-ids CSV) [--chat]
                      [--max-new-tokens N] [--prune-ratio R|R0,R1,...] [--obs-window W] [--recent N]
                      [--flush N] [--device cpu|webgpu|cuda] [--context N] [--prefill-chunk N]
                      [--quantize int8|int4] [--cache-precision float16|float32]
                      [--evict snapkv|h2o --token-budget N] [--kv-bits 2|4]
                      [--prune-values R] [--memory-budget-mb M]
                      [--temperature T] [--top-k K] [--top-p P] [--repetition-penalty R] [--seed N]
                      [--stop S]... [--json] [--verbose]
  think-lens make-random --config FILE --out DIR [--dtype bf16|f16|f32] [--seed N]
                      [--tokenizer DIR] [--shards N]
  think-lens download REPO [--out DIR] [--revision R]      (HF_ENDPOINT, HF_TOKEN honoured)
  think-lens models [--json]      GGUF models already downloaded by Ollama and LM Studio
${ASK_USAGE}
${SERVE_USAGE}

generate is greedy unless a sampling flag is given; --prompt-ids is used verbatim (no BOS).
Without --json the text streams to stdout and a summary goes to stderr.`;

/** Runs one command; returns the exit code. Never throws for bad input. */
export async function main(argv: string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  try {
    const [command, ...rest] = argv;
    switch (command) {
      case 'generate':
        return await generate(rest, io);
      case 'make-random':
        return await makeRandom(rest, io);
      case 'download':
        return await download(rest, io);
      case 'ask':
        return await ask(rest, io);
      case 'models':
        return models(rest, io);
      case 'serve':
        return await serve(rest, io);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.stdout.write(`${USAGE}\n`);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (e) {
    return report(e, io);
  }
}

/** `think-lens models`: what Ollama and LM Studio already downloaded, each usable as --model FILE. */
function models(args: string[], io: CliIo): number {
  const { values: v } = parse(args, { json: { type: 'boolean' } });
  const scan = findLocalModels();
  if (v.json) {
    io.stdout.write(`${JSON.stringify(scan, null, 2)}\n`);
    return 0;
  }
  if (!scan.models.length) io.stderr.write(`no GGUF models found in Ollama's (${ollamaStores().join(', ')}) or LM Studio's (${lmStudioFolders().join(', ')}) stores\n`);
  for (const m of scan.models) io.stdout.write(`${m.source.padEnd(8)}  ${m.name}  ${formatBytes(m.bytes)}\n          ${m.path}\n`);
  for (const s of scan.skipped) io.stderr.write(`skipped ${s.where}: ${s.why}\n`);
  return 0;
}

function report(e: unknown, io: CliIo): number {
  if (process.env.THINK_LENS_DEBUG === '1' && e instanceof Error) io.stderr.write(`${e.stack}\n`);
  const message = (e instanceof Error ? e.message : String(e)).split('\n')[0].trim();
  if (e instanceof UsageError) {
    io.stderr.write(`think-lens: ${message} (think-lens --help for usage)\n`);
    return 2;
  }
  io.stderr.write(`think-lens: ${message}\n`);
  return 1;
}

const GENERATE_OPTIONS = {
  model: { type: 'string' },
  prompt: { type: 'string' },
  'prompt-ids': { type: 'string' },
  chat: { type: 'boolean' },
  'max-new-tokens': { type: 'string' },
  'prune-ratio': { type: 'string' },
  'obs-window': { type: 'string' },
  recent: { type: 'string' },
  flush: { type: 'string' },
  device: { type: 'string' },
  context: { type: 'string' },
  'prefill-chunk': { type: 'string' },
  quantize: { type: 'string' },
  'cache-precision': { type: 'string' },
  evict: { type: 'string' },
  'token-budget': { type: 'string' },
  'kv-bits': { type: 'string' },
  'prune-values': { type: 'string' },
  'memory-budget-mb': { type: 'string' },
  temperature: { type: 'string' },
  'top-k': { type: 'string' },
  'top-p': { type: 'string' },
  'repetition-penalty': { type: 'string' },
  seed: { type: 'string' },
  stop: { type: 'string', multiple: true },
  json: { type: 'boolean' },
  verbose: { type: 'boolean' },
} as const;

/** Validates generate's flags into the runtime's load and generate parameters. */
export function generateRequest(args: string[]): { load: LoadParams; gen: GenerateParams; json: boolean; verbose: boolean } {
  const { values: v } = parse(args, GENERATE_OPTIONS);
  const modelDir = modelFlag(v.model, 'generate');
  if ((v.prompt === undefined) === (v['prompt-ids'] === undefined)) throw new UsageError('generate needs exactly one of --prompt TEXT or --prompt-ids CSV');
  let prompt: Prompt;
  if (v['prompt-ids'] !== undefined) {
    if (v.chat) throw new UsageError('--chat applies to --prompt, not --prompt-ids');
    const parts = v['prompt-ids'].split(',').map((s) => s.trim());
    const ids = parts.map(Number);
    if (!parts.length || parts.some((p) => p === '') || ids.some((n) => !Number.isInteger(n) || n < 0))
      throw new UsageError(`--prompt-ids must be comma-separated token ids (got "${v['prompt-ids']}")`);
    prompt = { ids };
  } else prompt = v.chat ? { messages: [{ role: 'user', content: v.prompt! }] } : { text: v.prompt! };

  const device = deviceFlag(v.device);
  const think: Partial<ThinkSettings> = {};
  if (v['prune-ratio'] !== undefined) {
    const ratios = v['prune-ratio'].split(',').map((r) => num('prune-ratio', r, { min: 0, max: 1 })!);
    think.ratio = ratios.length === 1 ? ratios[0] : ratios;
  }
  const setInt = (key: 'window' | 'recent' | 'flush', flag: string, min: number) => {
    const n = num(flag, v[flag as keyof typeof v] as string | undefined, { int: true, min });
    if (n !== undefined) think[key] = n;
  };
  setInt('window', 'obs-window', 1);
  setInt('recent', 'recent', 0);
  setInt('flush', 'flush', 0);

  const sampling: SamplingParams = {};
  const temperature = num('temperature', v.temperature, { min: 0 });
  const topK = num('top-k', v['top-k'], { int: true, min: 0 });
  const topP = num('top-p', v['top-p'], { min: 0, max: 1 });
  const repetitionPenalty = num('repetition-penalty', v['repetition-penalty'], { min: 0 });
  const seed = num('seed', v.seed, { int: true, min: 0 });
  if (temperature !== undefined) sampling.temperature = temperature;
  if (topK !== undefined) sampling.topK = topK;
  if (topP !== undefined) sampling.topP = topP;
  if (repetitionPenalty !== undefined) sampling.repetitionPenalty = repetitionPenalty;
  if (seed !== undefined) sampling.seed = seed;
  // Greedy unless asked otherwise: a top-k/top-p/seed without a temperature means "sample at 1".
  if (sampling.temperature === undefined && (topK !== undefined || topP !== undefined || seed !== undefined)) sampling.temperature = 1;

  const compression: Partial<CompressionSettings> = {};
  const budget = num('token-budget', v['token-budget'], { int: true, min: 1 });
  if (v.evict !== undefined) {
    if (v.evict !== 'snapkv' && v.evict !== 'h2o') throw new UsageError(`--evict must be snapkv or h2o (got "${v.evict}")`);
    if (budget === undefined) throw new UsageError('--evict needs --token-budget N');
    compression.evict = { method: v.evict, tokenBudget: budget, ...DEFAULT_EVICT };
  } else if (budget !== undefined) throw new UsageError('--token-budget applies with --evict snapkv|h2o');
  const kvBits = num('kv-bits', v['kv-bits'], { int: true, min: 2, max: 4 });
  if (kvBits !== undefined) {
    if (kvBits !== 2 && kvBits !== 4) throw new UsageError(`--kv-bits must be 2 or 4 (got "${v['kv-bits']}")`);
    compression.kvBits = kvBits;
  }
  const pruneValues = num('prune-values', v['prune-values'], { min: 0, max: 0.99 });
  if (pruneValues !== undefined) compression.pruneValues = pruneValues;
  const quantize = quantizeFlag(v.quantize);

  const load: LoadParams = { modelDir, think, compression };
  if (quantize) load.quantize = quantize;
  const cachePrecision = cachePrecisionFlag(v['cache-precision']);
  if (cachePrecision) load.cachePrecision = cachePrecision;
  const memoryBudgetMb = num('memory-budget-mb', v['memory-budget-mb'], { min: 0.001 });
  if (memoryBudgetMb !== undefined) load.memoryBudgetMb = memoryBudgetMb;
  if (device) load.device = device;
  const context = num('context', v.context, { int: true, min: 2 });
  if (context !== undefined) load.contextLength = context;
  const chunk = num('prefill-chunk', v['prefill-chunk'], { int: true, min: 1 });
  if (chunk !== undefined) load.prefillChunk = chunk;
  const gen: GenerateParams = { requestId: 'cli', prompt, sampling };
  const maxNew = num('max-new-tokens', v['max-new-tokens'], { int: true, min: 1 });
  if (maxNew !== undefined) gen.maxNewTokens = maxNew;
  if (v.stop?.length) gen.stop = v.stop;
  return { load, gen, json: Boolean(v.json), verbose: Boolean(v.verbose) };
}

async function generate(args: string[], io: CliIo): Promise<number> {
  const { load, gen, json, verbose } = generateRequest(args);
  const host = new EngineHost({
    onToken: (n) => {
      if (!json) io.stdout.write(n.text);
    },
    onLog: (level, message) => {
      if (level !== 'info' || verbose) io.stderr.write(`[${level}] ${message}\n`);
    },
  });
  // Ctrl-C stops the generation cleanly (what was generated is kept); a second one exits at once.
  let interrupted = false;
  const onSigint = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    host.cancel();
  };
  process.on('SIGINT', onSigint);
  try {
    const loaded = await host.load(load);
    if (interrupted) return 130;
    const result = await host.generate(gen);
    if (json) io.stdout.write(`${JSON.stringify(jsonResult(result, loaded.device, loaded.fallback))}\n`);
    else {
      io.stdout.write('\n');
      io.stderr.write(`${summary(result)}\n`);
    }
    return interrupted ? 130 : 0;
  } finally {
    process.off('SIGINT', onSigint);
    await host.dispose();
  }
}

function jsonResult(r: GenerateResult, device: Device, fallback: string | undefined) {
  return {
    ids: r.ids,
    text: r.text,
    finishReason: r.finishReason,
    promptTokens: r.promptTokens,
    device,
    ...(fallback ? { fallback } : {}),
    cache: r.cache,
    timings: r.timings,
    ...(r.budget ? { budget: r.budget } : {}),
  };
}

function summary(r: GenerateResult): string {
  const t = r.timings;
  return (
    `[${r.ids.length} tokens, ${r.finishReason}; prompt ${r.promptTokens} tokens at ${t.prefillTokensPerSec.toFixed(0)} tok/s; ` +
    `decode ${t.decodeMsPerToken.toFixed(1)} ms/token; keys ${formatBytes(r.cache.keyBytes)} of ${formatBytes(r.cache.fullKeyBytes)} unpruned ` +
    `(ratio ${r.cache.pruneRatio.toFixed(2)}), values ${formatBytes(r.cache.valueBytes)}; load ${t.loadMs.toFixed(0)} ms]`
  );
}

async function makeRandom(args: string[], io: CliIo): Promise<number> {
  const { values: v } = parse(args, {
    config: { type: 'string' },
    out: { type: 'string' },
    dtype: { type: 'string' },
    seed: { type: 'string' },
    tokenizer: { type: 'string' },
    shards: { type: 'string' },
  });
  if (!v.config || !v.out) throw new UsageError('make-random needs --config FILE and --out DIR');
  const dtypes = { bf16: 'BF16', f16: 'F16', f32: 'F32' } as const;
  const dtypeFlag = (v.dtype ?? 'f32').toLowerCase();
  if (!(dtypeFlag in dtypes)) throw new UsageError(`--dtype must be bf16, f16 or f32 (got "${v.dtype}")`);
  const configPath = resolve(v.config);
  if (!existsSync(configPath)) throw new Error(`${configPath}: config file not found`);
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${configPath}: not valid JSON (${(e as Error).message.split('\n')[0]})`);
  }
  if (v.tokenizer && !existsSync(resolve(v.tokenizer))) throw new Error(`${resolve(v.tokenizer)}: tokenizer folder not found`);
  const outDir = resolve(v.out);
  await makeRandomModel({
    config,
    outDir,
    dtype: dtypes[dtypeFlag as keyof typeof dtypes],
    seed: num('seed', v.seed, { int: true, min: 0 }) ?? 0,
    shards: num('shards', v.shards, { int: true, min: 1 }),
    tokenizerDir: v.tokenizer ? resolve(v.tokenizer) : undefined,
  });
  io.stderr.write(`wrote a random-weight model to ${outDir}\n`);
  return 0;
}

async function download(args: string[], io: CliIo): Promise<number> {
  const { values: v, positionals } = parse(args, { out: { type: 'string' }, revision: { type: 'string' } }, true);
  if (positionals.length !== 1) throw new UsageError('download needs one repository id, e.g. HuggingFaceTB/SmolLM2-135M-Instruct');
  const repo = positionals[0];
  const outDir = resolve(v.out ?? basename(repo));
  const ac = new AbortController();
  const onSigint = () => ac.abort();
  process.on('SIGINT', onSigint);
  let lastLine = 0;
  const onProgress = (p: DownloadProgress) => {
    const now = Date.now();
    // At most a few lines a second; a finished file always gets its line.
    if (now - lastLine < 500 && p.fileBytes !== p.fileTotal) return;
    lastLine = now;
    io.stderr.write(`${p.file}: ${formatBytes(p.fileBytes)} of ${formatBytes(p.fileTotal)} (all: ${formatBytes(p.bytes)} of ${formatBytes(p.total)}, ${p.filesDone}/${p.filesTotal} files)\n`);
  };
  try {
    const result = await downloadModel({ repo, revision: v.revision, outDir, onProgress, signal: ac.signal });
    io.stderr.write(`${result.files.length} files verified in ${result.dir}\n`);
    io.stdout.write(`${result.dir}\n`);
    return 0;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
