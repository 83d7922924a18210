// Typed view of the `thinkLens.*` settings. Every value is checked here, once, so the rest of the
// extension works with valid numbers; a bad value falls back to its default and is reported (the
// caller logs `problems`) instead of reaching the runtime as a confusing load error.

import * as path from 'node:path';
import * as os from 'node:os';
import * as vscode from 'vscode';
import type { LoadParams } from '../core/protocol/rpc';
import { DEFAULT_CACHE_PRECISION, DEFAULT_THINK, type CachePrecision, type Device, type ThinkSettings } from '../core/protocol/settings';
import { DEFAULT_CONTEXT_TOKENS } from '../core/defaultModel';
import { isModelFileName } from './modelFolder';
import { normalizeEngineUrl } from './remote/openaiClient';

export const SECTION = 'thinkLens';

export interface ThinkLensConfig {
  /** Raw `thinkLens.model`: a model folder, a .gguf file or a Hugging Face repo id ('' = none). */
  model: string;
  device: Device;
  /** `thinkLens.weights`: the load's weight quantization (undefined: the file's weights, in float32). */
  quantize: LoadParams['quantize'];
  /** `thinkLens.cachePrecision`: how the KV cache stores keys and values. */
  cachePrecision: CachePrecision;
  think: Pick<ThinkSettings, 'ratio' | 'window' | 'recent'>;
  memoryBudgetMb: number;
  /** `thinkLens.contextTokens`: the most prompt tokens one request reads (prefill time on a CPU). */
  contextTokens: number;
  maxNewTokens: number;
  temperature: number;
  /** `thinkLens.engine`: 'local' (the bundled runtime) or an OpenAI-compatible API base URL, normalized to end with /v1. */
  engine: 'local' | { url: string };
  /** `thinkLens.remoteModel`: the model id to ask a remote engine for ('' = the first it lists). */
  remoteModel: string;
  /** One line per setting that was invalid and replaced by its default. */
  problems: string[];
}

export const DEFAULTS = {
  device: 'cpu' as Device,
  pruneRatio: DEFAULT_THINK.ratio as number,
  observationWindow: DEFAULT_THINK.window,
  recent: DEFAULT_THINK.recent,
  memoryBudgetMb: 1024,
  contextTokens: DEFAULT_CONTEXT_TOKENS,
  maxNewTokens: 512,
  temperature: 0,
};

const DEVICES: readonly Device[] = ['cpu', 'webgpu', 'cuda'];
const WEIGHTS = ['float32', 'int8', 'int4'] as const;

type Check = (v: number) => boolean;

function num(cfg: vscode.WorkspaceConfiguration, key: string, fallback: number, ok: Check, rule: string, problems: string[]): number {
  const v = cfg.get<unknown>(key);
  if (v === undefined || v === null) return fallback;
  if (typeof v === 'number' && Number.isFinite(v) && ok(v)) return v;
  problems.push(`${SECTION}.${key} = ${JSON.stringify(v)} is invalid (${rule}); using ${fallback}.`);
  return fallback;
}

