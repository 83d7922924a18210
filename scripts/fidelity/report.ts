// The fidelity report as data, and its two renderings: a markdown table and the plot's spec.
import type { PlotSpec } from './plot';

export interface FidelityRow {
  label: string;
  family: string;
  tag: string;
  /** Mean over documents of the engine's bytesPerToken (all cache bytes / cached tokens) at the end. */
  bytesPerToken: number;
  /** Mean over documents of all cache bytes / tokens of context read (cached + evicted): the plot's x. */
  bytesPerContextToken: number;
  /** Fraction of positions whose top token matches the unpruned cache's. */
  agreement: number;
  meanKl: number;
  maxKl: number;
  /** Fraction of positions whose top token is the text's next token. */
  accuracy: number;
  positions: number;
}

export interface FidelityReport {
  model: string;
  device: string;
  documents: number;
  promptTokens: number;
  continuationTokens: number;
  /** Continuation tokens per teacher-forced forward (flush runs between forwards). */
  chunk: number;
  /** layers x kvHeads x head_dim x 2 x 2 bytes. */
  fp16FullBytesPerToken: number;
  seconds: number;
  /** The unpruned cache: agreement 1 and KL 0 by construction; its accuracy is the model's own. */
  baseline: FidelityRow;
  rows: FidelityRow[];
  /** Weight quantization (int8, int4 for MatMulNBits) against the unquantized model, unpruned caches on both sides. */
  weightRows?: FidelityRow[];
  notes: string[];
}

function pct(x: number): string {
  return `${(100 * x).toFixed(1)}%`;
}

function kl(x: number): string {
  if (x === 0) return '0';
  return x >= 0.01 ? x.toFixed(4) : x.toExponential(2);
}

export function fidelityMarkdown(r: FidelityReport): string {
  const lines = [
    `# Cache compression fidelity: ${r.model}`,
    '',
    `Teacher forcing on ${r.documents} documents (${r.promptTokens}-token prompt, ${r.continuationTokens}-token continuation each, ` +
      `${r.chunk} token(s) per forward), ${r.device}, ${r.seconds.toFixed(1)} s. Every method is compared with the unpruned cache ` +
      `of the same model at each continuation position: agreement = its top token equals the unpruned cache's; KL = KL(p_unpruned || p_method) in nats. ` +
      `Every row runs a float32 cache except the float16 cache rows (the runtime's default cache). Cache bytes count every byte (float rows, codes, float16 scales and minimums, int64 channel indices), ` +
      `per cached token (the engine's bytesPerToken) and per token of context read (cached + evicted, which is where eviction saves); ` +
      `an unpruned fp16 cache takes ${r.fp16FullBytesPerToken} bytes per token.`,
    '',
    '| method | bytes / cached token | bytes / context token | vs fp16 | agreement | mean KL | max KL | next-token accuracy |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const row of [r.baseline, ...r.rows])
    lines.push(
      `| ${row.label} | ${row.bytesPerToken.toFixed(1)} | ${row.bytesPerContextToken.toFixed(1)} | ${(row.bytesPerContextToken / r.fp16FullBytesPerToken).toFixed(2)}x | ${pct(row.agreement)} | ${kl(row.meanKl)} | ${kl(row.maxKl)} | ${pct(row.accuracy)} |`,
    );
  if (r.weightRows?.length) {
    lines.push('', '## Weight quantization', '', 'Linear-layer weights quantized at load (block-wise, blocks of 32, MatMulNBits) against the unquantized model; both with the unpruned cache.', '');
    lines.push('| weights | agreement | mean KL | max KL | next-token accuracy |', '| --- | ---: | ---: | ---: | ---: |');
    for (const row of r.weightRows) lines.push(`| ${row.label} | ${pct(row.agreement)} | ${kl(row.meanKl)} | ${kl(row.maxKl)} | ${pct(row.accuracy)} |`);
  }
  if (r.notes.length) lines.push('', ...r.notes.map((n) => `- ${n}`));
  return lines.join('\n') + '\n';
}

export function fidelityPlotSpec(r: FidelityReport): PlotSpec {
  return {
    title: `Cache compression fidelity: ${r.model}`,
    subtitle: `teacher forcing, ${r.documents} documents x (${r.promptTokens} prompt + ${r.continuationTokens} continuation tokens), vs the unpruned cache`,
    points: r.rows.map((row) => ({ family: row.family, tag: row.tag, bytesPerToken: row.bytesPerContextToken, agreement: row.agreement, kl: row.meanKl })),
    references: [
      { label: 'unpruned fp32', bytesPerToken: r.baseline.bytesPerContextToken },
      { label: 'fp16 full', bytesPerToken: r.fp16FullBytesPerToken },
    ],
    unconnected: ['combined'],
  };
}
