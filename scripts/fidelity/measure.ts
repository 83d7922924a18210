// Runs the fidelity measurement: teacher-forces every document through the unpruned cache and
// through each method with the real engine, and tallies agreement, KL and bytes per token.
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { Engine } from '../../runtime/engine/engine';
import type { CacheStats, LoadParams } from '../../core/protocol/rpc';
import { Tokenizer } from '../../runtime/text/tokenizer';
import { FidelityTally } from './metrics';
import { FLOAT16_CACHE_METHODS, UNPRUNED, fidelityMethods, type FidelityMethod } from './methods';
import type { FidelityReport, FidelityRow } from './report';
import { STORIES } from './stories';

export interface FidelityOptions {
  modelDir: string;
  device: 'cpu' | 'webgpu' | 'cuda';
  promptTokens: number;
  continuationTokens: number;
  maxDocuments: number;
  chunk: number;
  /** Progress lines (stderr). */
  say: (line: string) => void;
}

export interface Document {
  prompt: number[];
  continuation: number[];
}

/**
 * Cuts token streams into documents of prompt + continuation tokens (consecutive windows, so a
 * long story gives several). Streams shorter than one window give nothing.
 */
export function cutDocuments(streams: readonly number[][], promptTokens: number, continuationTokens: number, max: number): Document[] {
  const size = promptTokens + continuationTokens;
  const out: Document[] = [];
  for (const s of streams)
    for (let at = 0; at + size <= s.length && out.length < max; at += size)
      out.push({ prompt: s.slice(at, at + promptTokens), continuation: s.slice(at + promptTokens, at + size) });
  return out;
}

/** Real text through the model's tokenizer, or, without one, the model's own sampled text. */
async function tokenStreams(engine: Engine, o: FidelityOptions, size: number): Promise<{ streams: number[][]; source: string }> {
  if (existsSync(join(o.modelDir, 'tokenizer.json'))) {
    const tok = await Tokenizer.load(o.modelDir);
    return { streams: STORIES.map((s) => tok.encode(s, { addBos: tok.addBos })), source: 'the TinyStories-style fixture texts (scripts/fidelity/stories.ts)' };
  }
  const m = engine.loaded.model;
  const streams: number[][] = [];
  const hooks = { onToken() {}, onProgress() {}, onMasks() {}, isCancelled: () => false };
  for (let d = 0; d < o.maxDocuments; d++) {
    const start = [(d * 7919 + 13) % m.vocabSize];
    const r = await engine.generate(
      { requestId: `fidelity-${d}`, prompt: { ids: start }, maxNewTokens: size, sampling: { temperature: 1, seed: 1 + d }, think: { ratio: 0 } },
      hooks,
    );
    streams.push([...start, ...r.ids]);
  }
  return { streams, source: "the model's own sampled text (no tokenizer.json: temperature 1, fixed seeds)" };
}

type ToRow = (x: Pick<FidelityMethod, 'label' | 'family' | 'tag'>, t: FidelityTally) => FidelityRow;

/**
 * What another load changes, against the float32 engine's unpruned logits: weights quantized at
 * load (int8, int4; unpruned caches on both sides) and the float16 cache, the runtime's default
 * (unpruned, with ThinK 0.5 and with ThinK 0.5 + KIVI 4-bit).
 */
async function loadVariants(o: FidelityOptions, docs: Document[], reference: Float32Array[][], toRow: ToRow): Promise<{ weightRows: FidelityRow[]; cacheRows: FidelityRow[] }> {
  const variants: { load: Partial<Pick<LoadParams, 'quantize' | 'cachePrecision'>>; methods: FidelityMethod[]; into: FidelityRow[] }[] = [];
  const weightRows: FidelityRow[] = [];
  const cacheRows: FidelityRow[] = [];
  for (const quantize of ['int8', 'int4'] as const)
    variants.push({ load: { quantize, cachePrecision: 'float32' }, methods: [{ ...UNPRUNED, label: `${quantize} weights`, family: 'weights', tag: quantize }], into: weightRows });
  variants.push({ load: { cachePrecision: 'float16' }, methods: FLOAT16_CACHE_METHODS, into: cacheRows });
  for (const v of variants) {
    const e = await Engine.load({ modelDir: o.modelDir, device: o.device, ...v.load }, () => {});
    try {
      for (const x of v.methods) {
        const t = new FidelityTally();
        for (const [d, doc] of docs.entries()) {
          const r = await e.teacherForce({ promptIds: doc.prompt, continuation: doc.continuation, think: x.think, compression: x.compression, chunk: o.chunk });
          t.add(reference[d], r.logits, doc.continuation, { perToken: r.cache.bytesPerToken, perContextToken: r.cache.bytesPerToken });
        }
        v.into.push(toRow(x, t));
        o.say(`${x.label} done`);
      }
    } finally {
      await e.dispose();
    }
  }
  return { weightRows, cacheRows };
}

