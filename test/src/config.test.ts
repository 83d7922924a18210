import { test, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import * as os from 'node:os';
import * as path from 'node:path';
import { mock } from '../support/vscode';
import { readConfig, resolveModelSource, isHubRepoId, hubModelDir } from '../../src/config';

beforeEach(() => mock.reset());

test('defaults come from package.json contributes.configuration', () => {
  const c = readConfig();
  assert.deepEqual(
    { model: c.model, device: c.device, quantize: c.quantize, think: c.think, memoryBudgetMb: c.memoryBudgetMb, maxNewTokens: c.maxNewTokens, temperature: c.temperature },
    { model: '', device: 'cpu', quantize: undefined, think: { ratio: 0.5, window: 32, recent: 32 }, memoryBudgetMb: 1024, maxNewTokens: 512, temperature: 0 },
  );
  assert.deepEqual(c.problems, []);
});

test('valid settings are read as set', () => {
  mock.setConfig('thinkLens.model', '  /models/x  ');
  mock.setConfig('thinkLens.device', 'cuda');
  mock.setConfig('thinkLens.weights', 'int4');
  mock.setConfig('thinkLens.pruneRatio', 0.25);
  mock.setConfig('thinkLens.observationWindow', 8);
  mock.setConfig('thinkLens.recent', 0);
  mock.setConfig('thinkLens.memoryBudgetMb', 64);
  mock.setConfig('thinkLens.maxNewTokens', 20);
  mock.setConfig('thinkLens.temperature', 0.7);
  const c = readConfig();
  assert.equal(c.model, '/models/x');
  assert.equal(c.device, 'cuda');
  assert.equal(c.quantize, 'int4');
  assert.deepEqual(c.think, { ratio: 0.25, window: 8, recent: 0 });
  assert.equal(c.memoryBudgetMb, 64);
  assert.equal(c.maxNewTokens, 20);
  assert.equal(c.temperature, 0.7);
  assert.deepEqual(c.problems, []);
});

test('invalid values fall back to defaults and each is named', () => {
  mock.setConfig('thinkLens.device', 'tpu');
  mock.setConfig('thinkLens.weights', 'fp8');
  mock.setConfig('thinkLens.pruneRatio', 1);
  mock.setConfig('thinkLens.observationWindow', 2.5);
  mock.setConfig('thinkLens.memoryBudgetMb', -3);
  mock.setConfig('thinkLens.maxNewTokens', 'many');
  const c = readConfig();
  assert.equal(c.device, 'cpu');
  assert.equal(c.quantize, undefined);
  assert.equal(c.think.ratio, 0.5);
  assert.equal(c.think.window, 32);
  assert.equal(c.memoryBudgetMb, 1024);
  assert.equal(c.maxNewTokens, 512);
  assert.equal(c.problems.length, 6);
  assert.match(c.problems[0], /thinkLens\.device = "tpu" is invalid \(one of cpu, webgpu, cuda\); using cpu/);
  assert.match(c.problems[1], /thinkLens\.weights = "fp8" is invalid \(one of float32, int8, int4\); using float32/);
  assert.match(c.problems.join('\n'), /thinkLens\.pruneRatio = 1 is invalid \(a fraction in \[0, 0\.95\]\); using 0\.5/);
  assert.match(c.problems.join('\n'), /thinkLens\.observationWindow = 2\.5 is invalid \(an integer >= 1\)/);
  assert.match(c.problems.join('\n'), /thinkLens\.maxNewTokens = "many" is invalid/);
});

test('model setting: folder paths, ~, relative paths and Hub repo ids', () => {
  const g = '/gs';
  assert.deepEqual(resolveModelSource('', g), { kind: 'none' });
  assert.deepEqual(resolveModelSource('/m/llama', g), { kind: 'folder', dir: '/m/llama' });
  assert.deepEqual(resolveModelSource('~/models/a', g), { kind: 'folder', dir: path.join(os.homedir(), 'models/a') });
  assert.deepEqual(resolveModelSource('HuggingFaceTB/SmolLM2-135M-Instruct', g), {
    kind: 'hub',
    repo: 'HuggingFaceTB/SmolLM2-135M-Instruct',
    dir: path.join(g, 'models', 'HuggingFaceTB--SmolLM2-135M-Instruct'),
  });
  assert.deepEqual(resolveModelSource('./models/a', g, '/ws'), { kind: 'folder', dir: '/ws/models/a' });
  assert.deepEqual(resolveModelSource('models/a/b', g, '/ws'), { kind: 'folder', dir: '/ws/models/a/b' });
  assert.equal(isHubRepoId('a/b'), true);
  assert.equal(isHubRepoId('a/../b'), false);
  assert.equal(isHubRepoId('a--x/b'), false);
  assert.equal(isHubRepoId('noslash'), false);
  assert.equal(hubModelDir('/gs', 'o/n'), path.join('/gs', 'models', 'o--n'));
});
