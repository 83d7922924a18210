// Ranks workspace files against a question with BM25 over identifier words, in two fields: the
// file's content and its path. Questions about code name things ("where is parseConfigFile
// defined"), so both sides are split the same way into the words of identifiers:
//   parseConfigFile, parse_config_file, parse-config-file -> parse, config, file
//   HTTPServer2 -> http, server, 2
// and a multi-word identifier also yields its joined form (parseconfigfile), which is rare in a
// corpus and therefore weighs a lot when it matches exactly. The path field is scored the same way
// and multiplied by `pathBoost`, because a file named after the thing asked about is usually the
// answer. Ties keep a stable order (path, code unit order).

export interface RankInput {
  path: string;
  text: string;
}

export interface RankedFile<T extends RankInput = RankInput> {
  file: T;
  score: number;
}

export interface RankOptions {
  /** BM25 term-frequency saturation (default 1.2). */
  k1?: number;
  /** BM25 length normalisation (default 0.75). */
  b?: number;
  /** Weight of the path field relative to content (default 3). */
  pathBoost?: number;
}

/**
 * Words a question uses that say nothing about code. Only applied to the query: in code these
 * words are identifiers like any other and BM25's IDF already discounts the common ones.
 */
const QUERY_STOPWORDS = new Set(
  ('a an and are as at be by can code defined define definition do does file files for from how i in is it its me of on or ' +
    'show that the this to use used uses what when where which who why with work works would you codebase function class method')
    .split(' '),
);

type Role = 'single' | 'part' | 'joined';

const isLower = (c: number) => c >= 97 && c <= 122;
const isUpper = (c: number) => c >= 65 && c <= 90;
const isDigit = (c: number) => c >= 48 && c <= 57;
const isAlnum = (c: number) => isLower(c) || isUpper(c) || isDigit(c);

/**
 * Walks the identifiers of `text` (ASCII letters and digits, runs joined by single '_' or '-') and
 * emits each lowercased word, then, for a multi-word identifier, the joined form. Word boundaries
 * inside a run: lower->Upper (parseConfig), acronym->word (HTTPServer -> http|server), letter<->digit.
 * A hand-written scanner rather than regexes: it runs over every byte of the workspace.
 */
function forEachToken(text: string, emit: (token: string, role: Role) => void): void {
  const n = text.length;
  const starts: number[] = [];
  const ends: number[] = [];
  let i = 0;
  while (i < n) {
    if (!isAlnum(text.charCodeAt(i))) {
      i++;
      continue;
    }
    starts.length = 0;
    ends.length = 0;
    for (;;) {
      // One alphanumeric run [a, i), split at case and digit boundaries.
      const a = i;
      while (i < n && isAlnum(text.charCodeAt(i))) i++;
      let partStart = a;
      for (let k = a + 1; k < i; k++) {
        const p = text.charCodeAt(k - 1);
        const c = text.charCodeAt(k);
        const boundary =
          (isLower(p) && isUpper(c)) ||
          (isUpper(p) && isUpper(c) && k + 1 < i && isLower(text.charCodeAt(k + 1))) ||
          (!isDigit(p) && isDigit(c)) ||
          (isDigit(p) && !isDigit(c));
        if (boundary) {
          starts.push(partStart);
          ends.push(k);
          partStart = k;
        }
      }
      starts.push(partStart);
      ends.push(i);
      const sep = text.charCodeAt(i);
      if ((sep === 95 || sep === 45) && i + 1 < n && isAlnum(text.charCodeAt(i + 1))) i++;
      else break;
    }
    if (starts.length === 1) emit(text.slice(starts[0], ends[0]).toLowerCase(), 'single');
    else {
      let joined = '';
      for (let p = 0; p < starts.length; p++) {
        const w = text.slice(starts[p], ends[p]).toLowerCase();
        joined += w;
        emit(w, 'part');
      }
      emit(joined, 'joined');
    }
  }
}

/** Splits text into lowercased identifier words (plus joined multi-word identifiers), in order. */
export function tokenize(text: string): string[] {
  const out: string[] = [];
  forEachToken(text, (t) => out.push(t));
  return out;
}

