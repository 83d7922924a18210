// The status bar item: runtime state, and the live size of the KV cache with what ThinK saved on
// keys. Clicking it opens the Cache Inspector (or, with no model, Select Model).

import * as vscode from 'vscode';
import { formatBytes, formatPercent } from '../core/numberFormat';
import type { CacheStats } from '../core/protocol/rpc';
import type { RuntimeState } from '../core/protocol/webview';
import { REMOTE_NOTE } from './remote/remoteEngine';

export interface StatusView {
  state: RuntimeState;
  /** False when no model is configured (the item then says so). */
  hasModel: boolean;
  /** Set when the engine is a remote server (thinkLens.engine): its URL. */
  remote?: string;
  /** Short model name (folder or repo id) for the tooltip. */
  modelName?: string;
  cache?: CacheStats;
  /** thinkLens.memoryBudgetMb: MiB (x 2^20), despite the key's name. */
  memoryBudgetMb: number;
}

const ICONS: Record<RuntimeState, string> = {
  stopped: '$(circle-outline)',
  starting: '$(sync~spin)',
  ready: '$(check)',
  busy: '$(loading~spin)',
  crashed: '$(warning)',
  failed: '$(error)',
};

/** Cache bytes in use (keys as stored, pruned, plus values) and the key saving against no pruning. */
export function cacheSummary(c: CacheStats): { bytes: number; keySaving: number } {
  const bytes = c.keyBytes + c.valueBytes;
  const keySaving = c.fullKeyBytes > 0 ? 1 - c.keyBytes / c.fullKeyBytes : 0;
  return { bytes, keySaving };
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

export class StatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;

  constructor() {
    this.item = vscode.window.createStatusBarItem('thinkLens.status', vscode.StatusBarAlignment.Right, 100);
    this.item.name = 'ThinK Lens';
    this.item.show();
  }

  update(v: StatusView): void {
    const item = this.item;
    if (!v.hasModel) {
      item.text = '$(circle-slash) ThinK: no model';
      item.tooltip = 'ThinK Lens has no model. Click to select one: from the Hugging Face Hub, a local folder or GGUF file, or one Ollama or LM Studio downloaded.';
      item.command = 'thinkLens.selectModel';
      item.backgroundColor = undefined;
      return;
    }
    if (v.remote) {
      item.text = `${v.state === 'busy' ? ICONS.busy : '$(cloud)'} ThinK remote: ${hostOf(v.remote)}`;
      const lines = [`ThinK Lens engine: remote: ${v.remote} (${v.state})`];
      if (v.modelName) lines.push(`Model: ${v.modelName}`);
      lines.push(`${REMOTE_NOTE}.`, 'Click to open the Cache Inspector.');
      item.tooltip = lines.join('\n');
      item.command = 'thinkLens.openCacheInspector';
      item.backgroundColor = undefined;
      return;
    }
    let text = `${ICONS[v.state]} ThinK: ${v.state}`;
    const lines = [`ThinK Lens runtime: ${v.state}`];
    if (v.modelName) lines.push(`Model: ${v.modelName}`);
    if (v.cache && v.cache.tokens > 0) {
      const { bytes, keySaving } = cacheSummary(v.cache);
      text += ` · ${formatBytes(bytes)}`;
      const budget = v.memoryBudgetMb * 2 ** 20;
      lines.push(
        `Cache: ${v.cache.tokens} tokens, ${formatBytes(bytes)} (keys ${formatBytes(v.cache.keyBytes)} vs ${formatBytes(v.cache.fullKeyBytes)} unpruned, ${formatPercent(keySaving)} saved)`,
        // The same figures and units as the Inspector's gauge.
        `Memory budget: ${formatPercent(bytes / budget)} of ${formatBytes(budget)}`,
      );
    }
    if (v.state === 'failed') lines.push('Stopped after repeated crashes: run "ThinK Lens: Restart Runtime".');
    lines.push('Click to open the Cache Inspector.');
    item.text = text;
    item.tooltip = lines.join('\n');
    item.command = v.state === 'failed' ? 'thinkLens.restartRuntime' : 'thinkLens.openCacheInspector';
    item.backgroundColor = v.state === 'failed' || v.state === 'crashed' ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
  }

  /** Test/diagnostic view of what the user sees. */
  get text(): string {
    return this.item.text;
  }

  dispose(): void {
    this.item.dispose();
  }
}
