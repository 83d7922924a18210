// files.exclude / search.exclude globs read with VS Code's syntax (picomatch, configured for it),
// one pattern and path at a time; test/core/context/scan.test.ts covers them inside a real walk.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ExcludeMatcher, globToRegExp } from '../../../core/context/excludeGlobs';

const m = (g: string, p: string) => globToRegExp(g).test(p);

test('`*`, `?` and `**`: within a segment, across segments, or none', () => {
  assert.equal(m('**/node_modules', 'a/b/node_modules'), true);
  assert.equal(m('**/node_modules', 'node_modules'), true);
  assert.equal(m('*.ts', 'b.ts'), true);
  assert.equal(m('*.ts', 'a/b.ts'), false);
  assert.equal(m('**/*.ts', 'a/b.ts'), true);
  assert.equal(m('a/**/b', 'a/b'), true);
  assert.equal(m('a/**/b', 'a/x/y/b'), true);
  assert.equal(m('a/**', 'a'), true);
  assert.equal(m('a/**', 'a/x/y'), true);
  assert.equal(m('a/?.ts', 'a/b.ts'), true);
  assert.equal(m('a/?.ts', 'a/bb.ts'), false);
  assert.equal(m('a?b', 'a/b'), false);
});

test('dotfiles and dot folders are matched like any other name', () => {
  assert.equal(m('*', '.env'), true);
  assert.equal(m('**/*.tmp', '.cache/x.tmp'), true);
  assert.equal(m('**/.git', 'sub/.git'), true);
  assert.equal(m('a/*/b', 'a/.x/b'), true);
});

test('braces: alternatives, nested, around segments', () => {
  assert.equal(m('**/*.{ts,js}', 'x/y.js'), true);
  assert.equal(m('**/*.{ts,js}', 'x/y.py'), false);
  assert.equal(m('{coverage,dist}/**', 'dist/a/b.js'), true);
  assert.equal(m('{coverage,dist}/**', 'out/a.js'), false);
  assert.equal(m('{a,{b,c}}/x', 'c/x'), true);
  assert.equal(m('{**/*.html,**/*.txt}', 'docs/a.txt'), true);
});

test('character classes: ranges, [!...] and [^...] negation, never a slash', () => {
  assert.equal(m('v[0-9].md', 'v1.md'), true);
  assert.equal(m('v[0-9].md', 'va.md'), false);
  assert.equal(m('[!a]*.ts', 'a1.ts'), false);
  assert.equal(m('[!a]*.ts', 'b1.ts'), true);
  assert.equal(m('[^a]*.ts', 'a1.ts'), false);
  assert.equal(m('x[!a]y', 'x/y'), false);
  assert.equal(m('file[1].txt', 'file1.txt'), true);
});

test('characters that are plain text in VS Code globs stay plain', () => {
  assert.equal(m('file(1).txt', 'file(1).txt'), true);
  assert.equal(m('file(1).txt', 'file1.txt'), false);
  assert.equal(m('a|b', 'a|b'), true);
  assert.equal(m('a|b', 'a'), false);
  assert.equal(m('@(a|b)', '@(a|b)'), true);
  assert.equal(m('!foo', '!foo'), true);
  assert.equal(m('!foo', 'bar'), false);
  assert.equal(m('a.b', 'axb'), false);
  assert.equal(m('$x^+', '$x^+'), true);
});

test('settings spelled as ./out/, out/ or with backslashes mean out', () => {
  for (const g of ['./out/', 'out/', ' out ', 'out']) assert.equal(m(g, 'out'), true, g);
  assert.equal(m('build\\gen', 'build/gen'), true);
});

test('ExcludeMatcher: true, false and when-clauses; bad values named', () => {
  const x = new ExcludeMatcher({ '**/*.js': { when: '$(basename).ts' }, '*.log': true, '*.md': false, '': true });
  assert.equal(x.matches('src/a.js', new Set(['a.ts', 'a.js'])), true);
  assert.equal(x.matches('src/b.js', new Set(['b.js'])), false);
  assert.equal(x.matches('x.log', new Set()), true);
  assert.equal(x.matches('README.md', new Set()), false);
  assert.equal(new ExcludeMatcher({ a: false, b: null }).empty, true);
  assert.throws(() => new ExcludeMatcher({ x: { when: 3 } as never }), /exclude setting "x"/);
});