export interface QueryTerm {
  term: string;
  weight: number;
}

/**
 * The query's terms: tokenized like documents, without question words, each term once. A
 * multi-word identifier in the question is the most specific thing the user typed, so its joined
 * form weighs 2 and its separate words 0.5 each (they are common on their own: "config", "file");
 * a plain word weighs 1. A term seen in several roles keeps its largest weight.
 */
export function queryTerms(query: string): QueryTerm[] {
  const weights = new Map<string, number>();
  const put = (t: string, w: number) => {
    if (!QUERY_STOPWORDS.has(t)) weights.set(t, Math.max(weights.get(t) ?? 0, w));
  };
  forEachToken(query, (t, role) => put(t, role === 'single' ? 1 : role === 'part' ? 0.5 : 2));
  return [...weights].map(([term, weight]) => ({ term, weight }));
}

interface FieldIndex {
  tf: Array<Map<string, number>>;
  len: number[];
  avgLen: number;
  df: Map<string, number>;
}

function indexField(docs: readonly string[], terms: ReadonlySet<string>): FieldIndex {
  const tf: Array<Map<string, number>> = [];
  const len: number[] = [];
  const df = new Map<string, number>();
  for (const d of docs) {
    const m = new Map<string, number>();
    let length = 0;
    // Only query terms need counts; the length counts every token.
    forEachToken(d, (t) => {
      length++;
      if (terms.has(t)) m.set(t, (m.get(t) ?? 0) + 1);
    });
    for (const t of m.keys()) df.set(t, (df.get(t) ?? 0) + 1);
    tf.push(m);
    len.push(length);
  }
  const total = len.reduce((a, b) => a + b, 0);
  return { tf, len, avgLen: docs.length ? total / docs.length : 0, df };
}

function bm25(ix: FieldIndex, doc: number, terms: readonly QueryTerm[], n: number, k1: number, b: number): number {
  let s = 0;
  const norm = ix.avgLen > 0 ? ix.len[doc] / ix.avgLen : 0;
  for (const { term: t, weight } of terms) {
    const f = ix.tf[doc].get(t);
    if (!f) continue;
    const df = ix.df.get(t) ?? 0;
    // BM25+'s non-negative IDF variant: a term in most documents still counts a little, never negatively.
    const idf = Math.log(1 + (n - df + 0.5) / (df + 0.5));
    s += (weight * idf * (f * (k1 + 1))) / (f + k1 * (1 - b + b * norm));
  }
  return s;
}

/**
 * Scores every file and returns all of them, best first; files that match nothing score 0 and
 * follow in path order (the caller decides whether to pack them).
 */
export function rankFiles<T extends RankInput>(files: readonly T[], query: string, options: RankOptions = {}): RankedFile<T>[] {
  const k1 = options.k1 ?? 1.2;
  const b = options.b ?? 0.75;
  const pathBoost = options.pathBoost ?? 3;
  if (!(k1 >= 0) || !(b >= 0 && b <= 1) || !(pathBoost >= 0)) {
    throw new Error(`rankFiles: need k1 >= 0, 0 <= b <= 1, pathBoost >= 0 (got k1=${k1}, b=${b}, pathBoost=${pathBoost})`);
  }
  const terms = queryTerms(query);
  const termSet = new Set(terms.map((t) => t.term));
  const n = files.length;
  let scores: number[];
  if (terms.length === 0) {
    scores = new Array(n).fill(0);
  } else {
    const content = indexField(files.map((f) => f.text), termSet);
    const paths = indexField(files.map((f) => f.path), termSet);
    scores = files.map((_, i) => bm25(content, i, terms, n, k1, b) + pathBoost * bm25(paths, i, terms, n, k1, b));
  }
  return files
    .map((file, i) => ({ file, score: scores[i] }))
    .sort((x, y) => y.score - x.score || (x.file.path < y.file.path ? -1 : x.file.path > y.file.path ? 1 : 0));
}
