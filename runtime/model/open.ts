// A model as the user names it: a Hugging Face folder (config.json + safetensors + tokenizer.json)
// or a single .gguf file (llama.cpp, Ollama, LM Studio), with its tokenizer and the weight
// precision the graph should compute in.
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { LoadParams } from '../../core/protocol/rpc';
import { Tokenizer } from '../text/tokenizer';
import { ModelError } from './errors';
import { readGguf } from './gguf/file';
import { openGguf } from './gguf/model';
import { movesExactly } from './quantizeTensor';
import { openModel, type ModelWeights, type StoredType } from './weights';

export interface OpenedModel {
  weights: ModelWeights;
  /** Null when a folder has no tokenizer.json: only token-id prompts work then. */
  tokenizer: Tokenizer | null;
  /** What the linear layers compute with; undefined: float32. */
  quantize: LoadParams['quantize'];
  /** Why the load has no tokenizer, or chose its precision (for the log). */
  notes: string[];
}

export function isGgufPath(path: string): boolean {
  return path.toLowerCase().endsWith('.gguf') || (existsSync(path) && statSync(path).isFile());
}

export async function openModelSource(params: LoadParams): Promise<OpenedModel> {
  const path = params.modelDir;
  if (!existsSync(path)) throw new ModelError(path, 'not found (a model is a Hugging Face folder or a .gguf file)');
  if (isGgufPath(path)) {
    // One read of the header (metadata with the whole vocabulary) serves weights and tokenizer.
    const file = readGguf(resolve(path));
    const weights = openGguf(path, file);
    const tokenizer = await Tokenizer.fromGguf(file);
    const quantize = params.quantize ?? defaultQuantize(weights.dtype);
    const notes = !params.quantize && quantize ? [`${weights.dtype} GGUF: linear layers run as ${quantize} (MatMulNBits${movesExactly(weights.dtype, quantize === 'int4' ? 4 : 8) ? ', the blocks as they are' : ', decoded and quantized again'})`] : [];
    return { weights, tokenizer, quantize, notes };
  }
  const weights = openModel(path);
  const hasTokenizer = existsSync(join(path, 'tokenizer.json'));
  const tokenizer = hasTokenizer ? await Tokenizer.load(path) : null;
  return { weights, tokenizer, quantize: params.quantize, notes: hasTokenizer ? [] : [`${join(path, 'tokenizer.json')}: missing; only token-id prompts will work`] };
}

/**
 * A quantized GGUF keeps its precision class unless the load asks for another: 4-bit blocks run
 * as int4, 5- to 8-bit blocks as int8 (a GGUF of floats runs in float32, as a folder does).
 */
export function defaultQuantize(dtype: StoredType): LoadParams['quantize'] {
  if (dtype === 'Q4_0' || dtype === 'Q4_K') return 'int4';
  if (dtype === 'Q5_K' || dtype === 'Q6_K' || dtype === 'Q8_0') return 'int8';
  return undefined;
}
