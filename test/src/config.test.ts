import { test, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import * as os from 'node:os';
import * as path from 'node:path';
import { mock } from '../support/vscode';
import { readConfig, resolveModelSource, isHubRepoId, hubModelDir, DEFAULTS } from '../../src/config';
import { DEFAULT_CONTEXT_TOKENS } from '../../core/defaultModel';

beforeEach(() => mock.reset());

test('defaults come from package.json contributes.configuration', () => {
  const c = readConfig();
  assert.deepEqual(
    { model: c.model, device: c.device, quantize: c.quantize, cachePrecision: c.cachePrecision, think: c.think, memoryBudgetMb: c.memoryBudgetMb, contextTokens: c.contextTokens, maxNewTokens: c.maxNewTokens, temperature: c.temperature },
    { model: '', device: 'cpu', quantize: undefined, cachePrecision: 'float16', think: { ratio: 0.5, window: 32, recent: 32 }, memoryBudgetMb: 1024, contextTokens: DEFAULT_CONTEXT_TOKENS, maxNewTokens: 512, temperature: 0 },
  );
  assert.deepEqual(c.problems, []);
});

test('valid settings are read as set', () => {
  mock.setConfig('thinkLens.model', '  /models/x  ');
  mock.setConfig('thinkLens.device', 'cuda');
  mock.setConfig('thinkLens.weights', 'int4');
  mock.setConfig('thinkLens.cachePrecision', 'float32');
  mock.setConfig('thinkLens.pruneRatio', 0.25);
  mock.setConfig('thinkLens.observationWindow', 8);
  mock.setConfig('thinkLens.recent', 0);
  mock.setConfig('thinkLens.memoryBudgetMb', 64);
  mock.setConfig('thinkLens.contextTokens', 2048);
  mock.setConfig('thinkLens.maxNewTokens', 20);
  mock.setConfig('thinkLens.temperature', 0.7);
  const c = readConfig();
  assert.equal(c.model, '/models/x');
  assert.equal(c.device, 'cuda');
  assert.equal(c.quantize, 'int4');
  assert.equal(c.cachePrecision, 'float32');
  assert.deepEqual(c.think, { ratio: 0.25, window: 8, recent: 0 });
  assert.equal(c.memoryBudgetMb, 64);
  assert.equal(c.contextTokens, 2048);
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
  mock.setConfig('thinkLens.cachePrecision', 'bf16');
  const c = readConfig();
  assert.equal(c.device, 'cpu');
  assert.equal(c.quantize, undefined);
  assert.equal(c.think.ratio, 0.5);
  assert.equal(c.think.window, 32);
  assert.equal(c.memoryBudgetMb, 1024);
  assert.equal(c.maxNewTokens, 512);
  assert.equal(c.cachePrecision, 'float16');
  assert.equal(c.problems.length, 7);
  assert.match(c.problems[0], /thinkLens\.device = "tpu" is invalid \(one of cpu, webgpu, cuda\); using cpu/);
  assert.match(c.problems[1], /thinkLens\.weights = "fp8" is invalid \(one of float32, int8, int4\); using float32/);
  assert.match(c.problems.join('\n'), /thinkLens\.pruneRatio = 1 is invalid \(a fraction in \[0, 0\.95\]\); using 0\.5/);
  assert.match(c.problems.join('\n'), /thinkLens\.observationWindow = 2\.5 is invalid \(an integer >= 1\)/);
  assert.match(c.problems.join('\n'), /thinkLens\.maxNewTokens = "many" is invalid/);
  assert.match(c.problems.join('\n'), /thinkLens\.cachePrecision = "bf16" is invalid \(float16 or float32\); using float16/);
});

test('contextTokens: the default prompt cap, an integer of at least 256', async () => {
  const pkg = (await import('../../package.json')).default as unknown as { contributes: { configuration: { properties: Record<string, { default: unknown; minimum: unknown; markdownDescription: string }> } } };
  const schema = pkg.contributes.configuration.properties['thinkLens.contextTokens'];
  assert.equal(schema.default, DEFAULT_CONTEXT_TOKENS, 'package.json and core/defaultModel.ts agree');
  assert.equal(schema.minimum, 256);
  assert.match(schema.markdownDescription, /CPU/, 'the description says why: prefill time on a CPU');
  assert.equal(DEFAULTS.contextTokens, DEFAULT_CONTEXT_TOKENS);
  for (const bad of [100, 4096.5, '8k']) {
    mock.setConfig('thinkLens.contextTokens', bad);
    const c = readConfig();
    assert.equal(c.contextTokens, DEFAULT_CONTEXT_TOKENS);
    assert.deepEqual(c.problems, [`thinkLens.contextTokens = ${JSON.stringify(bad)} is invalid (an integer >= 256); using ${DEFAULT_CONTEXT_TOKENS}.`]);
  }
  mock.setConfig('thinkLens.contextTokens', 256);
  assert.equal(readConfig().contextTokens, 256);
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

test('model setting: a .gguf path (absolute, ~, relative) or an Ollama blob is a file source', () => {
  const g = '/gs';
  const blob = `/home/u/.ollama/models/blobs/sha256-${'ab'.repeat(32)}`;
  assert.deepEqual(resolveModelSource('/m/qwen3-0.6b-q8_0.gguf', g), { kind: 'file', dir: '/m/qwen3-0.6b-q8_0.gguf' });
  assert.deepEqual(resolveModelSource('~/models/Llama.GGUF', g), { kind: 'file', dir: path.join(os.homedir(), 'models/Llama.GGUF') });
  assert.deepEqual(resolveModelSource('./m.gguf', g, '/ws'), { kind: 'file', dir: '/ws/m.gguf' });
  // owner/name.gguf would pass as a repo id: a .gguf is always a path.
  assert.deepEqual(resolveModelSource('models/tiny.gguf', g, '/ws'), { kind: 'file', dir: '/ws/models/tiny.gguf' });
  assert.deepEqual(resolveModelSource(blob, g), { kind: 'file', dir: blob });
  assert.deepEqual(resolveModelSource('/m/gguf-models', g), { kind: 'folder', dir: '/m/gguf-models' });
});
