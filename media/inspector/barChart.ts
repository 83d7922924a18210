// One KV head's channel scores as a bar chart (the quantity ThinK ranks), kept channels marked.

import type { HeadMask } from '../../core/protocol/rpc';
import { el } from '../shared/element';

export function renderChannelChart(mask: HeadMask, layer: number, head: number): HTMLElement {
  const kept = new Set(mask.kept);
  const max = mask.scores.reduce((m, s) => (Number.isFinite(s) ? Math.max(m, s) : m), 0);
  // Dense heads (head_dim 64-128) label every 8th channel; small ones label each.
  const labelEvery = mask.scores.length > 32 ? 8 : 1;
  const bars = mask.scores.map((score, channel) => {
    const isKept = kept.has(channel);
    const label = `channel ${channel}: score ${formatScore(score)}, ${isKept ? 'kept' : 'pruned'}`;
    return el(
      'div',
      {
        className: `bar${isKept ? ' kept' : ''}`,
        attrs: { 'data-channel': channel, 'data-kept': isKept, title: label, role: 'listitem', 'aria-label': label },
        vars: { h: (max > 0 && Number.isFinite(score) ? Math.max(0, score) / max : 0).toFixed(4) },
      },
      el('div', { className: 'bar-fill' }),
      el('span', { className: 'bar-label', attrs: { 'aria-hidden': 'true' } }, channel % labelEvery === 0 ? String(channel) : ''),
    );
  });
  return el(
    'figure',
    { className: 'channel-chart', attrs: { 'data-layer': layer, 'data-head': head } },
    el('figcaption', {}, `Layer ${layer}, KV head ${head}: ${mask.kept.length} of ${mask.scores.length} channels kept (max score ${formatScore(max)})`),
    el('div', { className: 'bars', attrs: { role: 'list' }, vars: { n: mask.scores.length } }, ...bars),
    el('p', { className: 'legend' }, el('span', { className: 'swatch kept' }), ' kept ', el('span', { className: 'swatch' }), ' pruned'),
  );
}

function formatScore(s: number): string {
  if (!Number.isFinite(s)) return String(s);
  return Math.abs(s) >= 1e4 || (s !== 0 && Math.abs(s) < 1e-2) ? s.toExponential(2) : s.toPrecision(3);
}
