// The Cache Inspector's DOM: runtime line, cache figures, memory-budget gauge, prefill/decode
// progress, the layer x KV-head heatmap and the selected head's channel chart.

import { describeCacheVsF16 } from '../../core/cacheFigures';
import type { InspectorState } from '../../core/inspectorState';
import type { CacheStats, ProgressNotification } from '../../core/protocol/rpc';
import type { HeadRef, RemoteEngineInfo } from '../../core/protocol/webview';
import { byId, el, replaceChildren, setStat, stat } from '../shared/element';
import { renderMaskHeatmap } from '../shared/maskHeatmap';
import { formatBytes, formatCount, formatPercent, formatRate } from '../../core/numberFormat';
import { renderChannelChart } from './barChart';
import { renderBudgetGauge } from './gauge';

const MIB = 1024 * 1024;

export class InspectorView {
  private shown: { masks?: unknown; selected?: HeadRef } = {};

  constructor(root: HTMLElement, private readonly onSelect: (ref: HeadRef) => void) {
    replaceChildren(
      root,
      el(
        'div',
        { className: 'inspector-layout' },
        el('header', { className: 'toolbar' }, el('span', { className: 'badge', attrs: { 'data-stat': 'state', role: 'status' } }, 'no runtime'), el('span', { attrs: { 'data-stat': 'model' } }, 'No model loaded.')),
        // Only with a remote engine (thinkLens.engine): what it means, and what the server reports.
        el('section', { className: 'panel-section', attrs: { id: 'remote', hidden: true } }),
        el(
          'section',
          { className: 'panel-section' },
          el('h3', {}, 'Cache'),
          el(
            'dl',
            { className: 'stats' },
            ...stat('Tokens in cache', 'tokens'),
            ...stat('Keys', 'keys'),
            ...stat('Values', 'values'),
            ...stat('Keys + values', 'total'),
            ...stat('Against llama.cpp', 'vs-f16'),
            ...stat('Prune ratio', 'prune-ratio'),
            ...stat('Allocated', 'allocated'),
            ...stat('On the GPU', 'gpu'),
          ),
        ),
        el('section', { className: 'panel-section' }, el('h3', {}, 'Memory budget'), el('div', { attrs: { id: 'gauge' } })),
        el(
          'section',
          { className: 'panel-section' },
          el('h3', {}, 'Progress'),
          el('div', { className: 'progress-track', attrs: { id: 'prefill-bar', role: 'progressbar', 'aria-label': 'Prefill', 'aria-valuemin': 0, 'aria-valuemax': 1, 'aria-valuenow': 0 } }, el('div', { className: 'progress-fill' })),
          el('dl', { className: 'stats' }, ...stat('Prefill', 'prefill'), ...stat('Prefill speed', 'prefill-rate'), ...stat('Decode', 'decode')),
        ),
        el(
          'section',
          { className: 'panel-section' },
          el('h3', {}, 'Kept key channels per layer and KV head'),
          el('p', { className: 'muted' }, 'Darker cells keep more channels. Click a cell to see its channel scores.'),
          el('div', { attrs: { id: 'heatmap' } }, el('p', { className: 'muted' }, 'No masks yet: they arrive after the first prefill.')),
          el('div', { attrs: { id: 'head-detail' } }),
        ),
      ),
    );
  }