/** Reads and validates the settings (from `vscode.workspace.getConfiguration`). */
export function readConfig(): ThinkLensConfig {
  const cfg = vscode.workspace.getConfiguration(SECTION);
  const problems: string[] = [];
  const modelRaw = cfg.get<unknown>('model');
  let model = '';
  if (typeof modelRaw === 'string') model = modelRaw.trim();
  else if (modelRaw !== undefined && modelRaw !== null) problems.push(`${SECTION}.model must be a string (a folder path, a .gguf file or a Hub repo id).`);

  const deviceRaw = cfg.get<unknown>('device');
  let device = DEFAULTS.device;
  if (typeof deviceRaw === 'string' && (DEVICES as string[]).includes(deviceRaw)) device = deviceRaw as Device;
  else if (deviceRaw !== undefined && deviceRaw !== null) {
    problems.push(`${SECTION}.device = ${JSON.stringify(deviceRaw)} is invalid (one of ${DEVICES.join(', ')}); using ${DEFAULTS.device}.`);
  }

  const weightsRaw = cfg.get<unknown>('weights');
  let quantize: LoadParams['quantize'];
  if (weightsRaw === 'int8' || weightsRaw === 'int4') quantize = weightsRaw;
  else if (weightsRaw !== undefined && weightsRaw !== null && weightsRaw !== 'float32') {
    problems.push(`${SECTION}.weights = ${JSON.stringify(weightsRaw)} is invalid (one of ${WEIGHTS.join(', ')}); using float32.`);
  }

  const precisionRaw = cfg.get<unknown>('cachePrecision');
  let cachePrecision: CachePrecision = DEFAULT_CACHE_PRECISION;
  if (precisionRaw === 'float16' || precisionRaw === 'float32') cachePrecision = precisionRaw;
  else if (precisionRaw !== undefined && precisionRaw !== null) {
    problems.push(`${SECTION}.cachePrecision = ${JSON.stringify(precisionRaw)} is invalid (float16 or float32); using ${DEFAULT_CACHE_PRECISION}.`);
  }

  const engineRaw = cfg.get<unknown>('engine');
  let engine: ThinkLensConfig['engine'] = 'local';
  if (typeof engineRaw === 'string' && engineRaw.trim() && engineRaw.trim() !== 'local') {
    const url = normalizeEngineUrl(engineRaw);
    if (url) engine = { url };
    else problems.push(`${SECTION}.engine = ${JSON.stringify(engineRaw)} is invalid ('local' or an http(s) URL of an OpenAI-compatible server, e.g. http://host:8000/v1); using local.`);
  } else if (engineRaw !== undefined && engineRaw !== null && typeof engineRaw !== 'string') {
    problems.push(`${SECTION}.engine must be a string ('local' or an http(s) URL); using local.`);
  }
  const remoteModelRaw = cfg.get<unknown>('remoteModel');
  const remoteModel = typeof remoteModelRaw === 'string' ? remoteModelRaw.trim() : '';

  const int = (v: number) => Number.isInteger(v);
  return {
    engine,
    remoteModel,
    model,
    device,
    quantize,
    cachePrecision,
    think: {
      ratio: num(cfg, 'pruneRatio', DEFAULTS.pruneRatio, (v) => v >= 0 && v <= 0.95, 'a fraction in [0, 0.95]', problems),
      window: num(cfg, 'observationWindow', DEFAULTS.observationWindow, (v) => int(v) && v >= 1, 'an integer >= 1', problems),
      recent: num(cfg, 'recent', DEFAULTS.recent, (v) => int(v) && v >= 0, 'an integer >= 0', problems),
    },
    memoryBudgetMb: num(cfg, 'memoryBudgetMb', DEFAULTS.memoryBudgetMb, (v) => v > 0, 'a number of MiB > 0', problems),
    contextTokens: num(cfg, 'contextTokens', DEFAULTS.contextTokens, (v) => int(v) && v >= 256, 'an integer >= 256', problems),
    maxNewTokens: num(cfg, 'maxNewTokens', DEFAULTS.maxNewTokens, (v) => int(v) && v >= 1, 'an integer >= 1', problems),
    temperature: num(cfg, 'temperature', DEFAULTS.temperature, (v) => v >= 0 && v <= 5, 'a number in [0, 5]', problems),
    problems,
  };
}

/** `owner/name` as the Hub spells repo ids (letters, digits, `-`, `_`, `.`; no `--` or `..`). */
const REPO_ID = /^[A-Za-z0-9][\w.-]{0,95}\/[A-Za-z0-9][\w.-]{0,95}$/;

export function isHubRepoId(s: string): boolean {
  return REPO_ID.test(s) && !s.includes('..') && !s.includes('--');
}

/** `dir` is the path the runtime loads: a folder, or for `file` a single GGUF file. */
export type ModelSource =
  | { kind: 'none' }
  | { kind: 'folder'; dir: string }
  | { kind: 'file'; dir: string }
  | { kind: 'hub'; repo: string; dir: string };

/** Where a Hub repo lives once downloaded: one folder per repo under the extension's global storage. */
export function hubModelDir(globalStorage: string, repo: string): string {
  return path.join(globalStorage, 'models', repo.replace('/', '--'));
}

/**
 * Interprets `thinkLens.model`. Absolute paths, `~` and `./` are folders, or files when they name
 * a `.gguf` (or an Ollama blob); `owner/name` is a Hub repo id (downloaded into global storage)
 * unless it ends in `.gguf`; anything else is a path relative to the first workspace folder.
 */
export function resolveModelSource(model: string, globalStorage: string, workspaceRoot?: string): ModelSource {
  if (!model) return { kind: 'none' };
  const local = (dir: string): ModelSource => (isModelFileName(dir) ? { kind: 'file', dir } : { kind: 'folder', dir });
  if (model === '~' || model.startsWith('~/')) return local(path.join(os.homedir(), model.slice(1)));
  if (path.isAbsolute(model)) return local(path.normalize(model));
  if (!model.startsWith('.') && !isModelFileName(model) && isHubRepoId(model)) return { kind: 'hub', repo: model, dir: hubModelDir(globalStorage, model) };
  return local(path.resolve(workspaceRoot ?? process.cwd(), model));
}

/** How a model source is named in the status bar and the chat model picker. */
export function modelLabel(src: ModelSource): string | undefined {
  return src.kind === 'none' ? undefined : src.kind === 'hub' ? src.repo : path.basename(src.dir);
}
