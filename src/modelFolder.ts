// Checks that a folder holds a model the runtime can load, before we hand it over: config.json,
// safetensors weights (single file or sharded with an index), tokenizer.json. Each problem is one
// precise sentence naming the file, so "Select Model Folder" can say exactly what to fix. The
// runtime still does the full tensor-level validation at load time.

import * as fs from 'node:fs/promises';
import * as path from 'node:path';

/** Architectures the runtime's graph builder implements (config.json `model_type`). */
export const SUPPORTED_MODEL_TYPES = ['llama', 'mistral', 'qwen2'] as const;

export type ModelFolderCheck =
  | { ok: true; dir: string; modelType: string; weightFiles: string[] }
  | { ok: false; dir: string; problems: string[] };

async function statOrUndefined(p: string) {
  try {
    return await fs.stat(p);
  } catch {
    return undefined;
  }
}

/** A safetensors file starts with a little-endian u64 header length, then that much JSON. */
async function checkSafetensors(file: string, problems: string[]): Promise<void> {
  const name = path.basename(file);
  let fh: fs.FileHandle | undefined;
  try {
    fh = await fs.open(file, 'r');
    const { size } = await fh.stat();
    if (size < 8) {
      problems.push(`${name} is ${size} bytes: too short to be a safetensors file (truncated download?).`);
      return;
    }
    const head = Buffer.alloc(8);
    await fh.read(head, 0, 8, 0);
    const headerLen = Number(head.readBigUInt64LE(0));
    if (headerLen < 2 || 8 + headerLen > size) {
      problems.push(`${name} has a header length of ${headerLen} bytes for a ${size}-byte file: not a valid safetensors file (truncated download?).`);
      return;
    }
    const first = Buffer.alloc(1);
    await fh.read(first, 0, 1, 8);
    if (first[0] !== 0x7b /* '{' */) problems.push(`${name}: the safetensors header is not JSON.`);
  } catch (e) {
    problems.push(`${name} cannot be read: ${(e as Error).message}`);
  } finally {
    await fh?.close();
  }
}

async function readJson(file: string, problems: string[]): Promise<Record<string, unknown> | undefined> {
  const name = path.basename(file);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    problems.push(`${name} cannot be read: ${(e as Error).message}`);
    return undefined;
  }
  try {
    const v = JSON.parse(text);
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
    problems.push(`${name} is JSON but not an object.`);
  } catch (e) {
    problems.push(`${name} is not valid JSON (${(e as Error).message}).`);
  }
  return undefined;
}

export async function checkModelFolder(dir: string): Promise<ModelFolderCheck> {
  const st = await statOrUndefined(dir);
  if (!st) return { ok: false, dir, problems: [`${dir} does not exist.`] };
  if (!st.isDirectory()) return { ok: false, dir, problems: [`${dir} is a file; select the folder that contains config.json.`] };

  const names = new Set(await fs.readdir(dir));
  const problems: string[] = [];

  // config.json
  let modelType = '';
  if (!names.has('config.json')) {
    problems.push('config.json is missing (the model\'s Hugging Face configuration).');
  } else {
    const config = await readJson(path.join(dir, 'config.json'), problems);
    if (config) {
      const mt = config.model_type;
      if (typeof mt !== 'string') problems.push('config.json has no "model_type".');
      else if (!(SUPPORTED_MODEL_TYPES as readonly string[]).includes(mt)) {
        problems.push(`config.json: model_type "${mt}" is not supported (supported: ${SUPPORTED_MODEL_TYPES.join(', ')}).`);
      } else modelType = mt;
    }
  }

  // weights
  const weightFiles: string[] = [];
  if (names.has('model.safetensors.index.json')) {
    const index = await readJson(path.join(dir, 'model.safetensors.index.json'), problems);
    const map = index?.weight_map;
    if (index && (!map || typeof map !== 'object')) problems.push('model.safetensors.index.json has no "weight_map".');
    else if (map) {
      const shards = [...new Set(Object.values(map as Record<string, unknown>).map(String))].sort();
      const missing = shards.filter((s) => !names.has(s));
      if (missing.length) problems.push(`model.safetensors.index.json names shard${missing.length > 1 ? 's' : ''} that ${missing.length > 1 ? 'are' : 'is'} missing: ${missing.join(', ')}.`);
      for (const s of shards.filter((x) => names.has(x))) weightFiles.push(s);
    }
  } else if (names.has('model.safetensors')) {
    weightFiles.push('model.safetensors');
  } else {
    const loose = [...names].filter((n) => n.endsWith('.safetensors')).sort();
    if (loose.length) weightFiles.push(...loose);
    else {
      const other = [...names].filter((n) => /\.(bin|pt|pth|gguf|onnx|ckpt)$/.test(n));
      problems.push(
        other.length
          ? `no safetensors weights: found ${other.join(', ')}, but ThinK Lens reads Hugging Face *.safetensors only.`
          : 'no weights: expected model.safetensors (or model.safetensors.index.json with its shards).',
      );
    }
  }
  for (const w of weightFiles) await checkSafetensors(path.join(dir, w), problems);

  // tokenizer
  if (!names.has('tokenizer.json')) {
    problems.push(
      names.has('tokenizer.model')
        ? 'tokenizer.json is missing: found only tokenizer.model (SentencePiece); ThinK Lens needs the Hugging Face tokenizer.json.'
        : 'tokenizer.json is missing.',
    );
  } else {
    const tst = await statOrUndefined(path.join(dir, 'tokenizer.json'));
    if (!tst || tst.size === 0) problems.push('tokenizer.json is empty.');
  }

  return problems.length ? { ok: false, dir, problems } : { ok: true, dir, modelType, weightFiles };
}

/** One message for the user: the folder and everything wrong with it. */
export function describeProblems(check: Extract<ModelFolderCheck, { ok: false }>): string {
  return `Not a usable model folder: ${check.dir}. ${check.problems.join(' ')}`;
}
