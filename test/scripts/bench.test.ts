// The benchmark's quick mode end to end on a tiny random model: every JSON field present with a
// sane value, and llama.cpp (on our GGUF) picking the same next token as our runtime. No timing
// is asserted: speed is the benchmark's own output.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import type { BenchReport } from '../../scripts/bench/report';
import { writeTinyModel } from '../support/tinyModels';
import { webgpuUnavailable } from '../support/webgpu';

const root = resolve(__dirname, '../..');

function hasNodeLlamaCpp(): boolean {
  try {
    require.resolve('node-llama-cpp', { paths: [root] });
    return true;
  } catch {
    return false;
  }
}

/** `npm run bench -- --quick ARGS` on a fresh tiny llama; its stdout and report, or a failed assertion with the bench's stderr. */
async function quickBench(args: string[]): Promise<{ stdout: string; report: BenchReport }> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-test-'));
  try {
    const modelDir = join(dir, 'tiny-llama');
    await writeTinyModel(modelDir, 'llama');
    const out = join(dir, 'bench.json');
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'scripts/bench.ts'), '--quick', ...args, '--model', modelDir, '--out', out], {
      cwd: root,
      encoding: 'utf8',
      timeout: 5 * 60 * 1000,
    });
    assert.equal(r.status, 0, `bench failed:\n${r.stderr.slice(-3000)}`);
    return { stdout: r.stdout, report: JSON.parse(readFileSync(out, 'utf8')) as BenchReport };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('npm run bench -- --quick on a tiny model writes a complete report', async (t) => {
  if (!hasNodeLlamaCpp()) return t.skip('node-llama-cpp is not installed (devDependency): the benchmark compares against it');
  const { stdout, report } = await quickBench([]);
  assert.match(stdout, /\| model \| context \| runtime/);
  assert.match(stdout, /Total time: \d+ s\./);

  assert.equal(report.quick, true);
  assert.deepEqual(report.failures, []);
  assert.ok(report.bandwidth.readGBps > 0 && report.bandwidth.copyGBps > 0);
  // Measured before the first run and after each of the four (ours twice, llama.cpp twice).
  assert.equal(report.bandwidth.measurements, 5);
  assert.equal(report.bandwidth.passes, 10);
  assert.ok(report.bandwidth.lowestReadGBps > 0 && report.bandwidth.lowestReadGBps <= report.bandwidth.readGBps);
  assert.match(stdout, /measured 5 times, before and after each run: read [\d.]+ to [\d.]+ GB\/s/);
  assert.ok(report.totalSeconds > 0);
  assert.equal(report.machine.threads, 2);

  const ours = report.rows.filter((x) => x.runtime === 'ours');
  const llama = report.rows.filter((x) => x.runtime === 'llama.cpp');
  assert.deepEqual(ours.map((x) => x.ratio).sort(), [0, 0.5]);
  // llama.cpp as its users run it (F16 cache, flash attention on), then on an F32 cache (the footnote).
  assert.deepEqual(llama.map((x) => [x.kv, x.defaults]), [['F16', true], ['F32', false]]);
  assert.match(llama[0].method, /flash attention true/);
  for (const x of report.rows) {
    assert.equal(x.context, 1024);
    assert.equal(x.model, 'tiny-llama');
    assert.ok(x.prefillTokensPerSec > 0, `${x.runtime} prefill`);
    assert.ok(x.decodeMsPerToken > 0, `${x.runtime} decode`);
    assert.equal(x.decodeSteps, 8);
    assert.ok(x.peakRssBytes > 10 * 1024 * 1024, `${x.runtime} peak RSS ${x.peakRssBytes}`);
    assert.ok(x.bytesPerToken > x.keyBytes + x.valueBytes);
    // Each row's bound uses the bandwidth measured around its run, one of the run's measurements.
    assert.ok(x.readGBps >= report.bandwidth.lowestReadGBps && x.readGBps <= report.bandwidth.readGBps, `${x.runtime} ${x.readGBps} GB/s`);
    const bound = x.bytesPerToken / (x.readGBps * 1e9 * (x.decodeMsPerToken / 1000));
    assert.ok(Math.abs(x.boundFraction! - bound) < 1e-9 * bound, `${x.runtime} bound ${x.boundFraction} vs ${bound}`);
    assert.ok(x.firstTokens.length > 0);
  }
  // tiny llama: 2 layers x 2 KV heads x head_dim 16, our default float16 cache, 1024 + 8 tokens.
  for (const x of ours) assert.equal(x.kv, 'F16');
  const full = 2 * 2 * 16 * 2 * (1024 + 8);
  const r0 = ours.find((x) => x.ratio === 0)!;
  const r5 = ours.find((x) => x.ratio === 0.5)!;
  assert.equal(r0.keyBytes, full);
  assert.equal(r0.valueBytes, full);
  assert.ok(r5.keyBytes < 0.6 * full && r5.keyBytes > 0.5 * full, `pruned key bytes ${r5.keyBytes} of ${full}`);

  assert.equal(report.ratios.length, 1);
  const q = report.ratios[0];
  for (const k of ['decodeVsDefaultsRatio0', 'decodeVsDefaultsPruned', 'prefillVsDefaults', 'cacheBytesVsDefaults', 'prefillOursOverLlama', 'decodeSpeedupVsLlamaRatio0', 'decodeSpeedupVsLlamaPruned', 'prunedDecodeSpeedup', 'keyBytesRatio'] as const)
    assert.ok(q[k] !== null && q[k]! > 0, `${k} = ${q[k]}`);
  // Our float16 cache at ratio 0.5 against llama.cpp's F16 cache per token: (kept + D) x 2 over 2D x 2 bytes for
  // compact tokens, plus the recent and generated full-key tokens and the channel indices: just above 0.75.
  assert.equal(llama[0].cacheBytesPerToken, 2 * 2 * 16 * 2 * 2);
  assert.ok(Math.abs(q.cacheBytesVsDefaults! - r5.cacheBytesPerToken / llama[0].cacheBytesPerToken) < 1e-12);
  assert.ok(q.cacheBytesVsDefaults! > 0.75 && q.cacheBytesVsDefaults! < 0.8, `cache bytes ratio ${q.cacheBytesVsDefaults}`);
  // The GGUF (with the llama Q/K row permutation) computes what our runtime computes.
  assert.equal(q.nextTokenAgrees, true, `ours ${r0.firstTokens} vs llama.cpp ${llama[1].firstTokens}`);
});

