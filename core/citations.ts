// Finds `path:line` citations in model output (e.g. `src/a.ts:42`, `runtime/kvcache.ts:120-130`).
// Pure string code (core/: no DOM, no vscode), shared by the Answer webview (media/shared/citations.ts
// re-exports it) and the @thinklens chat participant (src/chat/participant.ts).
//
// The pattern is deliberately narrow so that ordinary prose, times ("10:30") and URLs
// ("http://example.com:8080") are not turned into links: the last path segment must carry a file
// extension, and a match may not start right after a word character, '/', ':', '.' or '-'
// (which is what a URL's host or a longer path would look like).

export interface Citation {
  /** Workspace-relative path as written by the model (forward or back slashes). */
  path: string;
  /** 1-based line. */
  line: number;
  /** Offset of the first character of the citation in the scanned text. */
  start: number;
  /** Offset just past the citation (includes a `-end` or `:column` suffix when present). */
  end: number;
}

const CITATION =
  /(?<![\w/\\.:\-@])((?:\.{1,2}[\\/])?(?:[\w@+\-.]+[\\/])*[\w+\-.]*\w\.[A-Za-z]\w{0,9}):([1-9]\d{0,6})(?:(?:-|:)\d{1,7})?(?![\w/\\])/g;

/** All citations in `text`, in order. */
export function findCitations(text: string): Citation[] {
  const out: Citation[] = [];
  CITATION.lastIndex = 0;
  for (let m = CITATION.exec(text); m !== null; m = CITATION.exec(text)) {
    out.push({ path: m[1], line: Number(m[2]), start: m.index, end: m.index + m[0].length });
  }
  return out;
}

/** `text` as alternating plain strings and citations, for renderers that build nodes. */
export function splitCitations(text: string): Array<string | Citation> {
  const parts: Array<string | Citation> = [];
  let at = 0;
  for (const c of findCitations(text)) {
    if (c.start > at) parts.push(text.slice(at, c.start));
    parts.push(c);
    at = c.end;
  }
  if (at < text.length) parts.push(text.slice(at));
  return parts;
}

/** A whole string that is exactly one citation (used for markdown link targets), else undefined. */
export function parseCitationTarget(target: string): { path: string; line: number } | undefined {
  const found = findCitations(target);
  if (found.length !== 1 || found[0].start !== 0 || found[0].end !== target.length) return undefined;
  return { path: found[0].path, line: found[0].line };
}
