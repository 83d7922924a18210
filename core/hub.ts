// Downloads a model folder from the Hugging Face Hub (or any server with the Hub's URL layout,
// chosen by HF_ENDPOINT): lists the repository's files with their sizes and hashes, fetches each
// through `/{repo}/resolve/{revision}/{file}` (redirects followed), resumes partial `.part` files
// with HTTP Range, and verifies every file before it takes its final name.
//
// Verification: LFS files (the weights) against the sha256 the Hub lists (`lfs.oid`); small files
// kept in git (config.json, tokenizer.json, ...) against their git blob id (`oid`, the sha1 of
// "blob <size>\0" + content), which the Hub lists too. A file that fails is deleted, so a retry
// starts from scratch instead of resuming corrupt bytes.
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';

export const DEFAULT_ENDPOINT = 'https://huggingface.co';

/** One file of a repository, as the Hub's tree API describes it. */
export interface HubFile {
  path: string;
  size: number;
  /** sha256 of the content, for LFS files (the large ones: weights). */
  sha256?: string;
  /** Git blob id (sha1 of "blob <size>\0" + content), for files stored in git itself. */
  gitOid?: string;
}

export interface DownloadProgress {
  /** The file being transferred now. */
  file: string;
  fileBytes: number;
  fileTotal: number;
  /** Over every file of the download (files already present count as done). */
  bytes: number;
  total: number;
  filesDone: number;
  filesTotal: number;
}

export interface HubOptions {
  /** Default: $HF_ENDPOINT, else https://huggingface.co. */
  endpoint?: string;
  /** Default: $HF_TOKEN (needed for gated or private repositories). */
  token?: string;
  signal?: AbortSignal;
}

export interface DownloadOptions extends HubOptions {
  /** "owner/name". */
  repo: string;
  /** Branch, tag or commit (default "main"). */
  revision?: string;
  outDir: string;
  /** Which repository paths to fetch (default: `isModelFile`). */
  include?: (path: string) => boolean;
  onProgress?: (p: DownloadProgress) => void;
  /** How many times one file is resumed after a dropped connection (default 3). */
  retries?: number;
}

export interface DownloadResult {
  dir: string;
  files: HubFile[];
  /** Bytes transferred by this call (resumed or skipped bytes not counted). */
  downloadedBytes: number;
}

/** Any failure of a Hub download; the message is one line meant for users. */
export class HubError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HubError';
  }
}

/** The endpoint cannot be reached at all (no network, DNS, refused connection). */
export class HubOfflineError extends HubError {
  constructor(
    readonly endpoint: string,
    readonly reason: string,
  ) {
    super(
      `cannot reach ${hostOf(endpoint)} (${reason}): check the network connection, or download the model ` +
        `elsewhere and use Select Model Folder / --model DIR`,
    );
    this.name = 'HubOfflineError';
  }
}

/** A downloaded file does not match the hash the Hub lists; the file has been deleted. */
export class ChecksumError extends HubError {
  constructor(
    readonly file: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`${file}: checksum mismatch (expected ${expected}, got ${actual}); the corrupt download was deleted, run the download again`);
    this.name = 'ChecksumError';
  }
}

/** The caller's AbortSignal fired; `.part` files are kept so a later download resumes. */
export class DownloadCancelledError extends HubError {
  constructor() {
    super('download cancelled');
    this.name = 'DownloadCancelledError';
  }
}

/**
 * What a ThinK Lens model folder needs: top-level configs, tokenizer files, chat templates and
 * safetensors weights (plus license/readme). Other weight formats (.bin, .pth, .onnx, .gguf) and
 * subfolders (original/, onnx/) are skipped: they can be many gigabytes the runtime never reads.
 */
export function isModelFile(path: string): boolean {
  if (path.includes('/')) return false;
  if (/^(LICENSE|LICENCE|NOTICE|USE_POLICY)(\.\w+)?$/i.test(path) || path === 'README.md') return true;
  return /\.(json|safetensors|txt|model|jinja|tiktoken)$/i.test(path);
}

export function endpointOf(options: HubOptions): string {
  return (options.endpoint ?? process.env.HF_ENDPOINT ?? DEFAULT_ENDPOINT).replace(/\/+$/, '');
}

const REPO_ID = /^[A-Za-z0-9][\w.-]*(\/[A-Za-z0-9][\w.-]*)?$/;

/** Lists every file of a repository revision (recursively, following the API's pagination). */
export async function listRepoFiles(repo: string, revision: string, options: HubOptions = {}): Promise<HubFile[]> {
  checkRepoId(repo);
  const endpoint = endpointOf(options);
  let url: string | null = `${endpoint}/api/models/${repo}/tree/${encodeURIComponent(revision)}?recursive=true`;
  const files: HubFile[] = [];
  while (url) {
    const res = await request(url, options, endpoint, {});
    if (!res.ok) throw await httpError(res, repo, revision, 'list files of');
    const body = (await res.json()) as unknown;
    if (!Array.isArray(body)) throw new HubError(`${url}: unexpected answer (not a list of files)`);
    for (const entry of body as TreeEntry[]) {
      if (entry.type !== 'file') continue;
      if (typeof entry.path !== 'string' || typeof entry.size !== 'number') throw new HubError(`${url}: file entry without path or size`);
      files.push({
        path: entry.path,
        size: entry.lfs?.size ?? entry.size,
        sha256: entry.lfs?.oid,
        gitOid: entry.lfs ? undefined : entry.oid,
      });
    }
    url = nextLink(res.headers.get('link'), url);
  }
  return files;
}

