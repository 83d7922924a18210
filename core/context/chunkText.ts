// Splits one long file into consecutive, non-overlapping, line-aligned chunks for map-reduce
// summarization ("Summarize File" on a file bigger than the token budget). Each chunk is rendered
// like a packed file, with a header naming its line range and the original line numbers, so a
// per-chunk summary can cite lines of the whole file:
//
//   === src/big.ts (lines 101-180 of 900) ===
//   101| ...
//
// Every chunk's rendered text counts at most `budgetTokens` with the injected counter. A single
// line too long for the budget on its own is cut into character pieces, each its own chunk with
// that line's number (the only case where a chunk does not end at a line break).

import { fileHeader, numberLines, splitLines, type TokenCounter } from './pack';

export interface TextChunk {
  /** 1-based, inclusive. */
  firstLine: number;
  lastLine: number;
  /** Header + numbered lines, as it goes into the prompt. */
  text: string;
  tokens: number;
}

export interface ChunkOptions {
  budgetTokens: number;
  count: TokenCounter;
  signal?: AbortSignal;
}

export async function chunkText(path: string, text: string, options: ChunkOptions): Promise<TextChunk[]> {
  const { budgetTokens, signal } = options;
  if (!Number.isInteger(budgetTokens) || budgetTokens < 1) throw new Error(`chunkText: budgetTokens must be a positive integer, got ${budgetTokens}`);
  const count = async (texts: string[]): Promise<number[]> => {
    signal?.throwIfAborted();
    const r = await options.count(texts);
    if (r.length !== texts.length || r.some((n) => !Number.isInteger(n) || n < 0)) {
      throw new Error(`chunkText: the token counter returned ${JSON.stringify(r.slice(0, 8))} for ${texts.length} texts (need one integer >= 0 each)`);
    }
    return r;
  };

  const lines = splitLines(text);
  const total = lines.length;
  const render = (first: number, last: number) => fileHeader(path, { first, last, total }) + numberLines(lines.slice(first - 1, last), first);
  // The longest header this file can have: every chunk's header costs at most this.
  const [headerCost] = await count([fileHeader(path, { first: total, last: total, total })]);
  if (headerCost >= budgetTokens) {
    throw new Error(`chunkText: a budget of ${budgetTokens} tokens cannot hold even the chunk header for ${path} (${headerCost} tokens)`);
  }
  // One batched count of every numbered line, then greedy grouping on the sums; each chunk is
  // verified as a whole (a BPE merge across lines can make the whole differ from the sum).
  const lineCosts = await count(lines.map((l, i) => numberLines([l], i + 1)));

  const chunks: TextChunk[] = [];
  let first = 1;
  while (first <= total) {
    let last = first - 1;
    let sum = headerCost;
    while (last < total && sum + lineCosts[last] <= budgetTokens) sum += lineCosts[last++];
    if (last < first) {
      chunks.push(...(await splitLongLine(path, lines[first - 1], first, total, budgetTokens, count)));
      first++;
      continue;
    }
    let chunkText = render(first, last);
    let [n] = await count([chunkText]);
    while (n > budgetTokens && last > first) {
      last--;
      chunkText = render(first, last);
      [n] = await count([chunkText]);
    }
    if (n > budgetTokens) {
      chunks.push(...(await splitLongLine(path, lines[first - 1], first, total, budgetTokens, count)));
      first++;
      continue;
    }
    chunks.push({ firstLine: first, lastLine: last, text: chunkText, tokens: n });
    first = last + 1;
  }
  return chunks;
}

/** Cuts one line into pieces that each fit with the header, by binary search on the piece length. */
async function splitLongLine(
  path: string,
  line: string,
  lineNo: number,
  total: number,
  budget: number,
  count: (texts: string[]) => Promise<number[]>,
): Promise<TextChunk[]> {
  const header = fileHeader(path, { first: lineNo, last: lineNo, total });
  const render = (piece: string) => header + numberLines([piece], lineNo);
  const out: TextChunk[] = [];
  // Code points, so a piece never splits a surrogate pair.
  const chars = Array.from(line);
  let start = 0;
  while (start < chars.length) {
    let lo = 0;
    let hi = chars.length - start;
    let best: { text: string; tokens: number } | null = null;
    const [whole] = await count([render(chars.slice(start).join(''))]);
    if (whole <= budget) {
      lo = hi;
      best = { text: render(chars.slice(start).join('')), tokens: whole };
    } else {
      while (hi - lo > 1) {
        const mid = (lo + hi) >>> 1;
        const t = render(chars.slice(start, start + mid).join(''));
        const [n] = await count([t]);
        if (n <= budget) {
          lo = mid;
          best = { text: t, tokens: n };
        } else hi = mid;
      }
    }
    if (!best || lo === 0) throw new Error(`chunkText: a budget of ${budget} tokens cannot hold one character of ${path}:${lineNo} with its header`);
    out.push({ firstLine: lineNo, lastLine: lineNo, text: best.text, tokens: best.tokens });
    start += lo;
  }
  return out;
}
