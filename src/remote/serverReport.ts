// What an OpenAI-compatible server reports about itself beyond OpenAI's API, as figures for the
// Cache Inspector: think-lens serve's /metrics (JSON, with ThinK's cache figures), vLLM's
// Prometheus /metrics (KV-cache usage), llama.cpp's /props (n_ctx) and /slots (tokens per slot).
// Pure parsers here; src/remote/remoteEngine.ts fetches.

import { formatBytes, formatPercent } from '../../core/numberFormat';
import type { RemoteFigure } from '../../core/protocol/webview';

/** Which server answers, as far as its /models entries, /props or /metrics tell. */
export type ServerKind = 'think-lens' | 'vllm' | 'llama.cpp' | 'unknown';

/** Prometheus text format: `name{labels} value` lines (comments skipped); values by metric name, summed over labels. */
export function parsePrometheus(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^([A-Za-z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const v = Number(m[3]);
    if (!Number.isFinite(v)) continue;
    out.set(m[1], (out.get(m[1]) ?? 0) + v);
  }
  return out;
}

/**
 * vLLM's KV-cache figures: `vllm:kv_cache_usage_perc` (v1) or `vllm:gpu_cache_usage_perc` (older),
 * a fraction in [0, 1] despite the name; running and waiting requests when present.
 */
export function vllmFigures(text: string): RemoteFigure[] | undefined {
  const m = parsePrometheus(text);
  const usage = m.get('vllm:kv_cache_usage_perc') ?? m.get('vllm:gpu_cache_usage_perc');
  if (usage === undefined) return undefined;
  const figures: RemoteFigure[] = [{ label: 'KV cache usage', value: formatPercent(usage) }];
  const running = m.get('vllm:num_requests_running');
  const waiting = m.get('vllm:num_requests_waiting');
  if (running !== undefined) figures.push({ label: 'Requests running', value: String(running) });
  if (waiting !== undefined) figures.push({ label: 'Requests waiting', value: String(waiting) });
  const prefixHit = m.get('vllm:gpu_prefix_cache_hit_rate');
  if (prefixHit !== undefined) figures.push({ label: 'Prefix cache hit rate', value: formatPercent(prefixHit) });
  return figures;
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** think-lens serve's GET /metrics (JSON: busy, queued, device, think, cache). */
export function thinkLensFigures(body: unknown): RemoteFigure[] | undefined {
  if (!body || typeof body !== 'object' || (body as { object?: unknown }).object !== 'think_lens.metrics') return undefined;
  const b = body as { busy?: unknown; queued?: unknown; device?: unknown; think?: { ratio?: unknown }; cache?: Record<string, unknown> | null };
  const figures: RemoteFigure[] = [{ label: 'Server', value: `think-lens serve${typeof b.device === 'string' ? ` on ${b.device}` : ''}, ${b.busy ? 'busy' : 'idle'}${num(b.queued) ? `, ${b.queued} queued` : ''}` }];
  const ratio = b.think?.ratio;
  if (typeof ratio === 'number') figures.push({ label: 'Prune ratio (server setting)', value: formatPercent(ratio) });
  const c = b.cache;
  if (c) {
    const tokens = num(c.tokens);
    const keys = num(c.keyBytes);
    const full = num(c.fullKeyBytes);
    const values = num(c.valueBytes);
    if (tokens !== undefined) figures.push({ label: 'Tokens in cache', value: String(tokens) });
    if (keys !== undefined && full !== undefined) figures.push({ label: 'Keys', value: `${formatBytes(keys)} of ${formatBytes(full)} unpruned${full > 0 ? ` (${formatPercent(1 - keys / full)} saved)` : ''}` });
    if (values !== undefined) figures.push({ label: 'Values', value: formatBytes(values) });
  }
  return figures;
}

/** llama.cpp's GET /props: the context size (per slot: n_ctx / total_slots in recent builds). */
export function llamaCppContext(props: unknown): number | undefined {
  if (!props || typeof props !== 'object') return undefined;
  const p = props as { n_ctx?: unknown; default_generation_settings?: { n_ctx?: unknown } };
  return num(p.default_generation_settings?.n_ctx) ?? num(p.n_ctx);
}

/** Whether a /props answer is llama.cpp's. */
export function isLlamaCppProps(props: unknown): boolean {
  return llamaCppContext(props) !== undefined || (!!props && typeof props === 'object' && 'total_slots' in props);
}

/** llama.cpp's /props and /slots: the context size, and per slot whether it works and the tokens it holds. */
export function llamaCppFigures(props: unknown, slots: unknown): RemoteFigure[] {
  const figures: RemoteFigure[] = [];
  const nCtx = llamaCppContext(props);
  if (nCtx !== undefined) figures.push({ label: 'Context (n_ctx)', value: `${nCtx} tokens` });
  if (Array.isArray(slots)) {
    slots.forEach((s: Record<string, unknown>, i) => {
      if (!s || typeof s !== 'object') return;
      const id = num(s.id) ?? i;
      const busy = s.is_processing === true || num(s.state) === 1;
      const ctx = num(s.n_ctx);
      // Tokens the slot holds: n_past in older builds; prompt + generated in newer ones.
      const next = s.next_token as { n_decoded?: unknown } | undefined;
      const held = num(s.n_past) ?? sumDefined(num(s.n_prompt_tokens), num(next?.n_decoded) ?? num(s.n_decoded));
      figures.push({ label: `Slot ${id}`, value: `${busy ? 'busy' : 'idle'}${held !== undefined ? `, ${held} tokens` : ''}${ctx !== undefined ? ` of ${ctx}` : ''}` });
    });
  }
  return figures;
}

function sumDefined(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined && b === undefined ? undefined : (a ?? 0) + (b ?? 0);
}

/** The kind from /models entries' owned_by (vLLM: 'vllm', llama.cpp: 'llamacpp', think-lens serve: 'think-lens'). */
export function kindFromModels(models: Record<string, unknown>[]): ServerKind {
  const owners = models.map((m) => String(m.owned_by ?? '').toLowerCase());
  if (owners.includes('think-lens')) return 'think-lens';
  if (owners.includes('vllm') || models.some((m) => typeof m.max_model_len === 'number')) return 'vllm';
  if (owners.includes('llamacpp') || owners.includes('llama.cpp')) return 'llama.cpp';
  return 'unknown';
}