test('npm run bench -- --quick --shared-prefill-from 1024: our shared prefill and llama.cpp at its defaults decode in turn, step by step', async (t) => {
  if (!hasNodeLlamaCpp()) return t.skip('node-llama-cpp is not installed (devDependency): the benchmark compares against it');
  const { stdout, report } = await quickBench(['--shared-prefill-from', '1024']);
  assert.deepEqual(report.failures, []);
  // One measurement before, one after the pair that took turns, one after llama.cpp's F32 footnote run.
  assert.equal(report.bandwidth.measurements, 3);
  const ours = report.rows.filter((x) => x.runtime === 'ours');
  const llama = report.rows.filter((x) => x.runtime === 'llama.cpp');
  assert.deepEqual(ours.map((x) => [x.ratio, x.method]), [[0, 'shared-prefill, in turn with llama.cpp defaults'], [0.5, 'shared-prefill, in turn with llama.cpp defaults']]);
  assert.deepEqual(llama.map((x) => [x.kv, x.defaults]), [['F16', true], ['F32', false]]);
  assert.match(llama[0].method, /flash attention true, in turn with ours$/);
  assert.doesNotMatch(llama[1].method, /in turn/);
  for (const x of report.rows) {
    assert.equal(x.decodeSteps, 8);
    assert.ok(x.decodeMsPerToken > 0, `${x.runtime} decode`);
  }
  const q = report.ratios[0];
  assert.ok(q.decodeVsDefaultsRatio0! > 0 && q.decodeVsDefaultsPruned! > 0);
  // Taking turns changes when steps run, not what they compute.
  assert.equal(q.nextTokenAgrees, true);
  assert.deepEqual(llama[0].firstTokens, llama[1].firstTokens);
  assert.match(stdout, /take turns step by step/);
});

