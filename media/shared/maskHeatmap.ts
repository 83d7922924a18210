// The layer x KV-head grid of what ThinK kept: one cell per (layer, KV head), its shade the
// fraction of key channels kept. The Cache Inspector shows it large and clickable; the Answer panel
// shows a compact, read-only copy beside the answer.

import type { ThinkMasks } from '../../core/protocol/rpc';
import type { HeadRef } from '../../core/protocol/webview';
import { el } from './element';

export interface MaskHeatmapOptions {
  /** Small cells, no axis labels (the Answer panel's sidebar). */
  compact?: boolean;
  selected?: HeadRef;
  /** When given, cells are buttons and clicking one calls this. */
  onSelect?: (ref: HeadRef) => void;
}

/** Number of KV heads the masks describe (the widest layer; every layer has the same count in practice). */
export function kvHeadCount(masks: ThinkMasks): number {
  return masks.layers.reduce((n, heads) => Math.max(n, heads.length), 0);
}

export function renderMaskHeatmap(masks: ThinkMasks, options: MaskHeatmapOptions = {}): HTMLElement {
  const heads = kvHeadCount(masks);
  const grid = el('div', {
    className: `heatmap${options.compact ? ' compact' : ''}`,
    attrs: { role: 'grid', 'aria-label': `Kept key channels: ${masks.layers.length} layers by ${heads} KV heads, head_dim ${masks.headDim}` },
    vars: { heads },
  });
  if (!options.compact) {
    grid.append(el('div', { className: 'corner', attrs: { 'aria-hidden': 'true' } }));
    for (let h = 0; h < heads; h++) grid.append(el('div', { className: 'col-label', attrs: { 'aria-hidden': 'true' } }, `H${h}`));
  }
  masks.layers.forEach((layerHeads, layer) => {
    if (!options.compact) grid.append(el('div', { className: 'row-label', attrs: { 'aria-hidden': 'true' } }, `L${layer}`));
    for (let head = 0; head < heads; head++) {
      const mask = layerHeads[head];
      const kept = mask ? mask.kept.length : 0;
      const fraction = masks.headDim > 0 ? kept / masks.headDim : 0;
      const label = `layer ${layer}, KV head ${head}: ${kept} of ${masks.headDim} channels kept`;
      const selected = options.selected?.layer === layer && options.selected.head === head;
      const props = {
        className: `cell${selected ? ' selected' : ''}`,
        attrs: { 'data-layer': layer, 'data-head': head, 'data-kept': kept, title: label, 'aria-label': label },
        vars: { kept: fraction.toFixed(4) },
      };
      if (options.onSelect) {
        const button = el('button', { ...props, attrs: { ...props.attrs, type: 'button', 'aria-pressed': selected ? 'true' : 'false' } });
        const onSelect = options.onSelect;
        button.addEventListener('click', () => onSelect({ layer, head }));
        grid.append(button);
      } else {
        grid.append(el('div', { ...props, attrs: { ...props.attrs, role: 'img' } }));
      }
    }
  });
  return grid;
}
