// Line-aligned chunks for map-reduce summarization: budget per chunk, no overlap, no gap, original
// line numbers, and the over-long line case.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chunkText } from '../../../core/context/chunkText';
import type { TokenCounter } from '../../../core/context/pack';

/** One token per whitespace-separated word and per line break. */
const words: TokenCounter = async (texts) => texts.map((t) => (t.match(/\S+/g)?.length ?? 0) + (t.match(/\n/g)?.length ?? 0));

test('chunks cover every line once, in order, each within the budget, with original numbers', async () => {
  const lines = Array.from({ length: 250 }, (_, i) => (i % 7 === 0 ? `long line ${i} ` + 'w '.repeat(i % 13) : `line ${i + 1}`));
  const text = lines.join('\n') + '\n';
  const chunks = await chunkText('src/big.ts', text, { budgetTokens: 80, count: words });
  assert.ok(chunks.length > 5);
  let expectNext = 1;
  for (const c of chunks) {
    assert.equal(c.firstLine, expectNext, 'no gap, no overlap');
    assert.ok(c.lastLine >= c.firstLine);
    assert.ok(c.tokens <= 80, `chunk ${c.firstLine}-${c.lastLine}: ${c.tokens}`);
    assert.equal(c.tokens, (await words([c.text]))[0]);
    assert.ok(c.text.startsWith(`=== src/big.ts (lines ${c.firstLine}-${c.lastLine} of 250) ===\n${c.firstLine}| ${lines[c.firstLine - 1]}\n`));
    assert.ok(c.text.endsWith(`${c.lastLine}| ${lines[c.lastLine - 1]}\n`));
    expectNext = c.lastLine + 1;
  }
  assert.equal(expectNext, 251);
  // Greedy: a chunk could not have taken its next line.
  for (let i = 0; i + 1 < chunks.length; i++) {
    const c = chunks[i];
    const withNext = `=== src/big.ts (lines ${c.firstLine}-${c.lastLine + 1} of 250) ===\n` +
      lines.slice(c.firstLine - 1, c.lastLine + 1).map((l, k) => `${c.firstLine + k}| ${l}\n`).join('');
    assert.ok((await words([withNext]))[0] > 80, `chunk ${i} stopped early`);
  }
});

test('a small file is one chunk', async () => {
  const chunks = await chunkText('a.md', 'hello\nworld', { budgetTokens: 100, count: words });
  assert.deepEqual(chunks, [{ firstLine: 1, lastLine: 2, text: '=== a.md (lines 1-2 of 2) ===\n1| hello\n2| world\n', tokens: 14 }]);
});

test('a line longer than the budget is cut into pieces that keep its line number', async () => {
  const long = Array.from({ length: 60 }, (_, i) => `w${i}`).join(' ');
  const text = `first\n${long}\nlast\n`;
  const chunks = await chunkText('x.txt', text, { budgetTokens: 20, count: words });
  const mid = chunks.filter((c) => c.firstLine === 2);
  assert.ok(mid.length > 1);
  for (const c of chunks) assert.ok(c.tokens <= 20);
  const rejoined = mid.map((c) => c.text.slice(c.text.indexOf('2| ') + 3, -1)).join('');
  assert.equal(rejoined, long);
  assert.deepEqual(chunks.map((c) => c.firstLine), [1, ...mid.map(() => 2), 3]);
});

test('budgets that cannot hold a header, and bad counters, are clear errors', async () => {
  await assert.rejects(chunkText('a', 'x', { budgetTokens: 3, count: words }), /cannot hold even the chunk header for a/);
  await assert.rejects(chunkText('a', 'x', { budgetTokens: 0, count: words }), /budgetTokens must be a positive integer, got 0/);
  await assert.rejects(chunkText('a', 'x', { budgetTokens: 10, count: async () => [-1] }), /token counter returned \[-1\]/);
});
