// The WebGPU path on a real Vulkan adapter: Mesa's lavapipe (a CPU Vulkan driver, installed by
// .ci/run) here and in CI, a GPU where there is one. The engine on WebGPU reproduces stories260k's
// float64 references as the CPU engine does, and the cache's pruned tiers stay on the GPU: what
// crosses to the GPU per step is bounded by ThinK's settings, not by the context.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import type { ThinkSettings } from '../../../core/protocol/settings';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InferenceSession } from 'onnxruntime-node';
import { Engine } from '../../../runtime/engine/engine';
import { buildModelGraph } from '../../../runtime/graph/model';
import { KvCache } from '../../../runtime/cache/kvcache';
import { ResidentTiers } from '../../../runtime/engine/residentTiers';
import { Runner } from '../../../runtime/engine/runner';
import { openModel } from '../../../runtime/model/weights';
import { collectingHooks } from '../../support/hooks';
import { STORIES, missingModel, quietLog, storiesReferenceCases } from '../../support/models';
import { webgpuUnavailable } from '../../support/webgpu';

let skip: string | null = null;
before(async () => {
  skip = missingModel(STORIES) ?? (await webgpuUnavailable());
});

const prompt = (n: number) => Array.from({ length: n }, (_, i) => 1 + ((i * 37) % 500));

describe('WebGPU', () => {
  test('stories260k: every reference.json case on WebGPU, greedy ids exact, top-5 logits within 1e-3, kept channels exact', async (t) => {
    if (skip) return t.skip(skip);
    const engine = await Engine.load({ modelDir: STORIES, device: 'webgpu' }, quietLog);
    try {
      assert.equal(engine.loaded.device, 'webgpu');
      for (const [i, c] of storiesReferenceCases().entries()) {
        const r = await engine.generate(
          { requestId: `case${i}`, prompt: { ids: c.prompt_ids }, maxNewTokens: c.greedy_steps, think: { ratio: c.ratio, window: c.window, recent: c.recent, flush: 0 } },
          collectingHooks(),
        );
        assert.deepEqual(r.ids, c.greedy_ids, `case ${i}: greedy ids`);
        const logits = engine.lastLogits!;
        for (const [id, value] of c.final_top5_logits) assert.ok(Math.abs(logits[id] - value) < 1e-3, `case ${i}: logit ${id} ${logits[id]} vs ${value}`);
        if (c.kept_channels) assert.deepEqual(engine.snapshot().masks!.layers.map((l) => l.map((h) => h.kept)), c.kept_channels, `case ${i}: kept channels`);
      }
    } finally {
      await engine.dispose();
    }
  });

  test('the pruned tiers stay on the GPU: per-step host bytes are the same at 120 and 360 prompt tokens, resident bytes grow by exactly the extra tokens', async (t) => {
    if (skip) return t.skip(skip);
    const ratio = 0.5;
    const think: ThinkSettings = { ratio, window: 32, recent: 16, flush: 64 };
    const steps = 24;
    const engine = await Engine.load({ modelDir: STORIES, device: 'webgpu' }, quietLog);
    const { layers, kvHeads, headDim: D } = engine.loaded.model;
    try {
      const runs = [];
      for (const n of [120, 360]) {
        const r = await engine.generate({ requestId: `n${n}`, prompt: { ids: prompt(n) }, maxNewTokens: steps, think }, collectingHooks());
        runs.push({ ...r.cache.gpu!, stats: r.cache });
      }
      const [short, long] = runs;
      // After the prompt: recent full tokens + the answer fed back, no flush (16 + 24 <= 64).
      assert.equal(short.stats.fullTokens, think.recent + steps);
      assert.equal(long.stats.fullTokens, think.recent + steps);
      // Uploads: the empty tiers at the first chunk, then once after the prompt is pruned.
      assert.equal(short.uploads, 2);
      assert.equal(long.uploads, 2);
      assert.equal(long.hostBytesLastStep, short.hostBytesLastStep);
      // Per step from the host: the full tier's keys and values and the channel indices (int64).
      const kept = D - Math.floor(ratio * D);
      const fullTier = think.recent + steps - 1; // the last step's token was a graph input, not yet cached
      assert.equal(short.hostBytesLastStep, layers * kvHeads * (2 * fullTier * D * 4 + kept * 8));
      // On the GPU: compact keys [Hkv, Tc, kept] and values [Hkv, Tc, D], 4 bytes each (no value
      // selector: values are not pruned, so the graph has none).
      const perToken = layers * kvHeads * (kept + D) * 4;
      assert.equal(short.residentBytes, (120 - think.recent) * perToken);
      assert.equal(long.residentBytes - short.residentBytes, (360 - 120) * perToken);
    } finally {
      await engine.dispose();
    }
  });

  test('same tokens as the CPU engine (both with a float32 cache) with ThinK flushing generated keys, and with KIVI 4-bit', async (t) => {
    if (skip) return t.skip(skip);
    const think = { ratio: 0.5, recent: 16, flush: 48 };
    const cases = [{ think }, { think, compression: { kvBits: 4 as const } }];
    const answers: Record<string, number[][]> = { cpu: [], webgpu: [] };
    for (const device of ['cpu', 'webgpu'] as const) {
      // WebGPU keeps a float32 cache; the CPU engine is asked for one, so both compute the same numbers.
      const engine = await Engine.load({ modelDir: STORIES, device, cachePrecision: 'float32' }, quietLog);
      try {
        assert.equal(engine.loaded.model.cachePrecision, 'float32');
        for (const c of cases) {
          const r = await engine.generate({ requestId: device, prompt: { ids: prompt(150) }, maxNewTokens: 60, ...c }, collectingHooks());
          answers[device].push(r.ids);
          // On the CPU nothing is GPU-resident; on WebGPU, with 60 answer tokens and flush 48, the
          // tiers were uploaded at the first chunk, after the prompt, and after at least one flush.
          if (device === 'cpu') assert.equal(r.cache.gpu, undefined);
          else assert.ok(r.cache.gpu!.uploads >= 3, JSON.stringify(r.cache.gpu));
        }
      } finally {
        await engine.dispose();
      }
    }
    assert.deepEqual(answers.webgpu, answers.cpu);
  });
});

