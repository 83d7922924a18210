// `think-lens ask`: the main job from the command line. Reads a repository (.gitignore respected,
// binaries and huge files skipped), ranks its files against the question, packs as many as the
// memory budget allows into one prompt, and streams the answer; then prints the cache figures and
// a per-head summary of what ThinK kept. The model is a local folder (--model), or a Hub repo
// downloaded once into the user cache; offline, it falls back to a model found at hand.
import { DEFAULT_COMPRESSION } from '../../core/protocol/settings';
import { describeCacheVsF16 } from '../../core/cacheFigures';
import { existsSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { firstTurnMessages, overheadText, TEMPLATE_OVERHEAD_TOKENS } from '../../core/context/prompt';
import { tokenBudget } from '../../core/context/budget';
import { packFiles } from '../../core/context/pack';
import type { GenerateResult, LoadResult, ThinkMasks } from '../../core/protocol/rpc';
import { rankFiles } from '../../core/context/rank';
import { scanWorkspace } from '../../core/context/scan';
import { cachePrecisionFlag, deviceFlag, modelFlag, num, parse, UsageError, type CliIo } from './args';
import { EngineHost } from '../host/engineHost';
import { downloadModel, HubOfflineError } from '../../core/hub';
import { DEFAULT_CONTEXT_TOKENS, DEFAULT_HUB_MODEL } from '../../core/defaultModel';
import { formatBytes } from '../../core/numberFormat';

export { DEFAULT_HUB_MODEL };
/**
 * What is at hand when the Hub is not: the workplace's shared real model, beside the checkout.
 * Found from the package root (the nearest folder with a package.json), which is two levels above
 * runtime/cli/ in a source tree and one above dist/ in the bundle.
 */
const AT_HAND = resolve(packageRoot(__dirname), '../shared/models/stories260k');

function packageRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) return from;
  }
}

export const ASK_USAGE = `  think-lens ask --question TEXT [--repo DIR] [--model DIR|FILE.gguf | --hub REPO] [--memory-budget-mb M]
                 [--context-tokens N (default: ${DEFAULT_CONTEXT_TOKENS})] [--max-new-tokens N (default: min(200, context/4))]
                 [--prune-ratio R] [--kv-bits 2|4] [--cache-precision float16|float32] [--device cpu|webgpu|cuda]`;

export async function ask(args: string[], io: CliIo): Promise<number> {
  const { values: v } = parse(args, {
    question: { type: 'string' },
    repo: { type: 'string' },
    model: { type: 'string' },
    hub: { type: 'string' },
    'memory-budget-mb': { type: 'string' },
    'max-new-tokens': { type: 'string' },
    'context-tokens': { type: 'string' },
    'prune-ratio': { type: 'string' },
    'kv-bits': { type: 'string' },
    'cache-precision': { type: 'string' },
    device: { type: 'string' },
  });
  if (!v.question) throw new UsageError('ask needs --question TEXT');
  if (v.model && v.hub) throw new UsageError('give --model DIR or --hub REPO, not both');
  const repo = resolve(v.repo ?? '.');
  if (!existsSync(repo) || !statSync(repo).isDirectory()) throw new Error(`${repo}: repository folder not found`);
  const memoryBudgetMb = num('memory-budget-mb', v['memory-budget-mb'], { min: 1 }) ?? 256;
  const maxNewFlag = num('max-new-tokens', v['max-new-tokens'], { int: true, min: 1 });
  const contextTokens = num('context-tokens', v['context-tokens'], { int: true, min: 1 }) ?? DEFAULT_CONTEXT_TOKENS;
  const ratio = num('prune-ratio', v['prune-ratio'], { min: 0, max: 0.99 });
  const device = deviceFlag(v.device);
  const kvBits = num('kv-bits', v['kv-bits'], { int: true, min: 2, max: 4 });
  if (kvBits === 3) throw new UsageError('--kv-bits must be 2 or 4 (got "3")');
  const cachePrecision = cachePrecisionFlag(v['cache-precision']);

  const modelDir = v.model ? modelFlag(v.model, 'ask') : await hubModel(v.hub ?? DEFAULT_HUB_MODEL, io.stderr);
  const host = new EngineHost({ onToken: (n) => io.stdout.write(n.text), onLog: (level, m) => level !== 'info' && io.stderr.write(`[${level}] ${m}\n`) });
  try {
    const loaded = await host.load({
      modelDir,
      device,
      think: ratio === undefined ? undefined : { ratio },
      ...(kvBits ? { compression: { kvBits: kvBits as 2 | 4 } } : {}),
      ...(cachePrecision ? { cachePrecision } : {}),
    });
    // A small model's context is mostly for the files: by default the answer gets at most a quarter.
    const maxNewTokens = maxNewFlag ?? Math.min(200, Math.floor(loaded.model.contextLength / 4));
    const count = (texts: string[]) => host.countTokens(texts);
    const [overhead] = await count([overheadText(v.question)]);
    const budget = tokenBudget({
      memoryBudgetMb,
      model: loaded.model,
      think: loaded.think,
      ...(kvBits ? { compression: { ...DEFAULT_COMPRESSION, kvBits: kvBits as 2 | 4 } } : {}),
      answerTokens: maxNewTokens,
      overheadTokens: overhead + TEMPLATE_OVERHEAD_TOKENS,
      maxPromptTokens: contextTokens,
    });
    if (budget.tokens < 1) throw new Error(`no room for any file: the model's ${loaded.model.contextLength}-token context and ${maxNewTokens} answer tokens leave none (try --max-new-tokens)`);
    const scan = await scanWorkspace(repo);
    const ranked = rankFiles(scan.files, v.question).map((r) => r.file);
    const packed = await packFiles(ranked, { budgetTokens: budget.tokens, count, skippedBeforeRanking: scan.filesSkipped });
    const s = packed.summary;
    io.stderr.write(`model ${modelDir} (${loaded.model.architecture}, ${loaded.device})\n`);
    io.stderr.write(`context: ${s.filesIncluded} of ${s.filesConsidered} files, ${s.tokens} tokens, budget ${s.budgetTokens} (${budget.limitedBy}-limited, ${formatBytes(memoryBudgetMb * 2 ** 20)})\n`);
    io.stderr.write(
      packed.included.length
        ? `files: ${packed.included.slice(0, 8).join(', ')}${packed.included.length > 8 ? ', ...' : ''}${packed.truncated ? ` (${packed.truncated.path}: first ${packed.truncated.linesKept} of ${packed.truncated.linesTotal} lines)` : ''}\n\n`
        : `files: none fit the ${s.budgetTokens}-token budget (the model's context is ${loaded.model.contextLength} tokens); answering from the question alone\n\n`,
    );
    const r = await host.generate({ requestId: 'ask', prompt: { messages: firstTurnMessages(packed.prompt, v.question) }, maxNewTokens, sampling: {} });
    io.stdout.write('\n\n');
    const stats = await host.stats();
    io.stdout.write(`${cacheReport(r, loaded)}\n${maskSummary(stats.masks)}\n`);
    return 0;
  } finally {
    await host.dispose();
  }
}