interface TreeEntry {
  type: string;
  path: string;
  size: number;
  oid?: string;
  lfs?: { oid: string; size: number; pointerSize?: number };
}

/** Downloads the model files of `repo` at `revision` into `outDir`, verified, resumable. */
export async function downloadModel(opts: DownloadOptions): Promise<DownloadResult> {
  const revision = opts.revision ?? 'main';
  const include = opts.include ?? isModelFile;
  const listed = await listRepoFiles(opts.repo, revision, opts);
  const files = listed.filter((f) => include(f.path));
  if (!files.some((f) => f.path.endsWith('.safetensors')))
    throw new HubError(`${opts.repo}@${revision} has no .safetensors weights; ThinK Lens reads only safetensors model folders`);
  const dir = resolve(opts.outDir);
  await mkdir(dir, { recursive: true });

  const total = files.reduce((s, f) => s + f.size, 0);
  let done = 0;
  let filesDone = 0;
  let downloadedBytes = 0;
  for (const file of files) {
    const dest = join(dir, file.path);
    // Never write outside the output folder, whatever paths a server lists.
    if (!dest.startsWith(dir + sep)) throw new HubError(`${file.path}: refusing a path outside ${dir}`);
    if (await hasSize(dest, file.size)) {
      // Files only get their final name after verification, so a complete one is trusted.
      done += file.size;
      filesDone++;
      continue;
    }
    await mkdir(dirname(dest), { recursive: true });
    const base = done;
    downloadedBytes += await downloadFile(opts, revision, file, dest, (fileBytes) =>
      opts.onProgress?.({ file: file.path, fileBytes, fileTotal: file.size, bytes: base + fileBytes, total, filesDone, filesTotal: files.length }),
    );
    done += file.size;
    filesDone++;
    opts.onProgress?.({ file: file.path, fileBytes: file.size, fileTotal: file.size, bytes: done, total, filesDone, filesTotal: files.length });
  }
  return { dir, files, downloadedBytes };
}

/** One file: resume `.part`, retry dropped connections, verify, rename. Returns bytes transferred. */
async function downloadFile(
  opts: DownloadOptions,
  revision: string,
  file: HubFile,
  dest: string,
  progress: (fileBytes: number) => void,
): Promise<number> {
  const endpoint = endpointOf(opts);
  const url = `${endpoint}/${opts.repo}/resolve/${encodeURIComponent(revision)}/${file.path.split('/').map(encodeURIComponent).join('/')}`;
  const part = `${dest}.part`;
  const retries = opts.retries ?? 3;
  let transferred = 0;
  for (let attempt = 0; ; attempt++) {
    // A dropped connection is often a brief network hiccup: wait a little longer each time.
    if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(2000, 250 * attempt)));
    let have = (await sizeOf(part)) ?? 0;
    if (have > file.size) {
      await rm(part, { force: true });
      have = 0;
    }
    let hash = newHash(file);
    if (have > 0) await hashExisting(part, hash);
    progress(have);
    if (have < file.size || file.size === 0) {
      try {
        const got = await fetchInto(url, part, have, file, hash, opts, endpoint, revision, progress);
        transferred += got.written;
        hash = got.hash;
      } catch (e) {
        if (e instanceof DroppedConnection && attempt < retries) continue;
        if (e instanceof DroppedConnection)
          throw new HubError(`${file.path}: the connection dropped ${attempt + 1} times (${e.message}); run the download again to resume`);
        throw e;
      }
    }
    const got = (await sizeOf(part)) ?? 0;
    if (got !== file.size) {
      // The server ended the body early without an error: resume what is there.
      if (got < file.size && attempt < retries) continue;
      await rm(part, { force: true });
      throw new HubError(`${file.path}: got ${got} bytes, the Hub lists ${file.size}; the partial download was deleted`);
    }
    await verify(file, part, hash);
    await rename(part, dest);
    return transferred;
  }
}

/** A transfer that broke off mid-body (the `.part` file keeps what arrived). */
class DroppedConnection extends Error {}

/**
 * Requests `url` from byte `have` on and appends the body to `part`, hashing as it goes. Returns
 * the bytes written and the hash to finish (a fresh one when the server ignored the Range).
 */
