// GGUF models that other local tools already downloaded, so users need not fetch them twice:
//
// - Ollama keeps content-addressed blobs: `<store>/manifests/<registry>/<namespace>/<model>/<tag>`
//   is a JSON manifest whose layer of mediaType `application/vnd.ollama.image.model` names the
//   GGUF as `sha256:<hex>`, stored at `<store>/blobs/sha256-<hex>`. The store is $OLLAMA_MODELS,
//   else ~/.ollama/models, and /usr/share/ollama/.ollama/models for Linux's system service.
// - LM Studio keeps plain files: `<models>/<publisher>/<model>/<file>.gguf`, with `<models>` =
//   <home>/models (home: ~/.lmstudio, or the folder named in ~/.lmstudio-home-pointer), the
//   `downloadsFolder` of <home>/settings.json when set, and older installs' ~/.cache/lm-studio/models.
//
// Only files that start with the GGUF magic are listed; unreadable manifests are skipped with a
// reason (a half-finished `ollama pull` leaves them), never thrown.
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, relative, resolve, sep } from 'node:path';

export interface LocalModel {
  source: 'ollama' | 'lmstudio';
  /** How the tool itself names it: `qwen2.5-coder:1.5b`, `lmstudio-community/Qwen2.5-Coder-1.5B-Instruct-GGUF/...gguf`. */
  name: string;
  /** The GGUF file to load. */
  path: string;
  bytes: number;
}

export interface LocalModelScan {
  models: LocalModel[];
  /** Entries that looked like models but could not be used, each with why. */
  skipped: { where: string; why: string }[];
}

export interface StoreLocations {
  home?: string;
  env?: NodeJS.ProcessEnv;
}

const OLLAMA_MODEL_LAYER = 'application/vnd.ollama.image.model';
const GGUF_MAGIC = Buffer.from('GGUF');

/** Ollama model stores to look in, existing or not, in priority order. */
export function ollamaStores({ home = homedir(), env = process.env }: StoreLocations = {}): string[] {
  const stores = [env.OLLAMA_MODELS, join(home, '.ollama', 'models'), '/usr/share/ollama/.ollama/models'];
  return unique(stores.filter((s): s is string => !!s).map((s) => resolve(s)));
}

/** LM Studio model folders to look in, existing or not, in priority order. */
export function lmStudioFolders({ home = homedir() }: StoreLocations = {}): string[] {
  let lmHome = join(home, '.lmstudio');
  const pointer = join(home, '.lmstudio-home-pointer');
  if (existsSync(pointer)) {
    const target = readFileSync(pointer, 'utf8').trim();
    if (target) lmHome = resolve(target);
  }
  const folders = [join(lmHome, 'models')];
  const settings = readJson(join(lmHome, 'settings.json'));
  if (settings && typeof settings.downloadsFolder === 'string' && settings.downloadsFolder) folders.unshift(resolve(settings.downloadsFolder));
  folders.push(join(home, '.cache', 'lm-studio', 'models'));
  return unique(folders);
}

/** Every GGUF model found in Ollama's and LM Studio's stores. */
export function findLocalModels(where: StoreLocations = {}): LocalModelScan {
  const scan: LocalModelScan = { models: [], skipped: [] };
  for (const store of ollamaStores(where)) scanOllama(store, scan);
  for (const folder of lmStudioFolders(where)) scanLmStudio(folder, scan);
  const seen = new Set<string>();
  scan.models = scan.models.filter((m) => (seen.has(m.path) ? false : (seen.add(m.path), true)));
  return scan;
}

function scanOllama(store: string, scan: LocalModelScan): void {
  const manifests = join(store, 'manifests');
  for (const file of walk(manifests, 4)) {
    const parts = relative(manifests, file).split(sep);
    if (parts.length !== 4) continue;
    const [registry, namespace, model, tag] = parts;
    const name = `${registry === 'registry.ollama.ai' ? (namespace === 'library' ? '' : `${namespace}/`) : `${registry}/${namespace}/`}${model}:${tag}`;
    const manifest = readJson(file);
    const layers = manifest?.layers;
    if (!Array.isArray(layers)) {
      scan.skipped.push({ where: file, why: 'not an Ollama manifest (no "layers")' });
      continue;
    }
    const layer = layers.find((l: unknown) => typeof l === 'object' && l !== null && (l as { mediaType?: unknown }).mediaType === OLLAMA_MODEL_LAYER) as
      | { digest?: unknown }
      | undefined;
    if (!layer || typeof layer.digest !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(layer.digest)) {
      scan.skipped.push({ where: file, why: `no ${OLLAMA_MODEL_LAYER} layer with a sha256 digest` });
      continue;
    }
    const blob = join(store, 'blobs', layer.digest.replace(':', '-'));
    addIfGguf(scan, { source: 'ollama', name, path: blob }, file);
  }
}

function scanLmStudio(folder: string, scan: LocalModelScan): void {
  for (const file of walk(folder, 3)) {
    if (!file.toLowerCase().endsWith('.gguf')) continue;
    addIfGguf(scan, { source: 'lmstudio', name: relative(folder, file).split(sep).join('/'), path: file }, file);
  }
}

function addIfGguf(scan: LocalModelScan, m: Omit<LocalModel, 'bytes'>, where: string): void {
  let bytes: number;
  try {
    bytes = statSync(m.path).size;
  } catch {
    scan.skipped.push({ where, why: `${m.path} is missing (an unfinished download?)` });
    return;
  }
  if (!startsWithMagic(m.path)) {
    scan.skipped.push({ where, why: `${m.path} is not a GGUF file` });
    return;
  }
  scan.models.push({ ...m, bytes });
}

function startsWithMagic(path: string): boolean {
  const head = Buffer.alloc(4);
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    return readSync(fd, head, 0, 4, 0) === 4 && head.equals(GGUF_MAGIC);
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Files under `dir` exactly `depth` levels down (depth 1 = dir's own files); missing dirs yield nothing. */
function walk(dir: string, depth: number): string[] {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const p = join(dir, e.name);
    if (depth > 1 && e.isDirectory()) out.push(...walk(p, depth - 1));
    else if (depth === 1 && (e.isFile() || e.isSymbolicLink())) out.push(p);
  }
  return out;
}

function readJson(path: string): Record<string, unknown> | null {
  try {
    const v = JSON.parse(readFileSync(path, 'utf8'));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? v : null;
  } catch {
    return null;
  }
}

function unique(paths: string[]): string[] {
  return [...new Set(paths)];
}
