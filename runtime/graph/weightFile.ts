// Initializer bytes the runtime makes at load (quantized weights, decoded GGUF blocks) go to a
// file, one tensor at a time, instead of an in-memory buffer: a load then holds at most one
// tensor's float32 values in JS, and onnxruntime reads the initializers from disk as external
// data. Peak memory stays near the model's quantized size instead of a multiple of it.
//
// One file per loaded model, in a private folder under the user's cache directory (not the
// system temp dir, which is RAM-backed tmpfs on several distributions). Entries are keyed, so a
// second graph of the same model (a provider fallback, another cache layout) reuses the bytes
// instead of quantizing again. The folder goes with dispose(); folders left by processes that
// died are removed when the next one opens.
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** The file name initializers refer to (external data `location`), inside `folder`. */
export const WEIGHT_FILE = 'weights.bin';

const ALIGN = 64;

export class WeightFile {
  private fd: number | null;
  private size = 0;
  private readonly entries = new Map<string, { offset: number; length: number }>();

  private constructor(readonly folder: string) {
    this.fd = openSync(join(folder, WEIGHT_FILE), 'w');
  }

  /** A new, empty weight file in a folder of its own under `root` (default: the user cache). */
  static create(root = defaultRoot()): WeightFile {
    mkdirSync(root, { recursive: true });
    removeOrphans(root);
    const folder = mkdtempSync(join(root, `${process.pid}-`));
    writeFileSync(join(folder, 'owner'), String(process.pid));
    return new WeightFile(folder);
  }

  /** Bytes written so far (every entry, with alignment padding). */
  get bytes(): number {
    return this.size;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  /** Where `key`'s bytes are; `make` runs only the first time a key is asked for. */
  put(key: string, make: () => Uint8Array | Float32Array): { offset: number; length: number } {
    const known = this.entries.get(key);
    if (known) return known;
    if (this.fd === null) throw new Error('the weight file is closed');
    const data = make();
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const offset = Math.ceil(this.size / ALIGN) * ALIGN;
    for (let done = 0; done < bytes.length; ) done += writeSync(this.fd, bytes, done, bytes.length - done, offset + done);
    const where = { offset, length: bytes.length };
    this.entries.set(key, where);
    this.size = offset + bytes.length;
    return where;
  }

  /** Removes the file and its folder (sessions that already read it keep their copies). */
  dispose(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
    rmSync(this.folder, { recursive: true, force: true });
  }
}

/** `$XDG_CACHE_HOME/think-lens/weights` (else ~/.cache/...; macOS ~/Library/Caches; Windows %LOCALAPPDATA%). */
export function defaultRoot(env: NodeJS.ProcessEnv = process.env, platform = process.platform, home = homedir()): string {
  if (env.THINK_LENS_WEIGHT_DIR) return env.THINK_LENS_WEIGHT_DIR;
  if (platform === 'win32') return join(env.LOCALAPPDATA ?? join(home, 'AppData', 'Local'), 'think-lens', 'weights');
  if (platform === 'darwin') return join(home, 'Library', 'Caches', 'think-lens', 'weights');
  return join(env.XDG_CACHE_HOME ?? join(home, '.cache'), 'think-lens', 'weights');
}

/** Folders whose owning process is gone (a crash or a kill skipped dispose). */
function removeOrphans(root: string): void {
  for (const name of readdirSync(root)) {
    let pid: number;
    try {
      pid = Number(readFileSync(join(root, name, 'owner'), 'utf8'));
    } catch {
      continue; // not ours, or still being created
    }
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && !alive(pid)) rmSync(join(root, name), { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