/** The Hub repo in the user cache (downloaded once, verified); offline, what is at hand. */
async function hubModel(repo: string, log: CliIo['stderr']): Promise<string> {
  const dir = join(process.env.THINK_LENS_CACHE ?? join(homedir(), '.cache', 'think-lens'), 'models', repo.replace('/', '--'));
  try {
    let last = 0;
    await downloadModel({
      repo,
      outDir: dir,
      onProgress: (p) => {
        if (Date.now() - last > 1000) log.write(`downloading ${repo}: ${formatBytes(p.bytes)} of ${formatBytes(p.total)}\n`);
        last = Date.now();
      },
    });
    return dir;
  } catch (e) {
    if (!(e instanceof HubOfflineError)) throw e;
    if (existsSync(join(dir, 'config.json'))) return dir;
    if (!existsSync(AT_HAND)) throw new Error(`${e.message}; pass --model DIR with a local model folder`);
    log.write(`the Hub cannot be reached; using the model at hand: ${AT_HAND} (a tiny story model, so expect a story, not an answer)\n`);
    return AT_HAND;
  }
}

function cacheReport(r: GenerateResult, loaded: LoadResult): string {
  const c = r.cache;
  return [
    `cache: ${c.tokens} tokens (${c.prunedTokens} pruned, ${c.fullTokens} full-key); keys ${formatBytes(c.keyBytes)} of ${formatBytes(c.fullKeyBytes)} unpruned ` +
      `(${((1 - c.keyBytes / Math.max(1, c.fullKeyBytes)) * 100).toFixed(0)}% saved), values ${formatBytes(c.valueBytes)}, stored as ${c.bytesPerElement === 2 ? 'float16' : 'float32'}`,
    `cache size: ${describeCacheVsF16(c)}`,
    `ThinK: ratio ${c.pruneRatio.toFixed(2)}, window ${loaded.think.window}, recent ${loaded.think.recent}, flush ${loaded.think.flush}; ` +
      `prefill ${r.timings.prefillTokensPerSec.toFixed(0)} tok/s, decode ${r.timings.decodeMsPerToken.toFixed(1)} ms/token, ${r.finishReason}`,
  ].join('\n');
}

/** Per layer: kept channels of each KV head, e.g. "L0  h0 4/8 [0,2,5,7]  h1 4/8 [1,2,3,6]". */
export function maskSummary(masks: ThinkMasks | undefined): string {
  if (!masks) return 'masks: none (the prompt was shorter than the recent window, or the ratio is 0)';
  const lines = masks.layers.map((heads, l) => {
    const cells = heads.map((h, g) => {
      const list = h.kept.length <= 12 ? `[${h.kept.join(',')}]` : `[${h.kept.slice(0, 10).join(',')},...]`;
      return `h${g} ${h.kept.length}/${masks.headDim} ${list}`;
    });
    return `L${l}  ${cells.join('  ')}`;
  });
  return `masks (kept key channels per layer and KV head):\n${lines.join('\n')}`;
}
