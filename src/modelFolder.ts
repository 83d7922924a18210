// Checks that a path holds a model the runtime can load, before we hand it over: a folder with
// config.json, safetensors weights (single file or sharded with an index) and tokenizer.json, or a
// single GGUF file (llama.cpp's format, as Ollama and LM Studio keep them: the magic, a version the
// runtime reads, a supported general.architecture). Each problem is one precise sentence naming
// the file, so "Select Model" can say exactly what to fix. The runtime still does the full
// tensor-level validation at load time.

import * as fs from 'node:fs/promises';
import * as path from 'node:path';

/** Architectures the runtime's graph builder implements (config.json `model_type`). */
export const SUPPORTED_MODEL_TYPES = ['llama', 'mistral', 'qwen2', 'qwen3'] as const;

/** GGUF `general.architecture` values the runtime reads (Mistral's GGUFs say 'llama'). */
export const SUPPORTED_GGUF_ARCHITECTURES = ['llama', 'qwen2', 'qwen3'] as const;

/** GGUF container versions the runtime reads (runtime/model/gguf/file.ts). */
const GGUF_VERSIONS = [2, 3];

/**
 * `dir` is the path checked: a folder, or (format 'gguf') the GGUF file itself. For a GGUF,
 * modelType is its general.architecture ('gguf' when the header does not say it early enough).
 */
export type ModelFolderCheck =
  | { ok: true; dir: string; format: 'folder' | 'gguf'; modelType: string; weightFiles: string[] }
  | { ok: false; dir: string; format: 'folder' | 'gguf'; problems: string[] };

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

/** Whether a path names a model file rather than a folder: `*.gguf`, or an Ollama blob (`sha256-<hex>`). */
export function isModelFileName(p: string): boolean {
  return /\.gguf$/i.test(p) || /^sha256-[0-9a-f]{64}$/.test(path.basename(p));
}

/** The first bytes of a file, as many as it has up to `n`. */
async function readHead(file: string, n: number): Promise<Buffer> {
  const fh = await fs.open(file, 'r');
  try {
    const buf = Buffer.alloc(n);
    const { bytesRead } = await fh.read(buf, 0, n, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** How the first bytes of a non-GGUF file read, for the message ("PK\x03\x04", "{\n  \"..."). */
function showBytes(b: Buffer): string {
  let out = '';
  for (const c of b) out += c >= 0x20 && c < 0x7f && c !== 0x22 && c !== 0x5c ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`;
  return `"${out}"`;
}

/** GGUF metadata value sizes by type (gguf_type); 8 = string, 9 = array. */
const SCALAR_BYTES: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };

/**
 * `general.architecture` from a GGUF header held in `head` (the first bytes of the file), or
 * undefined when the metadata before it does not fit in `head`. Converters write it first.
 */
export function ggufArchitecture(head: Buffer): string | undefined {
  let o = 24; // magic, version, tensor count, metadata count
  if (head.length < o) return undefined;
  const count = Number(head.readBigUInt64LE(16));
  const need = (n: number) => o + n <= head.length;
  const str = (): string | undefined => {
    if (!need(8)) return undefined;
    const len = Number(head.readBigUInt64LE(o));
    if (!need(8 + len)) return undefined;
    const v = head.toString('utf8', o + 8, o + 8 + len);
    o += 8 + len;
    return v;
  };
  const skip = (type: number): boolean => {
    if (type === 8) return str() !== undefined;
    if (type === 9) {
      if (!need(12)) return false;
      const elem = head.readUInt32LE(o);
      const n = Number(head.readBigUInt64LE(o + 4));
      o += 12;
      if (SCALAR_BYTES[elem] !== undefined) {
        if (!need(n * SCALAR_BYTES[elem])) return false;
        o += n * SCALAR_BYTES[elem];
        return true;
      }
      for (let i = 0; i < n; i++) if (!skip(elem)) return false;
      return true;
    }
    const size = SCALAR_BYTES[type];
    if (size === undefined || !need(size)) return false;
    o += size;
    return true;
  };
  for (let i = 0; i < count; i++) {
    const key = str();
    if (key === undefined || !need(4)) return undefined;
    const type = head.readUInt32LE(o);
    o += 4;
    if (key === 'general.architecture' && type === 8) return str();
    if (!skip(type)) return undefined;
  }
  return undefined;
}

/** Checks a single GGUF file: that it is one (magic), of a version and architecture the runtime reads. */
export async function checkGgufFile(file: string): Promise<ModelFolderCheck> {
  const name = path.basename(file);
  const fail = (problem: string): ModelFolderCheck => ({ ok: false, dir: file, format: 'gguf', problems: [problem] });
  const st = await statOrUndefined(file);
  if (!st) return fail(`${file} does not exist.`);
  if (st.isDirectory()) return fail(`${file} is a folder, not a GGUF file.`);
  let head: Buffer;
  try {
    head = await readHead(file, 64 * 1024);
  } catch (e) {
    return fail(`${name} cannot be read: ${(e as Error).message}`);
  }
  if (head.length < 4 || head.toString('latin1', 0, 4) !== 'GGUF') {
    return fail(
      head.length === 0
        ? `${name} is empty: not a GGUF file (truncated download?).`
        : `${name} is not a GGUF file: it starts with ${showBytes(head.subarray(0, 4))}, not "GGUF".`,
    );
  }
  if (head.length < 24) return fail(`${name} is ${st.size} bytes: too short for a GGUF header (truncated download?).`);
  const version = head.readUInt32LE(4);
  if (!GGUF_VERSIONS.includes(version)) return fail(`${name}: GGUF version ${version} is not supported (2 and 3 are).`);
  const arch = ggufArchitecture(head);
  if (arch !== undefined && !(SUPPORTED_GGUF_ARCHITECTURES as readonly string[]).includes(arch)) {
    return fail(`${name}: general.architecture "${arch}" is not supported (supported: ${SUPPORTED_GGUF_ARCHITECTURES.join(', ')}).`);
  }
  return { ok: true, dir: file, format: 'gguf', modelType: arch ?? 'gguf', weightFiles: [name] };
}

/** Checks a model path: a Hugging Face folder, or a GGUF file (by its name or, for Ollama's blobs, its magic). */
export async function checkModelFolder(dir: string): Promise<ModelFolderCheck> {
  const st = await statOrUndefined(dir);
  if (!st) return { ok: false, dir, format: isModelFileName(dir) ? 'gguf' : 'folder', problems: [`${dir} does not exist.`] };
  if (!st.isDirectory()) {
    if (isModelFileName(dir) || (await readHead(dir, 4).catch(() => Buffer.alloc(0))).toString('latin1') === 'GGUF') return checkGgufFile(dir);
    return { ok: false, dir, format: 'folder', problems: [`${dir} is a file; select the folder that contains config.json.`] };
  }

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

  return problems.length ? { ok: false, dir, format: 'folder', problems } : { ok: true, dir, format: 'folder', modelType, weightFiles };
}

/** One message for the user: the folder (or GGUF file) and everything wrong with it. */
export function describeProblems(check: Extract<ModelFolderCheck, { ok: false }>): string {
  return `Not a usable model ${check.format === 'gguf' ? 'file' : 'folder'}: ${check.dir}. ${check.problems.join(' ')}`;
}
