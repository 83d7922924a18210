// Packing ranked files into a token budget with an injected counter: the exact budget, rank order,
// skip-and-try-next, truncation of the top file only, and the summary arithmetic.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { estimateTokens, fileBlock, numberLines, packFiles, splitLines, type TokenCounter } from '../../../core/context/pack';

/** One token per whitespace-separated word and per line break: simple, exact, and not additive-free. */
function wordCounter(): TokenCounter & { calls: number; texts: number } {
  const f = (async (texts: string[]) => {
    f.calls++;
    f.texts += texts.length;
    return texts.map((t) => (t.match(/\S+/g)?.length ?? 0) + (t.match(/\n/g)?.length ?? 0));
  }) as TokenCounter & { calls: number; texts: number };
  f.calls = 0;
  f.texts = 0;
  return f;
}
const countOf = async (t: string) => (await wordCounter()([t]))[0];

test('file blocks: header with the path, lines numbered from 1, CRLF and a final newline handled', () => {
  assert.equal(fileBlock('src/a.ts', 'one\ntwo\n'), '=== src/a.ts ===\n1| one\n2| two\n');
  assert.equal(fileBlock('a', 'x\r\ny'), '=== a ===\n1| x\n2| y\n');
  assert.deepEqual(splitLines('a\n\nb\n'), ['a', '', 'b']);
  assert.equal(numberLines(['p', 'q'], 41), '41| p\n42| q\n');
});

test('respects the budget exactly and keeps rank order; a file that does not fit is skipped, the next tried', async () => {
  const ranked = [
    { path: 'a.ts', text: 'a b c\n' }, // block: "=== a.ts ===" 3 words + 1 nl, "1| a b c" 4 words + 1 nl = 9
    { path: 'big.ts', text: 'w '.repeat(50) + '\n' }, // far too big
    { path: 'c.ts', text: 'c\n' }, // 3+1 + 2+1 = 7
    { path: 'd.ts', text: 'd e\n' }, // 3+1 + 3+1 = 8
  ];
  const blocks = ranked.map((f) => fileBlock(f.path, f.text));
  const cost = await Promise.all(blocks.map(countOf));
  assert.deepEqual([cost[0], cost[2], cost[3]], [9, 7, 8]);
  const counter = wordCounter();
  // 9 + 7 = 16 fits, + 8 = 24 would not: d.ts is skipped.
  const r = await packFiles(ranked, { budgetTokens: 23, count: counter });
  assert.deepEqual(r.included, ['a.ts', 'c.ts']);
  assert.equal(r.prompt, blocks[0] + blocks[2]);
  assert.equal(r.summary.tokens, 16);
  assert.deepEqual(r.summary, { filesIncluded: 2, filesConsidered: 4, filesSkipped: 2, tokens: 16, budgetTokens: 23 });
  // Exactly at the budget: all three that fit.
  const exact = await packFiles(ranked, { budgetTokens: 24, count: wordCounter() });
  assert.deepEqual(exact.included, ['a.ts', 'c.ts', 'd.ts']);
  assert.equal(exact.summary.tokens, 24);
  assert.equal(await countOf(exact.prompt), 24);
});

test('the top-ranked file is truncated to the lines that fit; others never are', async () => {
  const text = Array.from({ length: 100 }, (_, i) => `line ${i + 1}`).join('\n') + '\n';
  const ranked = [
    { path: 'top.ts', text },
    { path: 'small.ts', text: 'x\n' }, // 7 tokens
  ];
  const r = await packFiles(ranked, { budgetTokens: 60, count: wordCounter() });
  assert.equal(r.included[0], 'top.ts');
  assert.ok(r.truncated);
  assert.equal(r.truncated.linesTotal, 100);
  // Header "=== top.ts (lines 1-N of 100) ===" = 7 words + 1 nl = 8; each line "k| line k" = 3 + 1 = 4.
  // 8 + 4N <= 60 -> N = 13, leaving 0 for small.ts.
  assert.equal(r.truncated.linesKept, 13);
  assert.ok(r.prompt.startsWith('=== top.ts (lines 1-13 of 100) ===\n1| line 1\n'));
  assert.ok(r.prompt.endsWith('13| line 13\n'));
  assert.equal(r.summary.tokens, 60);
  assert.ok(r.summary.tokens <= 60);

  // A big file further down is skipped, not truncated.
  const r2 = await packFiles([{ path: 'small.ts', text: 'x\n' }, { path: 'top.ts', text }], { budgetTokens: 60, count: wordCounter() });
  assert.deepEqual(r2.included, ['small.ts']);
  assert.equal(r2.truncated, undefined);
});

