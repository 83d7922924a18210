// Walks a workspace folder with node:fs and returns the text files worth showing a model, with a
// count of every file left out and why. Pure Node (no `vscode`), so it is testable on its own and
// reusable from the CLI; src/workspaceContext.ts feeds it VS Code's settings.
//
// What is left out, in the order it is decided:
//   directories: node_modules and .git always; .gitignore rules; exclude globs; symlink loops and
//                directories already reached through another path;
//   files:       .gitignore rules; exclude globs; lock files and *.min.* (by name); over maxFileBytes
//                (by size, before reading); binary (NUL byte or mostly control bytes in the first
//                8 KB); not valid UTF-8 (strict decoder); minified (long average line); empty.
// A directory that is left out is counted once in `skippedDirs` (its contents are never listed, which
// is the point of skipping it); every file left out is counted once in `skipped`.
//
// Determinism: real (non-symlink) entries are walked concurrently, symlinks are deferred and
// followed afterwards one at a time in path order, so which path a file is reported under (when a
// symlink makes it reachable twice) never depends on I/O timing. The result is sorted by path.

import * as fsp from 'node:fs/promises';
import type { Dirent, Stats } from 'node:fs';
import * as path from 'node:path';
import ignore, { type Ignore } from 'ignore';
import { ExcludeMatcher, type ExcludeSettings } from './excludeGlobs';

export type { ExcludeSettings } from './excludeGlobs';

export type FileSkipReason =
  | 'gitignored'
  | 'excluded'
  | 'lockFile'
  | 'minified'
  | 'tooLarge'
  | 'binary'
  | 'notUtf8'
  | 'empty'
  | 'symlinkDuplicate'
  | 'brokenSymlink'
  | 'special'
  | 'unreadable'
  | 'limit';

export type DirSkipReason = 'alwaysSkipped' | 'gitignored' | 'excluded' | 'symlinkLoop' | 'symlinkDuplicate' | 'unreadable';

export interface ScanOptions {
  /** Globs as in VS Code's files.exclude/search.exclude, relative to the scanned folder. */
  exclude?: ExcludeSettings;
  /** Honour .gitignore files (default true). */
  useGitignore?: boolean;
  /** Follow symbolic links (default true, as VS Code's search.followSymlinks). */
  followSymlinks?: boolean;
  /** Files larger than this are skipped unread (default 1 MiB). */
  maxFileBytes?: number;
  /** Stop collecting after this many text files (default 50,000); the rest count as 'limit'. */
  maxFiles?: number;
  /** Stop collecting once the texts held reach this many bytes (default 256 MiB). */
  maxTotalBytes?: number;
  /** Concurrent file system operations (default 32). */
  concurrency?: number;
  signal?: AbortSignal;
}

export interface ScannedFile {
  /** Relative to the scanned folder, '/'-separated. */
  path: string;
  /** Absolute path as reached (through symlinks if any). */
  absPath: string;
  text: string;
  bytes: number;
}

export interface ScanResult {
  /** Sorted by path (code unit order). */
  files: ScannedFile[];
  skipped: Record<FileSkipReason, number>;
  skippedDirs: Record<DirSkipReason, number>;
  /** Total files left out (the sum of `skipped`). */
  filesSkipped: number;
}

export const MAX_FILE_BYTES = 1024 * 1024;
const SNIFF_BYTES = 8192;
/** Directories never worth reading, whatever the ignore files say. */
const ALWAYS_SKIPPED_DIRS = new Set(['node_modules', '.git']);

/** Exact names of dependency lock files (generated, huge, useless as context). */
const LOCK_FILE_NAMES = new Set([
  'package-lock.json',
  'npm-shrinkwrap.json',
  'yarn.lock',
  'pnpm-lock.yaml',
  'bun.lock',
  'bun.lockb',
  'deno.lock',
  'Cargo.lock',
  'poetry.lock',
  'Pipfile.lock',
  'pdm.lock',
  'uv.lock',
  'composer.lock',
  'Gemfile.lock',
  'go.sum',
  'flake.lock',
  'mix.lock',
  'pubspec.lock',
  'Podfile.lock',
  'packages.lock.json',
  'gradle.lockfile',
  'Package.resolved',
  'conan.lock',
  'MODULE.bazel.lock',
]);

