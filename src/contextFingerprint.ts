// Decides whether a follow-up question can reuse the runtime's cache. The cache holds the packed
// workspace context of the first question; if none of the files that went into it changed, the
// follow-up is appended to that cache (`cache: { extend: cacheId }`) instead of re-reading, re-ranking and
// re-prefilling the workspace. "Changed" is judged by stat only (size and mtime of every included
// file), so the check itself reads no file contents: an edit, a save or a deletion changes them.

import * as fs from 'node:fs/promises';

export interface FileStamp {
  /** Absolute path. */
  path: string;
  size: number;
  mtimeMs: number;
}

export async function stampFiles(paths: readonly string[]): Promise<FileStamp[]> {
  const out: FileStamp[] = [];
  for (const p of paths) {
    try {
      const st = await fs.stat(p);
      out.push({ path: p, size: st.size, mtimeMs: st.mtimeMs });
    } catch {
      // A deleted file stamps as -1, which never matches a real stamp.
      out.push({ path: p, size: -1, mtimeMs: -1 });
    }
  }
  return out;
}

/** True when every file still has the size and mtime it had when the context was built. */
export async function unchangedSince(stamps: readonly FileStamp[]): Promise<boolean> {
  const now = await stampFiles(stamps.map((s) => s.path));
  return now.every((n, i) => n.size === stamps[i].size && n.mtimeMs === stamps[i].mtimeMs);
}
