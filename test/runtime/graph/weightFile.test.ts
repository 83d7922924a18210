// The weight file a quantized load streams its initializers to: keyed entries written once,
// aligned; the folder goes with dispose, and folders of processes that died go at the next create.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { defaultRoot, WEIGHT_FILE, WeightFile } from '../../../runtime/graph/weightFile';

test('entries are written once, 64-byte aligned, and read back from the file', () => {
  const file = WeightFile.create(mkdtempSync(join(tmpdir(), 'think-wf-')));
  try {
    let made = 0;
    const a = file.put('a', () => (made++, Float32Array.of(1, 2, 3)));
    const b = file.put('b', () => (made++, Uint8Array.of(7, 8)));
    assert.deepEqual(file.put('a', () => (made++, new Uint8Array(99))), a, 'a known key returns where it is');
    assert.equal(made, 2);
    assert.deepEqual(a, { offset: 0, length: 12 });
    assert.deepEqual(b, { offset: 64, length: 2 });
    const bytes = readFileSync(join(file.folder, WEIGHT_FILE));
    assert.deepEqual(new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + 12)), Float32Array.of(1, 2, 3));
    assert.deepEqual([...bytes.subarray(64, 66)], [7, 8]);
  } finally {
    file.dispose();
  }
  assert.ok(!existsSync(file.folder));
});

test('a folder whose owner process is gone is removed by the next create; a live one is kept', () => {
  const root = mkdtempSync(join(tmpdir(), 'think-wf-root-'));
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
  mkdirSync(join(root, `${dead}-gone`));
  writeFileSync(join(root, `${dead}-gone`, 'owner'), dead);
  mkdirSync(join(root, 'unrelated'));
  const mine = WeightFile.create(root);
  const other = WeightFile.create(root);
  try {
    assert.ok(!existsSync(join(root, `${dead}-gone`)), 'the dead process left it');
    assert.ok(existsSync(join(root, 'unrelated')), 'folders without an owner file are not ours');
    assert.ok(existsSync(mine.folder), 'this process is alive');
  } finally {
    mine.dispose();
    other.dispose();
  }
});

test('the default folder is the user cache, never the (possibly RAM-backed) temp dir', () => {
  assert.equal(defaultRoot({ XDG_CACHE_HOME: '/c' }, 'linux', '/h'), '/c/think-lens/weights');
  assert.equal(defaultRoot({}, 'linux', '/h'), '/h/.cache/think-lens/weights');
  assert.equal(defaultRoot({}, 'darwin', '/h'), '/h/Library/Caches/think-lens/weights');
  assert.equal(defaultRoot({ LOCALAPPDATA: 'C:\\Users\\u\\AppData\\Local' }, 'win32', 'C:\\Users\\u'), join('C:\\Users\\u\\AppData\\Local', 'think-lens', 'weights'));
  assert.equal(defaultRoot({ THINK_LENS_WEIGHT_DIR: '/x' }, 'linux', '/h'), '/x');
});
