// The benchmark's result records, the derived ratios and the decode bandwidth bound, and their
// markdown rendering. Pure functions over plain data, so the driver and its test share them.
import type { Bandwidth } from './bandwidth';

export interface BenchRow {
  model: string;
  context: number;
  /** 'ours' or 'llama.cpp' */
  runtime: 'ours' | 'llama.cpp';
  /** ours: prune ratio; llama.cpp: null */
  ratio: number | null;
  /** weight precision as computed: ours float32 or MatMulNBits int8/int4 (--quantize); llama.cpp: the GGUF's type */
  weights: 'F32' | 'F16' | 'INT8' | 'INT4' | 'Q8_0' | 'Q4_0';
  /** KV cache element type */
  kv: 'F32' | 'F16';
  /** llama.cpp as its users run it: F16 KV cache and flash attention on (the headline comparison) */
  defaults: boolean;
  method: string;
  prefillTokensPerSec: number;
  decodeMsPerToken: number;
  decodeSteps: number;
  keyBytes: number;
  valueBytes: number;
  /** every cache byte per cached token: ours CacheStats.bytesPerToken (keys, values, codes, channel indices); llama.cpp its K and V element bytes */
  cacheBytesPerToken: number;
  peakRssBytes: number;
  /** weights + key + value bytes one decode step reads at this context */
  bytesPerToken: number;
  /** read bandwidth measured around this row's run (the better of just before and just after), GB/s */
  readGBps: number;
  /** bytesPerToken / (read bandwidth x seconds per token): the share of the memory-bound speed reached; null: bandwidth unknown */
  boundFraction: number | null;
  firstTokens: number[];
  loadMs: number;
  note?: string;
}

export interface BenchFailure {
  model: string;
  context: number;
  runtime: string;
  error: string;
}

export interface BenchRatios {
  model: string;
  context: number;
  /** llama.cpp at its defaults (F16 KV, flash attention, same weights) ms/token over ours: > 1 means ours decodes faster */
  decodeVsDefaultsRatio0: number | null;
  decodeVsDefaultsPruned: number | null;
  /** ours (ThinK on) prefill tokens/s over llama.cpp's at its defaults */
  prefillVsDefaults: number | null;
  /** our cache bytes per context token (ThinK on) over llama.cpp's default F16 cache's */
  cacheBytesVsDefaults: number | null;
  /** ours (ThinK on) prefill tokens/s over llama.cpp's at F32 */
  prefillOursOverLlama: number | null;
  /** llama.cpp F32 ms/token over ours: > 1 means ours decodes faster */
  decodeSpeedupVsLlamaRatio0: number | null;
  decodeSpeedupVsLlamaPruned: number | null;
  /** ours ratio 0 ms/token over ours pruned ms/token: > 1 means pruning made decode faster */
  prunedDecodeSpeedup: number | null;
  /** key bytes pruned / unpruned */
  keyBytesRatio: number | null;
  /** our greedy next token after the prompt equals llama.cpp's (F32 GGUF) */
  nextTokenAgrees: boolean | null;
}

export interface BenchReport {
  startedAt: string;
  totalSeconds: number;
  quick: boolean;
  machine: { cpus: number; cpuModel: string; node: string; threads: number };
  bandwidth: Bandwidth;
  /** GPU runs (--device): where both runtimes ran, and the GPU read bandwidth the bound uses */
  gpu?: { device: 'webgpu' | 'cuda'; readGBps: number | null; source: string };
  rows: BenchRow[];
  ratios: BenchRatios[];
  failures: BenchFailure[];
  notes: string[];
}

/** null when the bandwidth is unknown (a CUDA run without --bandwidth-gbs) or nothing was decoded. */
export function boundFraction(bytesPerToken: number, msPerToken: number, readGBps: number | null): number | null {
  if (!(msPerToken > 0 && readGBps !== null && readGBps > 0)) return null;
  return bytesPerToken / (readGBps * 1e9 * (msPerToken / 1000));
}

export function computeRatios(rows: BenchRow[], prunedRatio: number): BenchRatios[] {
  const keys = [...new Set(rows.map((r) => `${r.model}\u0000${r.context}`))];
  return keys.map((k) => {
    const [model, ctx] = k.split('\u0000');
    const context = Number(ctx);
    const at = rows.filter((r) => r.model === model && r.context === context);
    const r0 = at.find((r) => r.runtime === 'ours' && r.ratio === 0);
    const rp = at.find((r) => r.runtime === 'ours' && r.ratio === prunedRatio);
    // llama.cpp at our weight precision (F32, or Q8_0 / Q4_0 with --quantize) on an F32 cache.
    const ll = at.find((r) => r.runtime === 'llama.cpp' && r.kv === 'F32');
    // llama.cpp as users run it: the same weights, its default F16 cache and flash attention.
    const ld = at.find((r) => r.runtime === 'llama.cpp' && r.defaults);
    const div = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined && b > 0 ? a / b : null);
    return {
      model,
      context,
      decodeVsDefaultsRatio0: div(ld?.decodeMsPerToken, r0?.decodeMsPerToken),
      decodeVsDefaultsPruned: div(ld?.decodeMsPerToken, rp?.decodeMsPerToken),
      prefillVsDefaults: div((rp ?? r0)?.prefillTokensPerSec, ld?.prefillTokensPerSec),
      cacheBytesVsDefaults: div(rp?.cacheBytesPerToken, ld?.cacheBytesPerToken),
      prefillOursOverLlama: div((rp ?? r0)?.prefillTokensPerSec, ll?.prefillTokensPerSec),
      decodeSpeedupVsLlamaRatio0: div(ll?.decodeMsPerToken, r0?.decodeMsPerToken),
      decodeSpeedupVsLlamaPruned: div(ll?.decodeMsPerToken, rp?.decodeMsPerToken),
      prunedDecodeSpeedup: div(r0?.decodeMsPerToken, rp?.decodeMsPerToken),
      keyBytesRatio: div(rp?.keyBytes, r0?.keyBytes),
      nextTokenAgrees: r0 && ll && r0.firstTokens.length && ll.firstTokens.length ? r0.firstTokens[0] === ll.firstTokens[0] : null,
    };
  });
}

