// The GGUF loader end to end: GGUFs written by our writer from random models, in llama.cpp's
// conventions (scripts/bench/gguf.ts), loaded by Engine.load and compared with the safetensors
// folder they came from, and, for the block formats, with llama.cpp itself on the same file.
//
// - F32 / F16: the very same weights, so the same greedy ids (with and without ThinK) and the same
//   logits up to float rounding.
// - Q8_0 / Q4_K / Q4_K_M: logits within a stated distance of the float32 folder's (the
//   quantization error), and within a much smaller one of llama.cpp's on the same GGUF, whose
//   decoding of ggml's blocks is the reference ours must match; then llama.cpp's own greedy
//   tokens against ours for as many steps as the top-2 margins guarantee.
// - The GGUF's tokenizer and chat template answer a chat prompt.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { ThinkSettings } from '../../../core/protocol/settings';
import { Engine } from '../../../runtime/engine/engine';
import { makeRandomModel } from '../../../runtime/model/makeRandom';
import type { DType } from '../../../runtime/model/weights';
import { convertToGguf, type GgufFileType } from '../../../scripts/bench/gguf';
import { llamaCppLogits, runLlamaCpp } from '../../../scripts/bench/llamacpp';
import { collectingHooks } from '../../support/hooks';
import { quietLog, SMOLLM2, skipWithoutModel } from '../../support/models';
import { tinyConfig, tinyConfigWithVocab, TINY_STD, writeTinyModel, type TinyVariant } from '../../support/tinyModels';

const root = mkdtempSync(join(tmpdir(), 'gguf-load-'));
after(() => rmSync(root, { recursive: true, force: true }));

const PROMPT = Array.from({ length: 37 }, (_, i) => (i * 37 + 11) % 200);
const STEPS = 14;
const NO_THINK: ThinkSettings = { ratio: 0, window: 32, recent: 32, flush: 0 };
// As in architectures.test.ts: pruning after prefill and flushing of generated keys both happen.
const THINK: ThinkSettings = { ratio: 0.5, window: 8, recent: 4, flush: 8 };

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

async function greedy(modelDir: string, think: ThinkSettings, quantize?: 'int8' | 'int4') {
  const engine = await Engine.load({ modelDir, prefillChunk: 16, cachePrecision: 'float32', ...(quantize ? { quantize } : {}) }, quietLog);
  try {
    const r = await engine.generate({ requestId: 'g', prompt: { ids: PROMPT }, maxNewTokens: STEPS, think }, collectingHooks());
    return { ids: r.ids, logits: engine.lastLogits!.slice(), dtype: engine.loaded.model.dtype };
  } finally {
    await engine.dispose();
  }
}

/**
 * Float GGUFs hold the folder's values exactly (F16 stays F16, llama's q/k rows are permuted on
 * write and put back on load), so the only difference allowed is float rounding: the graphs may
 * fold casts or order sums differently. Tolerance on the final logits: 1e-5 (F32), 1e-4 (F16).
 */
const FLOAT_TOLERANCE: Record<'F32' | 'F16', number> = { F32: 1e-5, F16: 1e-4 };

describe('float GGUFs load as the folder they came from', () => {
  for (const variant of ['llama', 'qwen2', 'qwen3'] as TinyVariant[])
    for (const dtype of ['F32', 'F16'] as const)
      test(`${variant} ${dtype}: same greedy ids with and without ThinK, final logits within ${FLOAT_TOLERANCE[dtype]}`, async () => {
        const dir = join(root, `${variant}-${dtype}`);
        await writeTinyModel(dir, variant, { dtype: dtype as DType, seed: 31 });
        const gguf = `${dir}.gguf`;
        convertToGguf(dir, gguf, { fileType: dtype });
        for (const think of [NO_THINK, THINK]) {
          const want = await greedy(dir, think);
          const got = await greedy(gguf, think);
          assert.equal(got.dtype, dtype);
          assert.deepEqual(got.ids, want.ids, `greedy ids (ratio ${think.ratio})`);
          const d = maxAbsDiff(got.logits, want.logits);
          assert.ok(d <= FLOAT_TOLERANCE[dtype], `final logits differ by ${d} (ratio ${think.ratio})`);
        }
      });
});