export async function measureFidelity(o: FidelityOptions): Promise<FidelityReport> {
  const t0 = performance.now();
  // The float32 cache is the reference every row is measured against; the float16 cache (the
  // runtime's default) gets its own rows.
  const engine = await Engine.load({ modelDir: o.modelDir, device: o.device, cachePrecision: 'float32' }, (level, msg) => o.say(`[${level}] ${msg}`));
  try {
    const m = engine.loaded.model;
    // The whole document must fit the context with room for nothing else.
    const limit = m.contextLength - 1;
    let promptTokens = o.promptTokens;
    let continuationTokens = o.continuationTokens;
    const notes: string[] = [];
    if (promptTokens + continuationTokens > limit) {
      const scale = limit / (promptTokens + continuationTokens);
      promptTokens = Math.floor(promptTokens * scale);
      continuationTokens = Math.floor(continuationTokens * scale);
      notes.push(`Lengths scaled down to the ${m.contextLength}-token context.`);
    }
    const { streams, source } = await tokenStreams(engine, o, promptTokens + continuationTokens);
    const docs = cutDocuments(streams, promptTokens, continuationTokens, o.maxDocuments);
    if (docs.length === 0)
      throw new Error(`fidelity: no input is ${promptTokens + continuationTokens} tokens long (the texts give ${streams.map((s) => s.length).join(', ')}); use --prompt and --continuation to ask for less`);
    notes.push(`Inputs: ${source}, cut into consecutive ${promptTokens + continuationTokens}-token windows.`);

    const methods = fidelityMethods(promptTokens);
    const tallies = new Map<FidelityMethod, FidelityTally>([[UNPRUNED, new FidelityTally()], ...methods.map((x) => [x, new FidelityTally()] as const)]);
    let fp16 = 0;
    const reference: Float32Array[][] = [];
    for (const [d, doc] of docs.entries()) {
      const run = (x: FidelityMethod) =>
        engine.teacherForce({ promptIds: doc.prompt, continuation: doc.continuation, think: x.think, compression: x.compression, chunk: o.chunk });
      // Eviction shrinks the token count, not the bytes of a cached token: per token of context
      // read (cached + evicted) is what compares every method on one axis.
      const bytes = (c: CacheStats) => ({ perToken: c.bytesPerToken, perContextToken: (c.bytesPerToken * c.tokens) / (c.tokens + c.evictedTokens) });
      const full = await run(UNPRUNED);
      reference.push(full.logits);
      fp16 = full.cache.fp16FullBytesPerToken;
      tallies.get(UNPRUNED)!.add(full.logits, full.logits, doc.continuation, bytes(full.cache));
      for (const x of methods) {
        const r = await run(x);
        tallies.get(x)!.add(full.logits, r.logits, doc.continuation, bytes(r.cache));
      }
      o.say(`document ${d + 1}/${docs.length} done (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    }
    const toRow = (x: Pick<FidelityMethod, 'label' | 'family' | 'tag'>, t: FidelityTally): FidelityRow => ({
      label: x.label, family: x.family, tag: x.tag, bytesPerToken: t.bytesPerToken, bytesPerContextToken: t.bytesPerContextToken,
      agreement: t.agreement, meanKl: t.meanKl, maxKl: t.klMax, accuracy: t.accuracy, positions: t.positions,
    });
    const row = (x: FidelityMethod): FidelityRow => toRow(x, tallies.get(x)!);
    const { weightRows, cacheRows } = await loadVariants(o, docs, reference, toRow);
    const D = m.headDim;
    const same = [0.3, 0.4, 0.5, 0.6].map((r) => D - Math.floor(r * D));
    if (new Set(same).size < same.length)
      notes.push(`head_dim ${D}: ThinK keeps ${same.join(' / ')} channels at 0.3 / 0.4 / 0.5 / 0.6 (D - floor(ratio D)), so some ratios coincide.`);
    notes.push('ThinK settings otherwise the defaults (window 32, recent 32, flush 128); eviction window 32, kernel 7; KIVI groups of 32.');
    return {
      model: basename(o.modelDir.replace(/\/+$/, '')),
      device: `${engine.loaded.device}`,
      documents: docs.length,
      promptTokens,
      continuationTokens,
      chunk: o.chunk,
      fp16FullBytesPerToken: fp16,
      seconds: (performance.now() - t0) / 1000,
      baseline: row(UNPRUNED),
      rows: [...methods.map(row), ...cacheRows],
      weightRows,
      notes,
    };
  } finally {
    await engine.dispose();
  }
}