async function fetchInto(
  url: string,
  part: string,
  have: number,
  file: HubFile,
  hash: Hash,
  opts: DownloadOptions,
  endpoint: string,
  revision: string,
  progress: (fileBytes: number) => void,
): Promise<{ written: number; hash: Hash }> {
  const headers: Record<string, string> = have > 0 ? { range: `bytes=${have}-` } : {};
  let res: Response;
  try {
    res = await request(url, opts, endpoint, headers);
  } catch (e) {
    // Reached the listing a moment ago: a failure now is a dropped connection, worth a retry.
    if (e instanceof HubOfflineError) throw new DroppedConnection(e.reason);
    throw e;
  }
  let offset = have;
  if (have > 0 && res.status === 206) {
    const start = /^bytes (\d+)-/.exec(res.headers.get('content-range') ?? '')?.[1];
    if (Number(start) !== have) {
      await res.body?.cancel();
      throw new HubError(`${file.path}: the server answered a resume from byte ${have} with range "${res.headers.get('content-range')}"`);
    }
  } else if (have > 0 && res.status === 416) {
    // Nothing past `have`: the partial file is as long as the server's copy, or stale. Start over.
    await res.body?.cancel();
    await rm(part, { force: true });
    throw new DroppedConnection('range not satisfiable');
  } else if (res.ok) {
    // A plain 200 to a Range request: the server ignored it and sends everything; start over.
    if (have > 0) {
      offset = 0;
      hash = newHash(file);
    }
  } else {
    throw await httpError(res, opts.repo, revision, `download ${file.path} from`);
  }

  const fh = await open(part, offset === 0 ? 'w' : 'a');
  let written = 0;
  try {
    if (!res.body) throw new DroppedConnection('empty response');
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      hash.update(chunk);
      await fh.write(chunk);
      written += chunk.length;
      progress(offset + written);
    }
  } catch (e) {
    if (opts.signal?.aborted) throw new DownloadCancelledError();
    if (e instanceof HubError) throw e;
    throw new DroppedConnection(describe(e));
  } finally {
    await fh.close();
  }
  return { written, hash };
}

function newHash(file: HubFile): Hash {
  if (file.sha256) return createHash('sha256');
  const h = createHash('sha1');
  h.update(`blob ${file.size}\0`);
  return h;
}

async function hashExisting(path: string, hash: Hash): Promise<void> {
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
}

async function verify(file: HubFile, part: string, hash: Hash): Promise<void> {
  const actual = hash.digest('hex');
  const expected = file.sha256 ?? file.gitOid;
  if (!expected) return; // the listing gave no hash at all: the size check above is all we have
  if (actual !== expected.toLowerCase()) {
    await rm(part, { force: true });
    throw new ChecksumError(file.path, expected, actual);
  }
}

async function request(url: string, options: HubOptions, endpoint: string, headers: Record<string, string>): Promise<Response> {
  const token = options.token ?? process.env.HF_TOKEN;
  const all: Record<string, string> = { 'user-agent': 'think-lens', ...headers };
  if (token) all.authorization = `Bearer ${token}`;
  try {
    // fetch follows the Hub's redirects (LFS files live on a CDN); it drops the authorization
    // header itself when a redirect leaves the origin.
    return await fetch(url, { headers: all, signal: options.signal, redirect: 'follow' });
  } catch (e) {
    if (options.signal?.aborted) throw new DownloadCancelledError();
    throw new HubOfflineError(endpoint, describe(e));
  }
}

async function httpError(res: Response, repo: string, revision: string, what: string): Promise<HubError> {
  await res.body?.cancel().catch(() => {});
  const code = res.headers.get('x-error-code');
  if (res.status === 401 || res.status === 403 || code === 'GatedRepo')
    return new HubError(`${repo}: access denied (HTTP ${res.status}); the repository is gated or private: accept its terms on the Hub and set HF_TOKEN`);
  if (res.status === 404)
    return new HubError(
      code === 'RevisionNotFound' ? `${repo}: revision "${revision}" not found` : code === 'EntryNotFound' ? `${repo}@${revision}: ${what.replace(/^download | from$/g, '')} not found` : `${repo}: repository not found (or revision "${revision}" does not exist)`,
    );
  return new HubError(`could not ${what} ${repo}@${revision}: HTTP ${res.status} ${res.statusText}`.trim());
}

/** The `rel="next"` target of a Link header, resolved against the current URL. */
function nextLink(link: string | null, current: string): string | null {
  if (!link) return null;
  for (const part of link.split(',')) {
    const m = /<([^>]+)>\s*;\s*rel="?next"?/.exec(part);
    if (m) return new URL(m[1], current).href;
  }
  return null;
}

function checkRepoId(repo: string): void {
  if (!REPO_ID.test(repo) || repo.includes('..')) throw new HubError(`"${repo}" is not a repository id (expected owner/name, e.g. HuggingFaceTB/SmolLM2-135M-Instruct)`);
}

/** The most specific reason a fetch failed: undici hides the socket error in `cause`. */
function describe(e: unknown): string {
  let cur: unknown = e;
  for (let i = 0; i < 4 && cur; i++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    const next = (cur as { cause?: unknown }).cause;
    if (!next) break;
    cur = next;
  }
  return cur instanceof Error ? cur.message : String(cur);
}

function hostOf(endpoint: string): string {
  try {
    return new URL(endpoint).host;
  } catch {
    return endpoint;
  }
}

async function sizeOf(path: string): Promise<number | null> {
  try {
    return (await stat(path)).size;
  } catch {
    return null;
  }
}

async function hasSize(path: string, size: number): Promise<boolean> {
  return (await sizeOf(path)) === size;
}
