// One pass of the whole-model graph over new tokens at the cache's next positions: feeds the
// cache as zero-copy views, appends the new tokens' K/V, and accumulates ThinK's query statistic
// for the positions inside the observation window.
import { Tensor, type InferenceSession } from 'onnxruntime-node';
import type { ModelConfig } from '../model/config';
import { layerOutput } from '../graph/model';
import type { CacheLayout, Floats, KvCache } from '../cache/kvcache';
import type { ResidentTiers } from './residentTiers';
import { ropeTables } from '../graph/rope';
import { float16Bits } from './float16Mapping';

export interface StepOptions {
  /** Absolute position where ThinK's observation window starts (Infinity: no window rows here). */
  windowFrom?: number;
  /** Per layer [Hkv * D], accumulated in place when window rows are present. */
  querySquares?: Float64Array[];
  /** Rows (0..S-1) that need logits; default the last. */
  logitRows?: number[];
  /** Absolute position from which rows' queries are returned (eviction / value scores window). */
  scoreWindowFrom?: number;
  /** Receives, per layer, the returned query rows [W, Hq, D] in order. */
  onWindowQueries?: (layer: number, rows: Float32Array, count: number) => void;
}

export class Runner {
  constructor(
    readonly session: InferenceSession,
    readonly config: ModelConfig,
    /** The cache layout the graph was built for (see kvcache.ts); `bits` only says whether it has a KIVI tier. */
    readonly layout: CacheLayout = { compressed: false, bits: null, precision: 'float16' },
    /** On WebGPU: the cache tiers kept on the GPU between steps. */
    readonly resident: ResidentTiers | null = null,
  ) {}

  /** The graph reads a cache of this layout (KIVI's bit width is an input, not part of the graph). */
  fits(layout: CacheLayout): boolean {
    return layout.compressed === this.layout.compressed && (layout.bits === null) === (this.layout.bits === null) && layout.precision === this.layout.precision;
  }

  /** Returns logits [R, V] for the requested rows. */
  async step(cache: KvCache, ids: readonly number[], o: StepOptions = {}): Promise<Float32Array> {
    const S = ids.length;
    const D = this.config.headDim;
    const start = cache.position;
    const positions = Array.from({ length: S }, (_, i) => start + i);
    const { cos, sin } = ropeTables(this.config, positions);
    const windowFrom = o.windowFrom ?? Infinity;
    const obs = Float32Array.from(positions, (pos) => (pos >= windowFrom ? 1 : 0));
    const rows = o.logitRows ?? [S - 1];
    const scoreFrom = o.onWindowQueries ? (o.scoreWindowFrom ?? Infinity) : Infinity;
    const windowRows = positions.flatMap((pos, i) => (pos >= scoreFrom ? [i] : []));
    const out = await this.session.run({
      ...(this.resident ? await this.resident.feeds(cache) : cache.feeds()),
      input_ids: new Tensor('int64', BigInt64Array.from(ids, (id) => BigInt(id)), [S]),
      cos: new Tensor('float32', cos, [S, D]),
      sin: new Tensor('float32', sin, [S, D]),
      causal_mask: new Tensor('float32', causalMask(S), [S, S]),
      obs_weight: new Tensor('float32', obs, [S]),
      logit_rows: new Tensor('int64', BigInt64Array.from(rows, (r) => BigInt(r)), [rows.length]),
      window_rows: new Tensor('int64', BigInt64Array.from(windowRows, (r) => BigInt(r)), [windowRows.length]),
    });
    const inWindow = o.querySquares !== undefined && positions[S - 1] >= windowFrom;
    for (let l = 0; l < this.config.layers; l++) {
      cache.append(l, cacheFloats(out[layerOutput.keys(l)]), cacheFloats(out[layerOutput.values(l)]), S);
      if (inWindow) {
        const q = out[layerOutput.querySquares(l)].data as Float32Array;
        const acc = o.querySquares![l];
        for (let j = 0; j < acc.length; j++) acc[j] += q[j];
      }
      if (windowRows.length) o.onWindowQueries!(l, out[layerOutput.windowQueries(l)].data as Float32Array, windowRows.length);
    }
    cache.commit(S);
    return out.logits.data as Float32Array;
  }
}

/** A new K/V output in the cache's precision: float32 values, or float16 as raw bits. */
function cacheFloats(t: Tensor): Floats {
  return t.type === 'float16' ? float16Bits(t.data as ArrayBufferView) : (t.data as Float32Array);
}

const masks = new Map<number, Float32Array>();
/** [S, S]: 0 where a new token may attend another new token (itself and earlier), -inf elsewhere. */
function causalMask(S: number): Float32Array {
  let m = masks.get(S);
  if (!m) {
    m = new Float32Array(S * S);
    for (let i = 0; i < S; i++) for (let j = i + 1; j < S; j++) m[i * S + j] = -Infinity;
    if (masks.size < 64) masks.set(S, m);
  }
  return m;
}