test('a budget too small for even the header includes nothing', async () => {
  const r = await packFiles([{ path: 'a.ts', text: 'a\n' }], { budgetTokens: 3, count: wordCounter() });
  assert.deepEqual(r.included, []);
  assert.equal(r.prompt, '');
  assert.deepEqual(r.summary, { filesIncluded: 0, filesConsidered: 1, filesSkipped: 1, tokens: 0, budgetTokens: 3 });
  const zero = await packFiles([{ path: 'a.ts', text: 'a\n' }], { budgetTokens: 0, count: wordCounter() });
  assert.equal(zero.summary.filesIncluded, 0);
});

test('the final whole-prompt count wins over per-block sums (merges across blocks)', async () => {
  // A counter that charges 5 extra tokens whenever two blocks are joined: the sum says 2 files fit,
  // the real prompt does not, so the last one is dropped.
  const base = wordCounter();
  const joining: TokenCounter = async (texts) =>
    (await base(texts)).map((n, i) => n + 5 * Math.max(0, (texts[i].match(/^=== /gm)?.length ?? 1) - 1));
  const ranked = [
    { path: 'a.ts', text: 'a\n' }, // 7
    { path: 'b.ts', text: 'b\n' }, // 7
  ];
  const r = await packFiles(ranked, { budgetTokens: 14, count: joining });
  assert.deepEqual(r.included, ['a.ts']);
  assert.equal(r.summary.tokens, 7);
});

test('the estimate pre-filters without asking the counter; admission is always exact', async () => {
  const ranked = [{ path: 'a.ts', text: 'a\n' }];
  for (let i = 0; i < 200; i++) ranked.push({ path: `huge${i}.ts`, text: 'word '.repeat(2000) + '\n' });
  const counter = wordCounter();
  const r = await packFiles(ranked, { budgetTokens: 100, count: counter });
  assert.deepEqual(r.included, ['a.ts']);
  // The top file, then the final check; none of the 200 huge files reached the counter.
  assert.equal(counter.texts, 2);
  assert.equal(r.summary.filesConsidered, 201);
});

test('summary adds the files skipped before ranking; counter faults and bad budgets are clear errors', async () => {
  const r = await packFiles([{ path: 'a.ts', text: 'a\n' }], { budgetTokens: 100, count: wordCounter(), skippedBeforeRanking: 9 });
  assert.deepEqual(r.summary, { filesIncluded: 1, filesConsidered: 10, filesSkipped: 9, tokens: 7, budgetTokens: 100 });
  await assert.rejects(packFiles([{ path: 'a', text: 'a' }], { budgetTokens: 10, count: async () => [] }), /token counter returned \[\] for 1 texts/);
  await assert.rejects(packFiles([], { budgetTokens: -1, count: wordCounter() }), /budgetTokens must be an integer >= 0, got -1/);
});

test('an aborted signal stops packing', async () => {
  const ac = new AbortController();
  ac.abort(new Error('stop'));
  await assert.rejects(packFiles([{ path: 'a', text: 'a' }], { budgetTokens: 10, count: wordCounter(), signal: ac.signal }), /stop/);
});

test('estimateTokens is bytes / 6, rounded down', () => {
  assert.equal(estimateTokens(''), 0);
  assert.equal(estimateTokens('abcdef'), 1);
  assert.equal(estimateTokens('é'.repeat(6)), 2); // 12 UTF-8 bytes
});
