// A fidelity report with made-up numbers, for the writer tests (no model runs).
import type { FidelityReport, FidelityRow } from '../../../scripts/fidelity/report';

function row(label: string, family: string, tag: string, bytesPerToken: number, agreement: number, meanKl: number): FidelityRow {
  return { label, family, tag, bytesPerToken: family === 'SnapKV' || family === 'H2O' ? 680 : bytesPerToken, bytesPerContextToken: bytesPerToken, agreement, meanKl, maxKl: meanKl * 20, accuracy: agreement * 0.6, positions: 1200 };
}

export function fakeReport(): FidelityReport {
  return {
    model: 'stories260k',
    device: 'cpu',
    documents: 8,
    promptTokens: 300,
    continuationTokens: 150,
    chunk: 1,
    fp16FullBytesPerToken: 320,
    seconds: 42.5,
    baseline: row('unpruned (float32)', 'unpruned', '', 680, 1, 0),
    rows: [
      row('ThinK 0.3', 'ThinK', '0.3', 560, 0.97, 0.004),
      row('ThinK 0.4', 'ThinK', '0.4', 520, 0.95, 0.009),
      row('ThinK 0.5', 'ThinK', '0.5', 480, 0.91, 0.02),
      row('SnapKV B=60', 'SnapKV', 'B=60', 250, 0.8, 0.12),
      row('SnapKV B=120', 'SnapKV', 'B=120', 400, 0.9, 0.05),
      row('H2O B=60', 'H2O', 'B=60', 250, 0.75, 0.2),
      row('H2O B=120', 'H2O', 'B=120', 400, 0.86, 0.08),
      row('KIVI 4-bit', 'KIVI', '4b', 150, 0.96, 0.006),
      row('KIVI 2-bit', 'KIVI', '2b', 100, 0.7, 0.3),
      row('values 0.5', 'value pruning', 'v0.5', 520, 0.99, 0),
      row('ThinK 0.5 + KIVI 2-bit', 'combined', 'T+K2', 70, 0.65, 0.4),
    ],
    notes: ['head_dim 8: ratios 0.5 and 0.6 keep the same 4 channels.'],
  };
}