export function isLockFileName(name: string): boolean {
  // `*.lock` covers the long tail (Cartfile.resolved aside, lock files say so in the extension).
  return LOCK_FILE_NAMES.has(name) || name.endsWith('.lock') || name.endsWith('.lockfile');
}

/** `jquery.min.js`, `app.min.css`, `x.min.mjs`: minified by convention. */
export function isMinifiedName(name: string): boolean {
  return /\.min\.[A-Za-z0-9]+$/.test(name);
}

/**
 * Binary sniff over the first 8 KB: any NUL byte (what git and grep use), or more than 10% bytes that
 * are control characters other than tab, newline, CR, form feed, backspace and escape. UTF-16 text
 * contains NULs and is therefore treated as binary, which is fine: a model prompt needs UTF-8.
 */
export function looksBinary(buf: Uint8Array): boolean {
  const n = Math.min(buf.length, SNIFF_BYTES);
  let control = 0;
  for (let i = 0; i < n; i++) {
    const b = buf[i];
    if (b === 0) return true;
    if (b < 32 && b !== 9 && b !== 10 && b !== 13 && b !== 12 && b !== 8 && b !== 27) control++;
    else if (b === 127) control++;
  }
  return n > 0 && control / n > 0.1;
}

/**
 * Minified code: a file of at least 2 KB whose average line is over 500 characters. Real source and
 * prose average well under 100; bundlers emit one or a few lines of many kilobytes.
 */
export function looksMinified(text: string): boolean {
  if (text.length < 2048) return false;
  let lines = 1;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) lines++;
  return text.length / lines > 500;
}

// ---------------------------------------------------------------------------------------------
// .gitignore at every level
// ---------------------------------------------------------------------------------------------

interface IgnoreLevel {
  /** Directory of the .gitignore, relative to the scan root ('' for the root), no trailing '/'. */
  base: string;
  ig: Ignore;
}

/**
 * Git's precedence: a deeper .gitignore overrides a shallower one, and within a file the last
 * matching rule wins (`ignore` handles that). A negation re-includes a path only if its parent
 * directory was not excluded, which the walk guarantees by never entering an ignored directory.
 */
function gitignored(levels: readonly IgnoreLevel[], rel: string, isDir: boolean): boolean {
  let ignored = false;
  for (const { base, ig } of levels) {
    const sub = base ? rel.slice(base.length + 1) : rel;
    const r = ig.test(isDir ? sub + '/' : sub);
    if (r.ignored) ignored = true;
    else if (r.unignored) ignored = false;
  }
  return ignored;
}

// ---------------------------------------------------------------------------------------------
// The walk
// ---------------------------------------------------------------------------------------------

/** At most `n` operations at once; the walk's recursion itself is never held by it (no deadlock). */
class Limiter {
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  constructor(private readonly n: number) {}
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.n) await new Promise<void>((r) => this.waiting.push(r));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

function zeroCounts<K extends string>(keys: readonly K[]): Record<K, number> {
  return Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;
}

const FILE_REASONS: readonly FileSkipReason[] = ['gitignored', 'excluded', 'lockFile', 'minified', 'tooLarge', 'binary', 'notUtf8', 'empty', 'symlinkDuplicate', 'brokenSymlink', 'special', 'unreadable', 'limit'];
const DIR_REASONS: readonly DirSkipReason[] = ['alwaysSkipped', 'gitignored', 'excluded', 'symlinkLoop', 'symlinkDuplicate', 'unreadable'];

interface PendingLink {
  rel: string;
  abs: string;
  levels: IgnoreLevel[];
}

function positiveInt(name: string, v: number | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  if (!Number.isInteger(v) || v < 1) throw new Error(`scanWorkspace: ${name} must be a positive integer, got ${v}`);
  return v;
}

