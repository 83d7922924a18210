// `path:line` citation finding (media/shared/citations.ts): what becomes a link and what must not.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { findCitations, parseCitationTarget, splitCitations } from '../../media/shared/citations';

const found = (s: string) => findCitations(s).map((c) => `${c.path}:${c.line}`);

test('citations: paths with an extension and a line, in prose and punctuation', () => {
  assert.deepEqual(found('see src/a.ts:42 and README.md:3.'), ['src/a.ts:42', 'README.md:3']);
  assert.deepEqual(found('(src/panels/answerPanel.ts:7), `runtime/kvcache.ts:120-130`'), ['src/panels/answerPanel.ts:7', 'runtime/kvcache.ts:120']);
  assert.deepEqual(found('./a/b.c:9:4 and node_modules/@types/x/index.d.ts:10'), ['./a/b.c:9', 'node_modules/@types/x/index.d.ts:10']);
  const [c] = findCitations('at src/a.ts:42-50 here');
  assert.deepEqual(c, { path: 'src/a.ts', line: 42, start: 3, end: 17 }, 'the range suffix is part of the link text');
});

test('citations: URLs, times, versions, e-mail hosts and line 0 are not citations', () => {
  for (const s of ['http://example.com:8080/x', 'at 10:30', 'v1.2:3', 'user@host.com:22', 'foo.bar:0', 'a.ts:12abc', 'x/a.ts:5/y', 'Makefile:3']) {
    assert.deepEqual(found(s), [], s);
  }
});

test('citations: splitCitations keeps every character; parseCitationTarget wants exactly one citation', () => {
  const text = 'in src/a.ts:4, then b.py:9';
  const parts = splitCitations(text);
  assert.equal(parts.map((p) => (typeof p === 'string' ? p : text.slice(p.start, p.end))).join(''), text);
  assert.equal(parts.filter((p) => typeof p !== 'string').length, 2);
  assert.deepEqual(parseCitationTarget('runtime/engine.ts:162'), { path: 'runtime/engine.ts', line: 162 });
  assert.equal(parseCitationTarget('see runtime/engine.ts:162'), undefined);
  assert.equal(parseCitationTarget('javascript:alert(1)'), undefined);
});
