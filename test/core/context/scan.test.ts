// Workspace scanning on real temporary trees: ignore rules, exclude globs, every skip reason,
// symlink loops and duplicates, cancellation, and a 10,000-file tree.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { looksBinary, looksMinified, scanWorkspace } from '../../../core/context/scan';

const temps: string[] = [];
after(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

/** Writes `files` (relative path -> content) under a fresh temp dir. */
function tree(files: Record<string, string | Buffer>): string {
  const root = mkdtempSync(join(tmpdir(), 'scan-'));
  temps.push(root);
  for (const [rel, content] of Object.entries(files)) {
    const p = join(root, rel);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, content);
  }
  return root;
}

const paths = (r: { files: { path: string }[] }) => r.files.map((f) => f.path);

test('.gitignore: root and nested files, negation, directory-only patterns, anchored patterns', async () => {
  const root = tree({
    '.gitignore': 'build/\n*.log\n!keep.log\n/top-only.txt\nlogs\n',
    'keep.log': 'kept by negation\n',
    'drop.log': 'ignored\n',
    'top-only.txt': 'anchored at the root\n',
    'src/top-only.txt': 'anchored pattern does not reach here\n',
    'build/out.js': 'ignored directory\n',
    'src/build': 'a FILE named build: `build/` only matches directories\n',
    'src/a.ts': 'export const a = 1;\n',
    'src/.gitignore': 'generated/\n!important.log\nsecret.ts\n',
    'src/important.log': 'negation in a nested .gitignore overrides the root *.log\n',
    'src/other.log': 'still ignored by the root rule\n',
    'src/secret.ts': 'ignored by the nested file\n',
    'secret.ts': 'the nested rule does not apply above its folder\n',
    'src/generated/g.ts': 'ignored dir in nested file\n',
    'src/deep/.gitignore': '!secret.ts\n',
    'src/deep/secret.ts': 'deeper negation wins\n',
    'logs/x.txt': 'pattern without slash matches a directory too\n',
  });
  const r = await scanWorkspace(root);
  assert.deepEqual(paths(r), [
    '.gitignore',
    'keep.log',
    'secret.ts',
    'src/.gitignore',
    'src/a.ts',
    'src/build',
    'src/deep/.gitignore',
    'src/deep/secret.ts',
    'src/important.log',
    'src/top-only.txt',
  ]);
  // drop.log, top-only.txt, src/other.log, src/secret.ts are files; build/, logs/, src/generated/ directories.
  assert.equal(r.skipped.gitignored, 4);
  assert.equal(r.skippedDirs.gitignored, 3);
  assert.equal(r.filesSkipped, 4);
});

test('.gitignore: a negation cannot re-include a file inside an ignored directory (as git)', async () => {
  const root = tree({ '.gitignore': 'out/\n!out/keep.ts\n', 'out/keep.ts': 'x\n', 'a.ts': 'y\n' });
  const r = await scanWorkspace(root);
  assert.deepEqual(paths(r), ['.gitignore', 'a.ts']);
});

test('.gitignore is honoured case-sensitively and can be switched off', async () => {
  const root = tree({ '.gitignore': 'Secret.ts\n', 'Secret.ts': 'a\n', 'secret.ts': 'b\n' });
  assert.deepEqual(paths(await scanWorkspace(root)), ['.gitignore', 'secret.ts']);
  assert.deepEqual(paths(await scanWorkspace(root, { useGitignore: false })), ['.gitignore', 'Secret.ts', 'secret.ts']);
});

test('node_modules and .git are always skipped, whatever .gitignore says', async () => {
  const root = tree({
    '.gitignore': '!node_modules/\n',
    'node_modules/pkg/index.js': 'x\n',
    'packages/a/node_modules/b/index.js': 'x\n',
    '.git/HEAD': 'ref: refs/heads/main\n',
    'packages/a/index.ts': 'export {};\n',
  });
  const r = await scanWorkspace(root);
  assert.deepEqual(paths(r), ['.gitignore', 'packages/a/index.ts']);
  assert.equal(r.skippedDirs.alwaysSkipped, 3);
});