  render(state: InspectorState): void {
    const rt = state.runtime;
    setStat('state', rt ? rt.state : 'no runtime');
    byId('app').querySelector('[data-stat="state"]')?.setAttribute('data-state', rt?.state ?? 'none');
    if (rt?.model) {
      const m = rt.model;
      const think = rt.think ? ` · ratio ${Array.isArray(rt.think.ratio) ? 'per layer' : formatPercent(rt.think.ratio)}, window ${rt.think.window}, recent ${rt.think.recent}, flush ${rt.think.flush}` : '';
      const weights = m.quantize ? ` · ${m.quantize} weights` : '';
      setStat('model', `${m.architecture} · ${m.layers} layers · ${m.kvHeads} KV heads · head_dim ${m.headDim}${weights}${rt.device ? ` · ${rt.device}` : ''}${think}`);
    } else {
      setStat('model', rt ? 'No model loaded.' : 'Waiting for the runtime…');
    }

    this.renderRemote(rt?.remote);
    const cache = state.progress?.cache;
    this.renderCache(cache);
    const budget = rt ? rt.memoryBudgetMb * MIB : 0;
    replaceChildren(
      byId('gauge'),
      renderBudgetGauge({ usedBytes: cache ? cache.keyBytes + cache.valueBytes : 0, unprunedBytes: cache ? cache.fullKeyBytes + cache.valueBytes : 0, budgetBytes: budget }),
    );
    this.renderProgress(state.prefill, state.progress);

    if (state.masks !== this.shown.masks || state.selected !== this.shown.selected) {
      this.shown = { masks: state.masks, selected: state.selected };
      // Redrawing the grid replaces the focused cell: put keyboard focus back on its successor.
      const focused = document.activeElement?.closest('#heatmap .cell');
      if (state.masks) replaceChildren(byId('heatmap'), renderMaskHeatmap(state.masks, { selected: state.selected, onSelect: this.onSelect }));
      if (focused) {
        const again = byId('heatmap').querySelector<HTMLElement>(`.cell[data-layer="${focused.getAttribute('data-layer')}"][data-head="${focused.getAttribute('data-head')}"]`);
        again?.focus();
      }
      const mask = state.masks && state.selected ? state.masks.layers[state.selected.layer]?.[state.selected.head] : undefined;
      replaceChildren(byId('head-detail'), mask && state.selected ? renderChannelChart(mask, state.selected.layer, state.selected.head) : null);
    }
  }

  private renderRemote(remote: RemoteEngineInfo | undefined): void {
    const section = byId('remote');
    section.hidden = !remote;
    if (!remote) return void replaceChildren(section);
    setStat('model', `Remote engine ${remote.url}`);
    const figures = remote.metrics?.figures ?? [];
    replaceChildren(
      section,
      el('h3', {}, 'Remote engine'),
      el('p', { attrs: { 'data-stat': 'remote-note' } }, remote.note),
      figures.length
        ? el('dl', { className: 'stats', attrs: { 'data-stat': 'remote-figures' } }, ...figures.flatMap((f) => [el('dt', {}, f.label), el('dd', {}, f.value)]))
        : el('p', { className: 'muted' }, 'The server has reported no figures yet: they are fetched after each answer.'),
      remote.metrics ? el('p', { className: 'muted' }, `From ${remote.metrics.source}.`) : null,
    );
  }

  private renderCache(cache: CacheStats | undefined): void {
    if (!cache) return;
    const saved = cache.fullKeyBytes > 0 ? 1 - cache.keyBytes / cache.fullKeyBytes : 0;
    setStat('tokens', `${formatCount(cache.tokens)} (${formatCount(cache.prunedTokens)} pruned, ${formatCount(cache.fullTokens)} full keys)`);
    setStat('keys', `${formatBytes(cache.keyBytes)} of ${formatBytes(cache.fullKeyBytes)} unpruned (${formatPercent(saved)} saved)`);
    setStat('values', formatBytes(cache.valueBytes));
    setStat('total', `${formatBytes(cache.keyBytes + cache.valueBytes)} of ${formatBytes(cache.fullKeyBytes + cache.valueBytes)} unpruned`);
    setStat('vs-f16', describeCacheVsF16(cache));
    setStat('prune-ratio', formatPercent(cache.pruneRatio));
    setStat('allocated', formatBytes(cache.allocatedBytes));
    const gpu = cache.gpu;
    setStat('gpu', gpu ? `${formatBytes(gpu.residentBytes)} resident, ${formatBytes(gpu.hostBytesLastStep)} sent per step` : 'nothing: the cache is in host memory');
  }

  private renderProgress(prefill: ProgressNotification | undefined, latest: ProgressNotification | undefined): void {
    const bar = byId('prefill-bar');
    const fraction = prefill && prefill.total > 0 ? Math.min(1, prefill.processed / prefill.total) : 0;
    bar.style.setProperty('--fill', fraction.toFixed(4));
    bar.setAttribute('aria-valuenow', fraction.toFixed(4));
    if (prefill) {
      setStat('prefill', `${formatCount(prefill.processed)} of ${formatCount(prefill.total)} tokens (${formatPercent(fraction)})`);
      setStat('prefill-rate', formatRate(prefill.tokensPerSec));
    }
    if (latest && latest.phase !== 'prefill') {
      setStat('decode', latest.phase === 'done' ? `done, ${formatCount(latest.generated)} tokens` : `${formatCount(latest.generated)} tokens, ${formatRate(latest.tokensPerSec)}`);
    } else if (latest) {
      setStat('decode', 'waiting for prefill');
    }
  }
}