/** Scans `root` (an existing directory). Rejects with the signal's reason when aborted. */
export async function scanWorkspace(root: string, options: ScanOptions = {}): Promise<ScanResult> {
  const maxFileBytes = positiveInt('maxFileBytes', options.maxFileBytes, MAX_FILE_BYTES);
  const maxFiles = positiveInt('maxFiles', options.maxFiles, 50_000);
  const maxTotalBytes = positiveInt('maxTotalBytes', options.maxTotalBytes, 256 * 1024 * 1024);
  const limiter = new Limiter(positiveInt('concurrency', options.concurrency, 32));
  const useGitignore = options.useGitignore ?? true;
  const followSymlinks = options.followSymlinks ?? true;
  const excludes = new ExcludeMatcher(options.exclude);
  const signal = options.signal;
  signal?.throwIfAborted();

  const rootStat = await fsp.stat(root).catch((e: NodeJS.ErrnoException) => {
    throw new Error(`scanWorkspace: cannot read folder ${root}: ${e.code ?? e.message}`);
  });
  if (!rootStat.isDirectory()) throw new Error(`scanWorkspace: ${root} is not a directory`);
  const realRoot = await fsp.realpath(root);

  const skipped = zeroCounts(FILE_REASONS);
  const skippedDirs = zeroCounts(DIR_REASONS);
  const files: ScannedFile[] = [];
  let totalBytes = 0;
  /** Real paths of every directory entered and every file taken: the loop and duplicate guard. */
  const seenDirs = new Set<string>([realRoot]);
  const seenFiles = new Set<string>();
  const links: PendingLink[] = [];
  const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

  const io = <T>(fn: () => Promise<T>): Promise<T> =>
    limiter.run(() => {
      signal?.throwIfAborted();
      return fn();
    });

  async function readFileEntry(rel: string, abs: string, real: string, size: number): Promise<void> {
    const reason = await readTextFile(rel, abs, real, size);
    if (reason) skipped[reason]++;
  }

  /** Reads one candidate file; keeps it, or returns why not. */
  async function readTextFile(rel: string, abs: string, real: string, size: number): Promise<FileSkipReason | null> {
    if (size > maxFileBytes) return 'tooLarge';
    if (files.length >= maxFiles || totalBytes + size > maxTotalBytes) return 'limit';
    let buf: Buffer;
    try {
      buf = await io(() => fsp.readFile(abs, { signal }));
    } catch {
      if (signal?.aborted) throw signal.reason;
      return 'unreadable';
    }
    // The file may have grown since stat; the limit is about what we hold.
    if (buf.length > maxFileBytes) return 'tooLarge';
    if (buf.length === 0) return 'empty';
    if (looksBinary(buf)) return 'binary';
    let text: string;
    try {
      text = strictUtf8.decode(buf);
    } catch {
      return 'notUtf8';
    }
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    if (looksMinified(text)) return 'minified';
    if (files.length >= maxFiles || totalBytes + buf.length > maxTotalBytes) return 'limit';
    if (seenFiles.has(real)) return 'symlinkDuplicate';
    seenFiles.add(real);
    totalBytes += buf.length;
    files.push({ path: rel, absPath: abs, text, bytes: buf.length });
    return null;
  }

  /** Name- and rule-based decisions shared by real entries and followed links; counts and returns the reason. */
  function fileRulesSkip(rel: string, name: string, levels: readonly IgnoreLevel[], siblings: ReadonlySet<string>): FileSkipReason | null {
    let reason: FileSkipReason | null = null;
    if (useGitignore && gitignored(levels, rel, false)) reason = 'gitignored';
    else if (excludes.matches(rel, siblings)) reason = 'excluded';
    else if (isLockFileName(name)) reason = 'lockFile';
    else if (isMinifiedName(name)) reason = 'minified';
    if (reason) skipped[reason]++;
    return reason;
  }

  function dirRulesSkip(rel: string, name: string, levels: readonly IgnoreLevel[], siblings: ReadonlySet<string>): DirSkipReason | null {
    let reason: DirSkipReason | null = null;
    if (ALWAYS_SKIPPED_DIRS.has(name)) reason = 'alwaysSkipped';
    else if (useGitignore && gitignored(levels, rel, true)) reason = 'gitignored';
    else if (excludes.matches(rel, siblings)) reason = 'excluded';
    if (reason) skippedDirs[reason]++;
    return reason;
  }

  /** Walks a directory known to be new (its real path already added to seenDirs). */
  async function walkDir(rel: string, abs: string, real: string, parentLevels: IgnoreLevel[]): Promise<void> {
    let entries: Dirent[];
    try {
      entries = await io(() => fsp.readdir(abs, { withFileTypes: true }));
    } catch {
      if (signal?.aborted) throw signal.reason;
      skippedDirs.unreadable++;
      return;
    }
    let levels = parentLevels;
    const names = new Set(entries.map((e) => e.name));
    if (useGitignore && entries.some((e) => e.name === '.gitignore' && !e.isDirectory())) {
      try {
        const rules = await io(() => fsp.readFile(path.join(abs, '.gitignore'), { encoding: 'utf8', signal }));
        levels = [...parentLevels, { base: rel, ig: ignore({ ignorecase: false }).add(rules) }];
      } catch {
        if (signal?.aborted) throw signal.reason;
        // An unreadable .gitignore is treated as absent, as git does.
      }
    }
    const jobs: Promise<void>[] = [];
    for (const e of entries) {
      const childRel = rel ? `${rel}/${e.name}` : e.name;
      const childAbs = path.join(abs, e.name);
      const childReal = path.join(real, e.name);
      if (e.isSymbolicLink()) {
        if (followSymlinks) links.push({ rel: childRel, abs: childAbs, levels });
        continue;
      }
      if (e.isDirectory()) {
        if (dirRulesSkip(childRel, e.name, levels, names)) continue;
        seenDirs.add(childReal);
        jobs.push(walkDir(childRel, childAbs, childReal, levels));
      } else if (e.isFile()) {
        if (fileRulesSkip(childRel, e.name, levels, names)) continue;
        jobs.push(
          io(() => fsp.stat(childAbs)).then(
            (st) => readFileEntry(childRel, childAbs, childReal, st.size),
            () => {
              if (signal?.aborted) throw signal.reason;
              skipped.unreadable++;
            },
          ),
        );
      } else {
        skipped.special++;
      }
    }
    await settleAll(jobs);
  }

  /** Follows one symlink: a file is read unless its target was already taken; a directory is walked unless already entered. */
  async function followLink(link: PendingLink): Promise<void> {
    const { rel, abs, levels } = link;
    const name = rel.slice(rel.lastIndexOf('/') + 1);
    const parentAbs = path.dirname(abs);
    const siblings = new Set(await io(() => fsp.readdir(parentAbs)).catch(() => [] as string[]));
    let real: string;
    let st: Stats;
    try {
      real = await io(() => fsp.realpath(abs));
      st = await io(() => fsp.stat(real));
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      // ELOOP (a link to itself) and dangling links land here.
      skipped.brokenSymlink++;
      return;
    }
    if (st.isDirectory()) {
      if (dirRulesSkip(rel, name, levels, siblings)) return;
      if (seenDirs.has(real)) {
        // A link to one of its own ancestors would recurse forever; one to elsewhere in the tree
        // would list the same files twice.
        const realParent = await io(() => fsp.realpath(parentAbs)).catch(() => parentAbs);
        if (realParent === real || realParent.startsWith(real + path.sep)) skippedDirs.symlinkLoop++;
        else skippedDirs.symlinkDuplicate++;
        return;
      }
      seenDirs.add(real);
      await walkDir(rel, abs, real, levels);
    } else if (st.isFile()) {
      if (fileRulesSkip(rel, name, levels, siblings)) return;
      if (seenFiles.has(real)) {
        skipped.symlinkDuplicate++;
        return;
      }
      await readFileEntry(rel, abs, real, st.size);
    } else {
      skipped.special++;
    }
  }

  await walkDir('', root, realRoot, []);
  // Links found while following links are queued too; always take the smallest path next.
  while (links.length) {
    signal?.throwIfAborted();
    links.sort((a, b) => (a.rel < b.rel ? 1 : a.rel > b.rel ? -1 : 0));
    await followLink(links.pop()!);
  }

  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const filesSkipped = FILE_REASONS.reduce((s, k) => s + skipped[k], 0);
  return { files, skipped, skippedDirs, filesSkipped };
}

/** Like Promise.all, but waits for every job before rethrowing the first failure (no stray I/O after abort). */
async function settleAll(jobs: Promise<void>[]): Promise<void> {
  const results = await Promise.allSettled(jobs);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}
