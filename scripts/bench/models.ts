// The benchmark's models: random weights of real shapes, written once into a cache folder with
// the runtime's own makeRandomModel, plus their GGUF conversions (F32 and F16) for llama.cpp.
// A stamp file records what was written, so a changed shape or seed rewrites the folder.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeRandomModel } from '../../runtime/model/makeRandom';
import { convertToGguf, type GgufFileType } from './gguf';

export interface BenchModelSpec {
  /** short name used in tables and folder names */
  name: string;
  /** HF config.json object */
  config: Record<string, unknown>;
  /** folder holding tokenizer.json to copy, if the vocabulary fits */
  tokenizerDir?: string;
  /** llama.cpp pre-tokenizer name for that vocabulary */
  preTokenizer?: string;
  /** why the model has no tokenizer (printed with the results) */
  tokenizerNote?: string;
}

export interface PreparedModel {
  spec: BenchModelSpec;
  dir: string;
  gguf: Partial<Record<GgufFileType, string>>;
  contextLength: number;
}

const SEED = 20250501;
/** HF's usual initializer range; random logits stay spread enough for a stable greedy argmax. */
const STD = 0.02;

export async function prepareModel(spec: BenchModelSpec, cacheDir: string, fileTypes: GgufFileType[], log: (s: string) => void): Promise<PreparedModel> {
  const dir = join(cacheDir, spec.name);
  const stampPath = join(dir, 'bench-stamp.json');
  const stamp = JSON.stringify({ config: spec.config, seed: SEED, std: STD, tokenizer: spec.tokenizerDir ?? null, pre: spec.preTokenizer ?? null, v: 1 });
  const fresh = existsSync(stampPath) && readFileSync(stampPath, 'utf8') === stamp;
  if (!fresh) {
    log(`writing random-weight ${spec.name} (F32) into ${dir} ...`);
    mkdirSync(dir, { recursive: true });
    await makeRandomModel({ config: spec.config, outDir: dir, dtype: 'F32', seed: SEED, std: STD, tokenizerDir: spec.tokenizerDir });
  }
  const gguf: PreparedModel['gguf'] = {};
  for (const ft of fileTypes) {
    const path = join(dir, `model-${ft.toLowerCase()}.gguf`);
    if (!fresh || !existsSync(path)) {
      log(`converting ${spec.name} to GGUF ${ft} ...`);
      convertToGguf(dir, path, { fileType: ft, preTokenizer: spec.preTokenizer });
    }
    gguf[ft] = path;
  }
  if (!fresh) writeFileSync(stampPath, stamp);
  const maxPos = spec.config.max_position_embeddings;
  return { spec, dir, gguf, contextLength: typeof maxPos === 'number' ? maxPos : 0 };
}

/**
 * SmolLM2-135M's shape with random F32 weights (seed 1) and its tokenizer, written once into
 * `cacheDir`/memory-smollm2-135m-f32: the model of bench-memory and bench-followup.
 */
export async function randomSmolLM2(smollm2Dir: string, cacheDir: string): Promise<string> {
  const dir = join(cacheDir, 'memory-smollm2-135m-f32');
  if (!existsSync(join(dir, 'model.safetensors'))) {
    if (!existsSync(smollm2Dir)) throw new Error(`SmolLM2 config not found at ${smollm2Dir}`);
    mkdirSync(dir, { recursive: true });
    const config = JSON.parse(readFileSync(join(smollm2Dir, 'config.json'), 'utf8'));
    await makeRandomModel({ config, outDir: dir, dtype: 'F32', seed: 1, tokenizerDir: smollm2Dir });
  }
  return dir;
}

/** Deterministic prompt ids in [lo, hi): the same for both runtimes, no tokenizer round trip. */
export function promptIds(n: number, lo: number, hi: number, seed = 7): number[] {
  let s = seed >>> 0;
  const out: number[] = new Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = lo + (s % (hi - lo));
  }
  return out;
}
