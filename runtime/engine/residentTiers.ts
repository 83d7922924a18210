// On WebGPU the KV cache stays in GPU memory between steps. A CPU tensor fed to a WebGPU session
// is uploaded on every run, so feeding the whole cache each step would move it across the bus per
// token. Instead, the tiers that only change when tokens are pruned (compact keys, compact values
// and their value selectors; see kvcache.ts) are uploaded once after each prune or flush, through
// a small Identity graph whose outputs stay on the GPU (preferredOutputLocation 'gpu-buffer').
// What still travels each decode step is bounded by ThinK's settings, not by the context: the full
// tier (the `recent` newest tokens plus those generated since the last flush), the channel indices
// (int64, which WebGPU cannot hold natively), and KIVI's codes (their bit unpacking has no WebGPU
// kernel in onnxruntime, so it runs on the CPU anyway). While the prompt is read, before ThinK
// prunes it, its full-key cache so far goes with every prefill chunk.
//
// Needs the compressed cache layout: in the plain one, every token's values share one buffer that
// grows each step.
import { InferenceSession, Tensor } from 'onnxruntime-node';
import type { GpuResidency } from '../../core/protocol/rpc';
import type { ModelConfig } from '../model/config';
import { cacheInput } from '../graph/attention';
import { GraphBuilder } from '../graph/onnx';
import type { CacheLayout, KvCache } from '../cache/kvcache';

/** The cache inputs kept on the GPU, per layer: [Hkv, 1, Tc, kept], [Hkv, 1, Tc, keptV] and (compressed layout) [Hkv, 1, keptV, D]. */
function residentInputs(layout: CacheLayout): ((l: number) => string)[] {
  return layout.compressed ? [cacheInput.prunedKeys, cacheInput.compactValues, cacheInput.valueSelect] : [cacheInput.prunedKeys, cacheInput.compactValues];
}

export class ResidentTiers {
  private resident: Record<string, Tensor> = {};
  private version = -1;
  private cacheId = -1;
  readonly stats: GpuResidency = { uploads: 0, uploadedBytes: 0, hostBytesLastStep: 0, residentBytes: 0 };

  private constructor(
    private readonly uploader: InferenceSession,
    private readonly names: string[],
  ) {}

  /** Opens the upload graph on WebGPU (the session the model runs in shares its device). */
  static async open(c: ModelConfig, layout: CacheLayout): Promise<ResidentTiers> {
    const g = new GraphBuilder();
    const names: string[] = [];
    const dims = ['heads', 1, 'rows', 'cols'];
    for (let l = 0; l < c.layers; l++)
      for (const input of residentInputs(layout)) {
        const name = input(l);
        names.push(name);
        g.output(name, g.op('Identity', [g.input(`host.${name}`, 'float', dims)]), 'float', dims);
      }
    const uploader = await InferenceSession.create(g.toBytes('think-lens-upload'), {
      executionProviders: ['webgpu'],
      preferredOutputLocation: 'gpu-buffer',
      logSeverityLevel: 3,
    });
    return new ResidentTiers(uploader, names);
  }

  /**
   * Uploads the resident tiers if `cache` changed them since the last upload. The engine calls it
   * right after pruning and flushing, so the figures in `stats` always describe the cache as it is.
   */
  async sync(cache: KvCache, fed?: Record<string, Tensor>): Promise<void> {
    if (cache.id !== this.cacheId) {
      // A new prompt's cache: its figures start from zero.
      this.cacheId = cache.id;
      Object.assign(this.stats, { uploads: 0, uploadedBytes: 0, hostBytesLastStep: 0, residentBytes: 0 });
    }
    if (cache.version !== this.version) {
      const host = fed ?? cache.feeds();
      const out = await this.uploader.run(Object.fromEntries(this.names.map((n) => [`host.${n}`, host[n]])));
      for (const [name, t] of Object.entries(out))
        if (t.location !== 'gpu-buffer') throw new Error(`ResidentTiers: ${name} came back in ${t.location}, not on the GPU`);
      this.release();
      this.resident = out;
      this.version = cache.version;
      this.stats.uploads++;
      this.stats.residentBytes = this.names.reduce((sum, n) => sum + bytes(host[n]), 0);
      this.stats.uploadedBytes += this.stats.residentBytes;
    }
  }

  /** The graph's cache inputs: the resident tiers from the GPU (uploaded first if stale), the rest from host memory. */
  async feeds(cache: KvCache): Promise<Record<string, Tensor>> {
    const host = cache.feeds();
    await this.sync(cache, host);
    let hostBytes = 0;
    for (const [name, t] of Object.entries(host)) if (!(name in this.resident)) hostBytes += bytes(t);
    this.stats.hostBytesLastStep = hostBytes;
    return { ...host, ...this.resident };
  }

  async dispose(): Promise<void> {
    this.release();
    await this.uploader.release();
  }

  private release(): void {
    for (const t of Object.values(this.resident)) t.dispose();
    this.resident = {};
  }
}

/** Bytes of a host tensor (its typed array's). */
function bytes(t: Tensor): number {
  return (t.data as ArrayBufferView).byteLength;
}
