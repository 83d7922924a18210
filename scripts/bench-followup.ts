// Follow-up questions (a script, not a test): what reusing the cached, pruned prefix costs and
// saves against re-reading the whole prompt. The prefix keeps the channels chosen by the first
// question's observation window; the alternative re-reads everything so the second question
// chooses its own. Prints times (random-weight SmolLM2-135M shape, 2k-token context) and, on
// stories260k (real weights), how far the reused cache's next-token distributions drift.
//   npx tsx scripts/bench-followup.ts
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Engine, type EngineHooks } from '../runtime/engine/engine';
import { promptIds, randomSmolLM2 } from './bench/models';
import { argmax, klDivergence } from './fidelity/metrics';

const root = resolve(__dirname, '..');
const shared = resolve(root, '../shared/models');
const hooks: EngineHooks = { onToken() {}, onProgress() {}, onMasks() {}, isCancelled: () => false };

async function timing(): Promise<void> {
  const model = await randomSmolLM2(join(shared, 'smollm2-135m-instruct'), join(root, '.cache/bench-models'));
  const e = await Engine.load({ modelDir: model }, () => {});
  const context = promptIds(2000, 3, 49152, 1);
  const q1 = promptIds(24, 3, 49152, 2);
  const q2 = promptIds(24, 3, 49152, 3);
  const first = await e.generate({ requestId: 'a', prompt: { ids: [...context, ...q1] }, maxNewTokens: 8 }, hooks);
  let t = performance.now();
  const extend = await e.generate({ requestId: 'b', prompt: { ids: q2 }, maxNewTokens: 8, cache: { extend: first.cacheId! } }, hooks);
  const extendMs = performance.now() - t;
  t = performance.now();
  const reset = await e.generate({ requestId: 'c', prompt: { ids: [...context, ...q1, ...q2] }, maxNewTokens: 8 }, hooks);
  const resetMs = performance.now() - t;
  console.log(`| follow-up on a 2,024-token context | time to answer 8 tokens | prompt tokens read | key MiB |`);
  console.log(`| --- | ---: | ---: | ---: |`);
  console.log(`| reuse the pruned prefix (cache { extend }) | ${extendMs.toFixed(0)} ms | ${extend.promptTokens} | ${(extend.cache.keyBytes / 2 ** 20).toFixed(1)} |`);
  console.log(`| re-read everything (cache 'reset') | ${resetMs.toFixed(0)} ms | ${reset.promptTokens} | ${(reset.cache.keyBytes / 2 ** 20).toFixed(1)} |`);
  await e.dispose();
}

async function drift(): Promise<void> {
  const dir = join(shared, 'stories260k');
  if (!existsSync(dir)) return console.log('\n(stories260k not found: drift skipped)');
  const e = await Engine.load({ modelDir: dir }, () => {});
  const story = (await e.generate({ requestId: 's', prompt: { ids: [1] }, maxNewTokens: 420, think: { ratio: 0 } }, hooks)).ids;
  const context = [1, ...story.slice(0, 300)];
  const q2 = story.slice(300, 330);
  const answer = story.slice(330, 420);
  // Reused: masks chosen at the end of `context`; the follow-up and answer appended as full keys.
  const reused = await e.teacherForce({ promptIds: context, continuation: [...q2, ...answer], think: { ratio: 0.5 } });
  // Re-read: masks chosen by the follow-up's own window (the end of context + q2).
  const reread = await e.teacherForce({ promptIds: [...context, ...q2], continuation: answer, think: { ratio: 0.5 } });
  const full = await e.teacherForce({ promptIds: [...context, ...q2], continuation: answer, think: { ratio: 0 } });
  const stats = (a: Float32Array[], offset: number) => {
    let agree = 0;
    let kl = 0;
    for (let i = 0; i < answer.length; i++) {
      const p = full.logits[i];
      const q = a[i + offset];
      agree += argmax(p) === argmax(q) ? 1 : 0;
      kl += klDivergence(p, q);
    }
    return `${((agree / answer.length) * 100).toFixed(1)}% top-1 agreement, KL ${(kl / answer.length).toFixed(4)}`;
  };
  console.log(`\nstories260k, ThinK 0.5, 90 answer tokens vs the unpruned cache:`);
  console.log(`- reuse the first question's channels: ${stats(reused.logits, q2.length)}`);
  console.log(`- re-read so the follow-up chooses:   ${stats(reread.logits, 0)}`);
  await e.dispose();
}

(async () => {
  await timing();
  await drift();
})().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