test('llama.cpp reads our llama, qwen2 and qwen3 F32 GGUFs as we do: logits within 1e-4 at every step', async (t) => {
  // Checks the writer's conventions (llama's q/k row permutation, qwen3's q/k norms and head_dim
  // 24 != hidden / heads) against llama.cpp itself; F32 weights take no activation quantization
  // there, so only float rounding differs (measured 0.6-2e-5).
  for (const variant of ['llama', 'qwen2', 'qwen3'] as TinyVariant[]) {
    const dir = join(root, `${variant}-llamacpp`);
    await writeTinyModel(dir, variant, { seed: 33 });
    const gguf = `${dir}.gguf`;
    convertToGguf(dir, gguf, { fileType: 'F32' });
    const engine = await Engine.load({ modelDir: gguf, prefillChunk: 16, cachePrecision: 'float32' }, quietLog);
    let ours: Float32Array[];
    let ids: number[];
    try {
      ids = (await engine.generate({ requestId: 'l', prompt: { ids: PROMPT }, maxNewTokens: STEPS, think: NO_THINK }, collectingHooks())).ids;
      ours = (await engine.teacherForce({ promptIds: PROMPT, continuation: ids, think: NO_THINK })).logits;
    } finally {
      await engine.dispose();
    }
    let theirs: Float32Array[];
    try {
      theirs = await llamaCppLogits(gguf, [...PROMPT, ...ids.slice(0, -1)], PROMPT.length - 1, 256);
    } catch (e) {
      return t.skip(`node-llama-cpp cannot run here: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
    }
    const d = Math.max(...theirs.map((row, i) => maxAbsDiff(row, ours[i])));
    t.diagnostic(`${variant}: max |logit diff| vs llama.cpp ${d.toExponential(2)} over ${ids.length} steps`);
    assert.ok(d < 1e-4, `${variant}: llama.cpp's logits differ from ours by ${d}`);
  }
});

describe('block GGUFs: logits near the folder and near llama.cpp on the same file', () => {
  // Rows of 256 and 512 values split into K-quant super-blocks (256), so every matrix takes the
  // file's type. Weight std: TINY_STD / 4. At TINY_STD (or its hidden-size-scaled TINY_STD / 2)
  // a model this wide is so sensitive that 4-bit weights alone move its logits by half their
  // spread or more (measured 5.9 of 12 at TINY_STD / 2, 13.6 of 21 at TINY_STD), as much as some
  // wrong decodings do, and even llama.cpp's 8-bit activations move them by 0.5 (3 at TINY_STD).
  const KQ_STD = TINY_STD / 4;
  const KQ_STEPS = 16;
  const config = { ...tinyConfig('llama'), hidden_size: 256, intermediate_size: 512, head_dim: 64, eos_token_id: 255 };
  /**
   * Max |logit difference| over the 17 teacher-forced positions (the prompt's end and 16 steps),
   * measured with this seed: vs the folder, Q8_0 0.15, Q4_K 1.73, Q4_K_M 1.62 (4-bit blocks run as
   * int4 by default: decoded and quantized a second time); vs llama.cpp, whose CPU kernels quantize
   * activations to 8 bits: 0.07 (Q8_0), 0.15 (Q4_K, Q4_K_M). Wrong decodings of the same
   * files land far outside (measured by corrupting the blocks our runtime reads): d and dmin swapped
   * 218 / 4.9 (Q4_K / Q4_K_M) vs the folder; each byte's two nibbles swapped 5-6; the mins of
   * sub-blocks 0-3 swapped with the low scale bits of 4-7 3.0-3.2 vs the folder, 2.0-2.4 vs
   * llama.cpp; Q6_K's 16 scales reversed 0.57 vs llama.cpp (Q4_K_M).
   */
  const FOLDER_TOLERANCE: Record<string, number> = { Q8_0: 0.25, Q4_K: 2.5, Q4_K_M: 2.5 };
  const LLAMA_TOLERANCE = 0.3;

  let folder: Promise<{ dir: string; ids: number[]; logits: Float32Array[] }> | null = null;
  const reference = () =>
    (folder ??= (async () => {
      const dir = join(root, 'kq');
      await makeRandomModel({ config, outDir: dir, dtype: 'F32', seed: 8, std: KQ_STD });
      const engine = await Engine.load({ modelDir: dir, prefillChunk: 16, cachePrecision: 'float32' }, quietLog);
      try {
        const r = await engine.generate({ requestId: 'f', prompt: { ids: PROMPT }, maxNewTokens: KQ_STEPS, think: NO_THINK }, collectingHooks());
        const { logits } = await engine.teacherForce({ promptIds: PROMPT, continuation: r.ids, think: NO_THINK });
        return { dir, ids: r.ids, logits };
      } finally {
        await engine.dispose();
      }
    })());

  /** The engine's greedy ids on `modelDir`, and its logits at every step of `continuation` (default: its own ids). */
  async function forced(modelDir: string, quantize: 'int8' | undefined, continuation?: number[]) {
    const engine = await Engine.load({ modelDir, prefillChunk: 16, cachePrecision: 'float32', ...(quantize ? { quantize } : {}) }, quietLog);
    try {
      const r = await engine.generate({ requestId: 'q', prompt: { ids: PROMPT }, maxNewTokens: KQ_STEPS, think: NO_THINK }, collectingHooks());
      const { logits } = await engine.teacherForce({ promptIds: PROMPT, continuation: continuation ?? r.ids, think: NO_THINK });
      return { ids: r.ids, logits, dtype: engine.loaded.model.dtype, quantize: engine.loaded.model.quantize };
    } finally {
      await engine.dispose();
    }
  }

  const rowsDiff = (a: ArrayLike<number>[], b: ArrayLike<number>[]) => Math.max(...a.map((row, i) => maxAbsDiff(row, b[i])));

  for (const [fileType, dtype, quantize] of [['Q8_0', 'Q8_0', 'int8'], ['Q4_K', 'Q4_K', 'int4'], ['Q4_K_M', 'Q4_K', 'int4']] as const) {
    test(`${fileType}: logits within ${FOLDER_TOLERANCE[fileType]} of the float32 folder and ${LLAMA_TOLERANCE} of llama.cpp; llama.cpp's greedy tokens agree`, async (t) => {
      const ref = await reference();
      const gguf = join(root, `kq-${fileType}.gguf`);
      convertToGguf(ref.dir, gguf, { fileType: fileType as GgufFileType });

      // As a user loads it: the file's precision class (Q8_0 exactly as int8, K-quants as int4).
      const ours = await forced(gguf, undefined, ref.ids);
      assert.equal(ours.dtype, dtype);
      assert.equal(ours.quantize, quantize);
      const vsFolder = rowsDiff(ours.logits, ref.logits);
      t.diagnostic(`${fileType} vs float32 folder: max |logit diff| ${vsFolder.toFixed(3)}`);
      assert.ok(vsFolder <= FOLDER_TOLERANCE[fileType], `${fileType} logits differ from the folder's by ${vsFolder}`);

      // Against llama.cpp: our runtime at 8 bits, the closest it computes to the file's decoded
      // values (int4 would round 4-bit blocks a second time, into MatMulNBits' own blocks).
      let llamaFailure: string | null = null;
      const ours8 = await forced(gguf, 'int8');
      const ll = await llamaCppLogits(gguf, [...PROMPT, ...ours8.ids.slice(0, -1)], PROMPT.length - 1, 256).catch((e: unknown) => {
        llamaFailure = `node-llama-cpp cannot run here: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`;
        return null;
      });
      if (!ll) return t.skip(llamaFailure!);
      const delta = rowsDiff(ll, ours8.logits);
      t.diagnostic(`${fileType} vs llama.cpp: max |logit diff| ${delta.toFixed(3)}`);
      assert.ok(delta <= LLAMA_TOLERANCE, `${fileType} logits differ from llama.cpp's by ${delta}`);

      // Greedy decoding in llama.cpp: where our top-2 margin exceeds twice the logit distance the
      // choice cannot differ, so the first N tokens must agree; the rest is reported.
      const margins = ours8.logits.map((row) => {
        const [a, b] = [...row].sort((x, y) => y - x);
        return a - b;
      });
      let n = 0;
      while (n < margins.length && margins[n] > 2 * delta) n++;
      const theirs = (await runLlamaCpp({ ggufPath: gguf, steps: KQ_STEPS, threads: 2, promptIds: PROMPT, kvType: 'F32', flashAttention: false })).tokens;
      let agree = 0;
      while (agree < theirs.length && theirs[agree] === ours8.ids[agree]) agree++;
      t.diagnostic(`${fileType}: llama.cpp's greedy tokens agree with ours for ${agree} of ${ours8.ids.length} steps (${n} guaranteed by the margins)`);
      assert.ok(n >= 1, 'the margins guarantee at least the first token');
      assert.deepEqual(theirs.slice(0, n), ours8.ids.slice(0, n));
    });
  }
});

describe("the GGUF's tokenizer", () => {
  test('a GGUF carrying SmolLM2\'s tokenizer answers a chat prompt, as the folder does', async (t) => {
    if (skipWithoutModel(t, SMOLLM2, 'SmolLM2 (its tokenizer)')) return;
    const dir = join(root, 'smol');
    await makeRandomModel({ config: tinyConfigWithVocab(49152), outDir: dir, dtype: 'F32', seed: 5, std: TINY_STD, tokenizerDir: SMOLLM2 });
    const gguf = `${dir}.gguf`;
    convertToGguf(dir, gguf, { fileType: 'F32', preTokenizer: 'smollm' });
    const messages = [
      { role: 'system' as const, content: 'You are terse.' },
      { role: 'user' as const, content: 'What is 2 + 2? Answer in one word.' },
    ];
    const answer = async (modelDir: string) => {
      const engine = await Engine.load({ modelDir }, quietLog);
      try {
        assert.equal(engine.loaded.model.hasChatTemplate, true);
        return await engine.generate({ requestId: 'chat', prompt: { messages }, maxNewTokens: 8 }, collectingHooks());
      } finally {
        await engine.dispose();
      }
    };
    const want = await answer(dir);
    const got = await answer(gguf);
    assert.ok(got.promptTokens > 10, `the chat template rendered the messages (${got.promptTokens} tokens)`);
    assert.equal(got.promptTokens, want.promptTokens, 'the same prompt tokens as tokenizer.json + its chat template');
    assert.deepEqual(got.ids, want.ids);
    assert.equal(got.text, want.text);
  });
});
