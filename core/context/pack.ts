// Packs ranked files into a prompt under a token budget. Each file enters as a header with its
// workspace-relative path and its lines numbered from 1, so the model can cite `path:line`:
//
//   === src/a.ts ===
//   1| import x from 'y';
//   2| ...
//
// Choice when a file does not fit the tokens left: it is skipped and the next file in rank order is
// tried (a smaller, lower-ranked file often still fits), except the top-ranked file, which is
// truncated to the lines that fit (keeping its beginning, header marked `(lines 1-N of M)`): the
// best match is worth partial context, and without it the prompt would often be empty.
//
// Exactness: tokens are counted by an injected counter (the runtime's tokenizer over RPC). Files
// are admitted on their exact block counts, then the assembled prompt is counted once more (BPE
// merges can cross a block boundary) and trailing files are dropped until it fits, so
// `summary.tokens <= budgetTokens` always holds with the real tokenizer.

import type { ContextSummary } from '../protocol/webview';

/** Counts tokens of each text (no special tokens), e.g. the runtime's `countTokens` RPC. */
export type TokenCounter = (texts: string[]) => Promise<number[]>;

/**
 * A fast estimate for pre-filtering, meant to stay at or below the real count: UTF-8 bytes / 6.
 * Measured on this repository's and Debian's Python sources in the numbered format above with
 * SmolLM2's BPE (49k vocab) the real ratio averages 2.5 and peaks at 3.9 bytes per token, and
 * larger vocabularies (Llama 3, Qwen2) stay under 5. It only ever rules a file out without asking
 * the counter; admission always uses exact counts, so a low estimate costs an RPC, never the budget.
 */
export function estimateTokens(text: string): number {
  return Math.floor(Buffer.byteLength(text, 'utf8') / 6);
}

export function fileHeader(path: string, range?: { first: number; last: number; total: number }): string {
  return range ? `=== ${path} (lines ${range.first}-${range.last} of ${range.total}) ===\n` : `=== ${path} ===\n`;
}

