// A missing shared model skips the tests that need it, except in CI (CI=true) or with
// THINK_LENS_MODELS_REQUIRED=1, where it fails them: checked on the helper itself and on a real
// `node --test` run of a test that needs a model that is not there.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { missingModel, modelsRequired, skipWithoutModel } from './models';

const dir = mkdtempSync(join(tmpdir(), 'models-helper-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const absent = join(dir, 'no-such-model');

test('modelsRequired: CI=true or THINK_LENS_MODELS_REQUIRED=1, nothing else', () => {
  assert.equal(modelsRequired({}), false);
  assert.equal(modelsRequired({ CI: 'true' }), true);
  assert.equal(modelsRequired({ THINK_LENS_MODELS_REQUIRED: '1' }), true);
  assert.equal(modelsRequired({ CI: 'false', THINK_LENS_MODELS_REQUIRED: '0' }), false);
});

test('missingModel: a skip reason normally, a thrown error where models are required, nothing when present', () => {
  assert.equal(missingModel(absent, 'stories260k', {}), `stories260k not found: ${absent}`);
  for (const env of [{ CI: 'true' }, { THINK_LENS_MODELS_REQUIRED: '1' }])
    assert.throws(() => missingModel(absent, 'stories260k', env), (e: Error) => e.message.startsWith(`stories260k not found: ${absent} (models are required here`));
  assert.equal(missingModel(dir, 'model', {}), undefined);
  assert.equal(missingModel(dir, 'model', { CI: 'true' }), undefined);
});

test('skipWithoutModel: skips the test (true) normally, throws without skipping where required, false when present', () => {
  const skipped: (string | undefined)[] = [];
  const t = { skip: (m?: string) => void skipped.push(m) };
  assert.equal(skipWithoutModel(t, absent, 'model', {}), true);
  assert.deepEqual(skipped, [`model not found: ${absent}`]);
  assert.throws(() => skipWithoutModel(t, absent, 'model', { THINK_LENS_MODELS_REQUIRED: '1' }), /model not found/);
  assert.equal(skipped.length, 1);
  assert.equal(skipWithoutModel(t, dir, 'model', { CI: 'true' }), false);
});

test('under node --test: the test is skipped without the variables and fails with either', () => {
  const file = join(dir, 'needsModel.test.ts');
  const helper = resolve(__dirname, 'models.ts');
  writeFileSync(
    file,
    `import { test } from 'node:test';\nimport { skipWithoutModel } from ${JSON.stringify(helper)};\n` +
      `test('needs a model', (t) => { if (skipWithoutModel(t, ${JSON.stringify(absent)})) return; throw new Error('unreachable'); });\n`,
  );
  const run = (extra: NodeJS.ProcessEnv) => {
    const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
    for (const k of ['CI', 'THINK_LENS_MODELS_REQUIRED', 'NODE_TEST_CONTEXT']) if (!(k in extra)) delete env[k];
    return spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=tap', file], { cwd: resolve(__dirname, '../..'), env, encoding: 'utf8' });
  };
  const plain = run({});
  assert.equal(plain.status, 0, plain.stdout + plain.stderr);
  assert.match(plain.stdout, /# skipped 1/);
  assert.match(plain.stdout, /# SKIP model not found/);
  for (const env of [{ CI: 'true' }, { THINK_LENS_MODELS_REQUIRED: '1' }]) {
    const r = run(env);
    assert.equal(r.status, 1, `${JSON.stringify(env)}: ${r.stdout}`);
    assert.match(r.stdout, /# fail 1/);
    assert.match(r.stdout, /models are required here/);
  }
});