test('VS Code exclude globs: **, *, ?, braces, classes, false entries, when-clauses', async () => {
  const root = tree({
    'src/a.ts': '1\n',
    'src/a.js': 'compiled from a.ts\n',
    'src/b.js': 'no sibling b.ts\n',
    'src/c.tmp': 'x\n',
    'deep/x/y/c.tmp': 'x\n',
    'out/bundle.ts': 'x\n',
    'docs/v1.md': 'x\n',
    'docs/v2.md': 'x\n',
    'docs/va.md': 'x\n',
    'notes.bak': 'x\n',
    'sub/notes.bak': 'root-relative pattern does not reach here\n',
    'coverage/lcov.info': 'x\n',
  });
  const r = await scanWorkspace(root, {
    exclude: {
      '**/*.tmp': true,
      out: true,
      'docs/v[0-9].md': true,
      '*.bak': true,
      '{coverage,dist}/**': true,
      '**/*.js': { when: '$(basename).ts' },
      '**/*.md': false,
    },
  });
  assert.deepEqual(paths(r), ['docs/va.md', 'src/a.ts', 'src/b.js', 'sub/notes.bak']);
  // src/c.tmp, deep/x/y/c.tmp, docs/v1.md, docs/v2.md, notes.bak, src/a.js
  assert.equal(r.skipped.excluded, 6);
  // out/, and coverage/ itself: in VS Code `coverage/**` matches the folder too (`**` can be no segments).
  assert.equal(r.skippedDirs.excluded, 2);
});

test('binary, non-UTF-8, >1 MB, empty, minified and lock files are skipped and counted', async () => {
  const big = 'const x = 1;\n'.repeat(Math.ceil((1024 * 1024 + 1) / 13));
  const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d]);
  const latin1 = Buffer.from('caf\xe9 cr\xe8me\n', 'latin1');
  const controls = Buffer.alloc(200, 0x01);
  const minified = 'var a=1;'.repeat(600); // 4800 chars on one line
  const root = tree({
    'ok.ts': 'export const ok = "é ✓";\n',
    'bom.ts': '\ufeffexport const bom = 1;\n',
    'img.png': png,
    'ctl.dat': controls,
    'latin1.txt': latin1,
    'big.ts': big,
    'empty.ts': '',
    'bundle.js': minified,
    'lib/jquery.min.js': 'short but named .min\n',
    'package-lock.json': '{}\n',
    'yarn.lock': 'x\n',
    'pnpm-lock.yaml': 'x\n',
    'rust/Cargo.lock': 'x\n',
    'py/poetry.lock': 'x\n',
    'markdown.md': ('A long paragraph line. '.repeat(20) + '\n').repeat(20),
  });
  const r = await scanWorkspace(root);
  assert.deepEqual(paths(r), ['bom.ts', 'markdown.md', 'ok.ts']);
  assert.equal(r.files.find((f) => f.path === 'bom.ts')!.text, 'export const bom = 1;\n', 'BOM removed');
  assert.equal(r.files.find((f) => f.path === 'ok.ts')!.text, 'export const ok = "é ✓";\n');
  assert.equal(r.skipped.binary, 2);
  assert.equal(r.skipped.notUtf8, 1);
  assert.equal(r.skipped.tooLarge, 1);
  assert.equal(r.skipped.empty, 1);
  assert.equal(r.skipped.minified, 2);
  assert.equal(r.skipped.lockFile, 5);
  assert.equal(r.filesSkipped, 12);
});

test('maxFileBytes is configurable; a file exactly at the limit is kept', async () => {
  const root = tree({ 'a.txt': 'x'.repeat(99) + '\n', 'b.txt': 'x'.repeat(100) + '\n' });
  const r = await scanWorkspace(root, { maxFileBytes: 100 });
  assert.deepEqual(paths(r), ['a.txt']);
  assert.equal(r.skipped.tooLarge, 1);
  await assert.rejects(scanWorkspace(root, { maxFileBytes: 0 }), /maxFileBytes must be a positive integer, got 0/);
});

test('sniffers on their own', () => {
  assert.equal(looksBinary(Buffer.from('plain\ttext\r\n\x1b[0m')), false);
  assert.equal(looksBinary(Buffer.from('a\0b')), true);
  // A NUL after the first 8 KB is not looked at.
  assert.equal(looksBinary(Buffer.concat([Buffer.alloc(9000, 0x61), Buffer.from([0])])), false);
  assert.equal(looksMinified('x'.repeat(3000)), true);
  assert.equal(looksMinified(('x'.repeat(80) + '\n').repeat(100)), false);
  assert.equal(looksMinified('x'.repeat(1000)), false, 'short files are never called minified');
});