/** Splits text into lines (LF or CRLF); a final newline does not start another line. */
export function splitLines(text: string): string[] {
  const lines = text.split(/\r?\n/);
  if (lines.length > 1 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** `first| line` for each line, numbered from `first`, each ending in '\n'. */
export function numberLines(lines: readonly string[], first = 1): string {
  let out = '';
  for (let i = 0; i < lines.length; i++) out += `${first + i}| ${lines[i]}\n`;
  return out;
}

export function fileBlock(path: string, text: string): string {
  return fileHeader(path) + numberLines(splitLines(text));
}

export interface PackInput {
  path: string;
  text: string;
}

export interface PackOptions {
  budgetTokens: number;
  count: TokenCounter;
  /** Pre-filter estimate (default `estimateTokens`); must not exceed the real count to be useful. */
  estimate?: (text: string) => number;
  /** Files already left out before ranking (the scan's skips), for the summary. */
  skippedBeforeRanking?: number;
  /** Texts per counter call (default 64). */
  batchSize?: number;
  signal?: AbortSignal;
}

export interface PackResult {
  prompt: string;
  /** Paths in prompt order (= rank order). */
  included: string[];
  /** Set when the top-ranked file was cut to fit. */
  truncated?: { path: string; linesKept: number; linesTotal: number };
  summary: ContextSummary;
}

/**
 * Packs `ranked` (best first) into at most `budgetTokens` tokens.
 * summary: filesConsidered = ranked files + skippedBeforeRanking; filesIncluded = files in the
 * prompt (a truncated top file counts); filesSkipped = filesConsidered - filesIncluded.
 */
export async function packFiles(ranked: readonly PackInput[], options: PackOptions): Promise<PackResult> {
  const { budgetTokens, count, signal } = options;
  const estimate = options.estimate ?? estimateTokens;
  const batchSize = options.batchSize ?? 64;
  const skippedBefore = options.skippedBeforeRanking ?? 0;
  if (!Number.isInteger(budgetTokens) || budgetTokens < 0) throw new Error(`packFiles: budgetTokens must be an integer >= 0, got ${budgetTokens}`);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`packFiles: batchSize must be a positive integer, got ${batchSize}`);
  if (!Number.isInteger(skippedBefore) || skippedBefore < 0) throw new Error(`packFiles: skippedBeforeRanking must be an integer >= 0, got ${skippedBefore}`);

  const counted = async (texts: string[]): Promise<number[]> => {
    signal?.throwIfAborted();
    const r = await count(texts);
    if (r.length !== texts.length || r.some((n) => !Number.isInteger(n) || n < 0)) {
      throw new Error(`packFiles: the token counter returned ${JSON.stringify(r.slice(0, 8))} for ${texts.length} texts (need one integer >= 0 each)`);
    }
    return r;
  };

  const chosen: Array<{ path: string; block: string; tokens: number }> = [];
  let truncated: PackResult['truncated'];
  let used = 0;

  // The top-ranked file: whole if it fits, else as many leading lines as fit.
  let next = 0;
  if (ranked.length > 0 && budgetTokens > 0) {
    const top = ranked[0];
    const block = fileBlock(top.path, top.text);
    const [n] = estimate(block) <= budgetTokens ? await counted([block]) : [Infinity];
    if (n <= budgetTokens) {
      chosen.push({ path: top.path, block, tokens: n });
      used = n;
    } else {
      const cut = await truncateToFit(top, budgetTokens, counted, estimate);
      if (cut) {
        chosen.push({ path: top.path, block: cut.block, tokens: cut.tokens });
        used = cut.tokens;
        truncated = { path: top.path, linesKept: cut.linesKept, linesTotal: cut.linesTotal };
      }
    }
    next = 1;
  }

  // The rest in rank order, counted in batches of those the estimate does not already rule out.
  while (next < ranked.length && used < budgetTokens) {
    const batch: Array<{ path: string; block: string }> = [];
    while (next < ranked.length && batch.length < batchSize) {
      const f = ranked[next++];
      const block = fileBlock(f.path, f.text);
      if (estimate(block) <= budgetTokens - used) batch.push({ path: f.path, block });
    }
    if (!batch.length) continue;
    const counts = await counted(batch.map((b) => b.block));
    batch.forEach((b, i) => {
      if (used + counts[i] <= budgetTokens) {
        chosen.push({ ...b, tokens: counts[i] });
        used += counts[i];
      }
    });
  }

  // Exact check of what is actually sent.
  let prompt = chosen.map((c) => c.block).join('');
  let tokens = chosen.length ? (await counted([prompt]))[0] : 0;
  while (tokens > budgetTokens && chosen.length) {
    const dropped = chosen.pop()!;
    if (truncated && dropped.path === truncated.path && chosen.length === 0) truncated = undefined;
    prompt = chosen.map((c) => c.block).join('');
    tokens = chosen.length ? (await counted([prompt]))[0] : 0;
  }

  const filesConsidered = ranked.length + skippedBefore;
  return {
    prompt,
    included: chosen.map((c) => c.path),
    truncated: truncated && chosen.length ? truncated : undefined,
    summary: { filesIncluded: chosen.length, filesConsidered, filesSkipped: filesConsidered - chosen.length, tokens, budgetTokens },
  };
}

/** The longest leading run of lines whose block fits, by binary search on the exact count. */
async function truncateToFit(
  file: PackInput,
  budget: number,
  counted: (texts: string[]) => Promise<number[]>,
  estimate: (text: string) => number,
): Promise<{ block: string; tokens: number; linesKept: number; linesTotal: number } | null> {
  const lines = splitLines(file.text);
  const total = lines.length;
  const blockOf = (k: number) => fileHeader(file.path, { first: 1, last: k, total }) + numberLines(lines.slice(0, k));
  let lo = 0; // fits (0 lines = nothing)
  let hi = total; // the whole file did not fit
  // First narrow `hi` for free: a prefix the estimate already puts over budget cannot fit.
  for (let a = lo, b = hi; b - a > 1; ) {
    const mid = (a + b) >>> 1;
    if (estimate(blockOf(mid)) > budget) b = hi = mid;
    else a = mid;
  }
  let best: { block: string; tokens: number } | null = null;
  while (hi - lo > 1) {
    const mid = (lo + hi) >>> 1;
    const block = blockOf(mid);
    const [n] = await counted([block]);
    if (n <= budget) {
      lo = mid;
      best = { block, tokens: n };
    } else hi = mid;
  }
  return best && lo > 0 ? { ...best, linesKept: lo, linesTotal: total } : null;
}