const MB = 1024 * 1024;
const f = (x: number | null, digits = 2) => (x === null || !Number.isFinite(x) ? '-' : x.toFixed(digits));
const ctxName = (n: number) => (n % 1024 === 0 ? `${n / 1024}k` : String(n));

export function renderMarkdown(r: BenchReport, prunedRatio: number): string {
  const lines: string[] = [];
  lines.push(`Machine: ${r.machine.cpus} CPUs (${r.machine.cpuModel}), Node ${r.machine.node}, ${r.machine.threads} threads for both runtimes.`);
  const b = r.bandwidth;
  lines.push(`Memory bandwidth (${b.workers} workers), measured ${b.measurements} times, before and after each run: read ${f(b.lowestReadGBps, 1)} to ${f(b.readGBps, 1)} GB/s, best copy ${f(b.copyGBps, 1)} GB/s.`);
  if (r.gpu) lines.push(`GPU: ours on ${r.gpu.device}; GPU read bandwidth ${f(r.gpu.readGBps, 0)} GB/s (${r.gpu.source}), which the bandwidth bound below uses.`);
  lines.push('');
  lines.push('| model | context | runtime | weights / KV | prefill tok/s | decode ms/tok | key MB | value MB | peak RSS MB | bytes/token MB | bandwidth bound |');
  lines.push('| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const x of r.rows) {
    const who = x.runtime === 'ours' ? `ours, ratio ${x.ratio}` : x.defaults ? 'llama.cpp defaults' : 'llama.cpp';
    lines.push(
      `| ${x.model} | ${ctxName(x.context)} | ${who} | ${x.weights} / ${x.kv} | ${f(x.prefillTokensPerSec, 0)} | ${f(x.decodeMsPerToken, 1)} | ${f(x.keyBytes / MB, 1)} | ${f(x.valueBytes / MB, 1)} | ${f(x.peakRssBytes / MB, 0)} | ${f(x.bytesPerToken / MB, 0)} | ${x.boundFraction === null ? '-' : `${f(100 * x.boundFraction, 0)}%`} |`,
    );
  }
  lines.push('');
  lines.push(`Against llama.cpp at its defaults (same weights, F16 KV cache, flash attention on): what its users run.`);
  lines.push('');
  lines.push(`| model | context | decode vs llama.cpp defaults, ratio 0 | decode vs llama.cpp defaults, ratio ${prunedRatio} | prefill ours/llama.cpp defaults | cache bytes per token, ratio ${prunedRatio} / llama.cpp F16 |`);
  lines.push('| --- | --- | ---: | ---: | ---: | ---: |');
  for (const q of r.ratios)
    lines.push(`| ${q.model} | ${ctxName(q.context)} | ${f(q.decodeVsDefaultsRatio0)}x | ${f(q.decodeVsDefaultsPruned)}x | ${f(q.prefillVsDefaults)}x | ${f(q.cacheBytesVsDefaults)}x |`);
  lines.push('');
  lines.push('Footnote: llama.cpp on an F32 cache (a path its users do not run), same weights:');
  lines.push('');
  lines.push(`| model | context | prefill ours/llama.cpp | decode vs llama.cpp, ratio 0 | decode vs llama.cpp, ratio ${prunedRatio} | ratio ${prunedRatio} / ratio 0 decode speedup | key bytes ratio | next token agrees |`);
  lines.push('| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |');
  for (const q of r.ratios) {
    const agree = q.nextTokenAgrees === null ? '-' : q.nextTokenAgrees ? 'yes' : 'NO';
    lines.push(
      `| ${q.model} | ${ctxName(q.context)} | ${f(q.prefillOursOverLlama)}x | ${f(q.decodeSpeedupVsLlamaRatio0)}x | ${f(q.decodeSpeedupVsLlamaPruned)}x | ${f(q.prunedDecodeSpeedup)}x | ${f(q.keyBytesRatio)} | ${agree} |`,
    );
  }
  lines.push('');
  lines.push('Decode vs llama.cpp = llama.cpp ms/token / ours at the same weight precision (F32 both, or int8 / Q8_0, int4 / Q4_0) (> 1: ours faster). Cache bytes per token: every byte our cache holds (keys, values, channel indices, the recent full-key tokens) over the tokens it holds, after decode. Bandwidth bound = bytes read per token / (read bandwidth x time per token), with the bandwidth measured around that run (the better of just before and just after).');
  for (const n of r.notes) lines.push(`- ${n}`);
  for (const e of r.failures) lines.push(`- FAILED ${e.runtime} ${e.model} ${ctxName(e.context)}: ${e.error.split('\n')[0]}`);
  lines.push(`Total time: ${f(r.totalSeconds, 0)} s.`);
  return lines.join('\n');
}
