// The memory-budget gauge: the cache's stored bytes against the budget set in the settings, with a
// tick where an unpruned cache of the same tokens would reach.

import { el } from '../shared/element';
import { formatBytes, formatPercent } from '../../core/numberFormat';

export interface GaugeInput {
  usedBytes: number;
  unprunedBytes: number;
  budgetBytes: number;
}

export function renderBudgetGauge({ usedBytes, unprunedBytes, budgetBytes }: GaugeInput): HTMLElement {
  const valid = budgetBytes > 0;
  const fraction = valid ? usedBytes / budgetBytes : 0;
  const clamp = (x: number): number => Math.min(1, Math.max(0, x));
  const over = fraction > 1;
  const caption = valid
    ? `${formatBytes(usedBytes)} of ${formatBytes(budgetBytes)} budget (${formatPercent(fraction)})${over ? ', over budget' : ''}`
    : 'No memory budget set';
  return el(
    'div',
    { className: `gauge${over ? ' over' : ''}` },
    el(
      'div',
      {
        className: 'gauge-track',
        attrs: {
          role: 'meter',
          'aria-label': 'Cache memory against the budget',
          'aria-valuemin': 0,
          'aria-valuemax': budgetBytes,
          'aria-valuenow': usedBytes,
          'aria-valuetext': caption,
        },
        vars: { fill: clamp(fraction).toFixed(4), mark: clamp(valid ? unprunedBytes / budgetBytes : 0).toFixed(4) },
      },
      el('div', { className: 'gauge-fill' }),
      unprunedBytes > usedBytes ? el('div', { className: 'gauge-mark', attrs: { title: `Unpruned: ${formatBytes(unprunedBytes)}` } }) : null,
    ),
    el('p', { className: 'gauge-caption', attrs: { 'data-stat': 'budget' } }, caption),
  );
}