test('symlink loops terminate and no file is listed twice', async () => {
  const root = tree({ 'src/a.ts': 'a\n', 'src/inner/b.ts': 'b\n', 'other/c.ts': 'c\n' });
  const outside = tree({ 'lib.ts': 'outside\n' });
  symlinkSync('..', join(root, 'src/inner/up')); // loop to an ancestor
  symlinkSync('.', join(root, 'src/self')); // loop to itself
  symlinkSync(join(root, 'src'), join(root, 'alias')); // the same tree again
  symlinkSync(join(root, 'src/a.ts'), join(root, 'other/a-link.ts')); // the same file again
  symlinkSync(outside, join(root, 'vendor')); // a real tree outside: followed
  symlinkSync('missing.ts', join(root, 'dangling.ts'));
  symlinkSync('me', join(root, 'me')); // a link to itself (ELOOP)
  const r = await scanWorkspace(root);
  assert.deepEqual(paths(r), ['other/c.ts', 'src/a.ts', 'src/inner/b.ts', 'vendor/lib.ts']);
  assert.equal(r.skippedDirs.symlinkLoop, 2);
  assert.equal(r.skippedDirs.symlinkDuplicate, 1);
  assert.equal(r.skipped.symlinkDuplicate, 1);
  assert.equal(r.skipped.brokenSymlink, 2);
  const off = await scanWorkspace(root, { followSymlinks: false });
  assert.deepEqual(paths(off), ['other/c.ts', 'src/a.ts', 'src/inner/b.ts']);
});

test('a link reached before the real path is never preferred: the real path wins', async () => {
  // 'a-alias' sorts before 'z-real'; the file must still be listed under its real location.
  const root = tree({ 'z-real/x.ts': 'x\n' });
  symlinkSync(join(root, 'z-real'), join(root, 'a-alias'));
  const r = await scanWorkspace(root);
  assert.deepEqual(paths(r), ['z-real/x.ts']);
});

test('cancellation: an aborted signal rejects with its reason', async () => {
  const files: Record<string, string> = {};
  for (let i = 0; i < 300; i++) files[`d${i % 10}/f${i}.ts`] = `export const v${i} = ${i};\n`;
  const root = tree(files);
  const ac = new AbortController();
  const reason = new Error('user cancelled');
  const p = scanWorkspace(root, { signal: ac.signal, concurrency: 2 });
  ac.abort(reason);
  await assert.rejects(p, (e) => e === reason);
  const pre = new AbortController();
  pre.abort(reason);
  await assert.rejects(scanWorkspace(root, { signal: pre.signal }), (e) => e === reason);
});

test('bad roots give clear errors', async () => {
  const root = tree({ 'a.txt': 'x\n' });
  await assert.rejects(scanWorkspace(join(root, 'nope')), /cannot read folder .*nope: ENOENT/);
  await assert.rejects(scanWorkspace(join(root, 'a.txt')), /a\.txt is not a directory/);
});

test('maxFiles caps what is held and counts the rest as limit', async () => {
  const files: Record<string, string> = {};
  for (let i = 0; i < 20; i++) files[`f${i}.ts`] = 'x\n';
  const r = await scanWorkspace(tree(files), { maxFiles: 5 });
  assert.equal(r.files.length, 5);
  assert.equal(r.skipped.limit, 15);
});

test('10,000-file tree: every text file found once, skips counted exactly', async () => {
  const root = mkdtempSync(join(tmpdir(), 'scan10k-'));
  temps.push(root);
  writeFileSync(join(root, '.gitignore'), 'dist/\n*.tmp\n');
  let expected = 0;
  let binaries = 0;
  let ignored = 0;
  for (let d = 0; d < 100; d++) {
    const dir = join(root, `pkg${d}`, 'src');
    mkdirSync(dir, { recursive: true });
    for (let f = 0; f < 100; f++) {
      const i = d * 100 + f;
      if (i % 50 === 0) {
        writeFileSync(join(dir, `blob${i}.bin`), Buffer.from([1, 2, 0, 3]));
        binaries++;
      } else if (i % 50 === 1) {
        writeFileSync(join(dir, `scratch${i}.tmp`), 'x\n');
        ignored++;
      } else {
        writeFileSync(join(dir, `mod${i}.ts`), `export function fn${i}() { return ${i}; }\n`);
        expected++;
      }
    }
    mkdirSync(join(root, `pkg${d}`, 'dist'));
    writeFileSync(join(root, `pkg${d}`, 'dist', 'index.js'), 'x\n');
  }
  const r = await scanWorkspace(root);
  assert.equal(r.files.length, expected + 1); // + .gitignore
  assert.equal(new Set(paths(r)).size, r.files.length);
  assert.equal(r.skipped.binary, binaries);
  assert.equal(r.skipped.gitignored, ignored);
  assert.equal(r.skippedDirs.gitignored, 100);
  assert.deepEqual(paths(r), [...paths(r)].sort());
  assert.equal(r.files.find((f) => f.path === 'pkg42/src/mod4242.ts')!.text, 'export function fn4242() { return 4242; }\n');
});