/**
 * One prefill, ThinK pruning and two decode steps on WebGPU with onnxruntime's profiler on: which
 * provider ran each node. Returns the op types that ran on the CPU, the copies back to the host,
 * and the providers of the Gemm nodes (the products with the cached tiers).
 */
async function placement(kivi: boolean): Promise<{ cpuOps: Set<string>; toHost: number; gemmProviders: Set<string> }> {
  const w = openModel(STORIES);
  const c = w.config;
  const graph = buildModelGraph(w, { compressed: true, kivi, gpu: true, cachePrecision: 'float32' });
  const prefix = join(tmpdir(), `think-lens-placement-${process.pid}-${kivi}`);
  const session = await InferenceSession.create(graph.bytes, {
    executionProviders: ['webgpu'], graphOptimizationLevel: 'all', logSeverityLevel: 3, enableProfiling: true, profileFilePrefix: prefix,
    extra: { session: { model_external_initializers_file_folder_path: STORIES } },
  });
  const layout = { compressed: true, bits: kivi ? 4 : null, precision: 'float32' } as const;
  const resident = await ResidentTiers.open(c, layout);
  const cache = new KvCache(c.layers, c.kvHeads, c.headDim, 128, layout);
  const runner = new Runner(session, c, cache.layout, resident);
  await runner.step(cache, prompt(72));
  const half = Int32Array.from({ length: c.headDim / 2 }, (_, j) => 2 * j);
  for (let l = 0; l < c.layers; l++) for (let kv = 0; kv < c.kvHeads; kv++) cache.setMask(l, kv, half, new Float64Array(c.headDim));
  cache.prune(cache.full - 8); // 64 compact tokens: two whole KIVI groups when KIVI is on
  await runner.step(cache, [5]);
  await runner.step(cache, [6]);
  // The profiler writes its file when profiling ends; its name is the prefix plus a timestamp.
  const file = (await session.endProfiling()) as unknown as string | undefined;
  const path = file ?? join(tmpdir(), (await import('node:fs')).readdirSync(tmpdir()).find((f) => f.startsWith(`think-lens-placement-${process.pid}-${kivi}`))!);
  const events = JSON.parse(readFileSync(path, 'utf8')) as { cat: string; name: string; args?: { op_name?: string; provider?: string } }[];
  rmSync(path, { force: true });
  await resident.dispose();
  await session.release();
  const nodes = events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time')).map((e) => e.args!);
  return {
    cpuOps: new Set(nodes.filter((n) => n.provider === 'CPUExecutionProvider').map((n) => n.op_name!)),
    toHost: nodes.filter((n) => n.op_name === 'MemcpyToHost').length,
    gemmProviders: new Set(nodes.filter((n) => n.op_name === 'Gemm').map((n) => n.provider!)),
  };
}

test('WebGPU graph placement: without KIVI nothing is copied back to the host and the cached tiers are multiplied on the GPU; with KIVI the unpacking bounces through the CPU', async (t) => {
  if (skip) return t.skip(skip);
  const plain = await placement(false);
  assert.equal(plain.toHost, 0, `copies to the host: ${plain.toHost}; CPU ops: ${[...plain.cpuOps]}`);
  assert.deepEqual([...plain.gemmProviders], ['WebGpuExecutionProvider']);
  // What stays on the CPU is shape arithmetic, and the int64 channel indices (a host input, which
  // WebGPU cannot hold) split per head.
  for (const op of plain.cpuOps) assert.ok(['Shape', 'Concat', 'ReduceProd', 'Gather', 'Mul', 'Div', 'Slice', 'Unsqueeze', 'Squeeze', 'Add', 'Sub', 'Split', 'Reshape'].includes(op), `${op} ran on the CPU`);
  // The check can fail: KIVI's bit unpacking has no WebGPU kernel, so its codes go through the CPU.
  const kivi = await placement(true);
  assert.ok(kivi.cpuOps.has('BitShift') && kivi.toHost > 0, JSON.stringify({ toHost: kivi.toHost, cpuOps: [...kivi.cpuOps] }));
});