test('npm run bench -- --quick --device webgpu: ours with the cache on the GPU, llama.cpp on Vulkan, the bound from the measured GPU bandwidth', async (t) => {
  if (!hasNodeLlamaCpp()) return t.skip('node-llama-cpp is not installed (devDependency): the benchmark compares against it');
  const why = await webgpuUnavailable();
  if (why) return t.skip(why);
  const { stdout, report } = await quickBench(['--device', 'webgpu']);
  assert.match(stdout, /GPU: ours on webgpu; GPU read bandwidth \d+ GB\/s \(measured/);
  assert.deepEqual(report.failures, []);
  assert.equal(report.gpu?.device, 'webgpu');
  assert.ok(report.gpu!.readGBps! > 0);
  const ours = report.rows.filter((x) => x.runtime === 'ours');
  const llama = report.rows.filter((x) => x.runtime === 'llama.cpp');
  assert.deepEqual(ours.map((x) => x.ratio).sort(), [0, 0.5]);
  assert.equal(llama.length, 2);
  for (const x of llama) assert.match(x.method, /vulkan/);
  for (const x of report.rows) {
    assert.equal(x.decodeSteps, 8);
    // The bound uses the GPU's bandwidth, not the CPU's.
    const expected = x.bytesPerToken / (report.gpu!.readGBps! * 1e9 * (x.decodeMsPerToken / 1000));
    assert.ok(Math.abs(x.boundFraction! - expected) < 1e-9 * expected, `${x.runtime} bound ${x.boundFraction} vs ${expected}`);
  }
  // Ours on WebGPU and llama.cpp on Vulkan pick the same next token.
  assert.equal(report.ratios[0].nextTokenAgrees, true);
});

test('npm run bench -- --quick --quantize int8: ours on MatMulNBits int8, llama.cpp on our Q8_0 GGUF, at the same weight bits, our cache float16', async (t) => {
  if (!hasNodeLlamaCpp()) return t.skip('node-llama-cpp is not installed (devDependency): the benchmark compares against it');
  const { report } = await quickBench(['--quantize', 'int8']);
  assert.deepEqual(report.failures, []);
  assert.deepEqual(report.rows.map((x) => `${x.runtime} ${x.weights} ${x.kv}`).sort(), ['llama.cpp Q8_0 F16', 'llama.cpp Q8_0 F32', 'ours INT8 F16', 'ours INT8 F16']);
  const q = report.ratios[0];
  assert.ok(q.decodeSpeedupVsLlamaRatio0! > 0 && q.decodeSpeedupVsLlamaPruned! > 0);
  // Different 8-bit codes (asymmetric MatMulNBits vs symmetric Q8_0), same greedy next token on this model.
  assert.equal(q.nextTokenAgrees, true);
  // Weight bytes per token: the same matrices (tiny llama, untied: every projection and the LM
  // head; the embedding is only gathered) at 34/32 bytes per weight for Q8_0 and 1 + 4/32 + 1/32
  // for ours (code, float scale and zero point per 32); the norms, (2 x 2 layers + 1) x 64, F32 in both.
  const llama = report.rows.find((x) => x.runtime === 'llama.cpp')!;
  const ours = report.rows.find((x) => x.runtime === 'ours' && x.ratio === 0)!;
  const norms = 5 * 64 * 4;
  const matrixBytes = (x: typeof ours) => x.bytesPerToken - x.keyBytes - x.valueBytes - norms;
  const weights = matrixBytes(ours) / (1 + 5 / 32);
  assert.equal(Math.round(weights), weights, 'a whole number of weights');
  assert.equal(matrixBytes(llama), (weights * 34) / 32);
});
