// ThinK Lens in VS Code's chat model picker (the Language Model Chat Provider API, VS Code 1.104+):
// one model, the configured one. Its requests run through the same path as the Answer panel
// (Ctx.ensureModel, then src/answerStream.ts's streamGenerate), so the Cache Inspector follows them
// as it follows Ask About Codebase: Ctx forwards every request's progress and masks notifications.
// Tokens stream as LanguageModelTextParts; the request's CancellationToken becomes the runtime's
// `cancel`; token counts are the runtime's own tokenizer (`countTokens`).
//
// The picker may ask for the model list before anything is loaded. Then the entry is named from
// the model setting and its input limit is the prompt cap (thinkLens.contextTokens); once the model
// is loaded (by any command or request) the list changes, and the limit is what the model's context
// and the memory budget allow (core/context/budget.ts, the bound Ask About Codebase packs to).

import * as path from 'node:path';
import * as vscode from 'vscode';
import { tokenBudget } from '../../core/context/budget';
import type { ChatMessage, LoadResult } from '../../core/protocol/rpc';
import { streamGenerate } from '../answerStream';
import { modelLabel } from '../config';
import { NoModelError, type Ctx } from '../ctx';
import {
  languageModelProviderApi,
  messageText,
  type LanguageModelChatInformation,
  type LanguageModelChatProvider,
  type LanguageModelChatRequestMessage,
  type ProvideLanguageModelChatResponseOptions,
} from './lmApi';

/** `contributes.languageModelChatProviders[].vendor` in package.json. */
export const VENDOR = 'thinklens';

/** `vscode.LanguageModelChatMessageRole` values (User 1, Assistant 2; 3 is the proposed System role). */
const ROLES: Record<number, ChatMessage['role']> = { 1: 'user', 2: 'assistant', 3: 'system' };

/** The chat messages as the runtime's chat template takes them: text only, consecutive turns of one role joined. */
export function toRuntimeMessages(messages: readonly LanguageModelChatRequestMessage[]): ChatMessage[] {
  const out: ChatMessage[] = [];
  for (const m of messages) {
    const role = ROLES[m.role] ?? 'user';
    const content = messageText(m.content);
    if (!content) continue;
    const last = out.at(-1);
    if (last && last.role === role) last.content += `\n\n${content}`;
    else out.push({ role, content });
  }
  return out;
}

export class ThinkLensChatProvider implements LanguageModelChatProvider, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<void>();
  private listed = '';
  private readonly subs: vscode.Disposable[];
  readonly onDidChangeLanguageModelChatInformation = this.changed.event;

  constructor(private readonly ctx: Ctx) {
    // The runtime fires often (every progress); the picker hears only when the entry would change.
    this.subs = [ctx.onDidChangeRuntime(() => this.refresh())];
  }

  private refresh(): void {
    const key = JSON.stringify(this.entries());
    if (key !== this.listed) {
      this.listed = key;
      this.changed.fire();
    }
  }

  /** The model entry for the configured model (none without one). */
  entries(): LanguageModelChatInformation[] {
    const { engine } = this.ctx.config;
    // A remote engine answers every request (ctx.ensureModel), whatever thinkLens.model says.
    if (engine !== 'local') {
      const label = this.ctx.remoteEngine?.model ?? (this.ctx.config.remoteModel || new URL(engine.url).host);
      return [
        {
          id: label,
          name: label,
          family: 'remote',
          version: 'remote',
          detail: `ThinK Lens, remote: ${engine.url}`,
          tooltip: `${label} on ${engine.url}`,
          maxInputTokens: this.ctx.config.contextTokens,
          maxOutputTokens: this.ctx.config.maxNewTokens,
          capabilities: { imageInput: false, toolCalling: false },
        },
      ];
    }
    const src = this.ctx.modelSource();
    if (src.kind === 'none') return [];
    const label = modelLabel(src)!;
    const { config } = this.ctx;
    const load = this.ctx.loadedModel;
    const loadedHere = load && path.resolve(load.model.modelDir) === path.resolve(src.dir) ? load : undefined;
    return [
      {
        id: label,
        name: label,
        family: loadedHere?.model.architecture ?? 'thinklens',
        version: loadedHere ? (loadedHere.model.quantize ?? loadedHere.model.dtype) : 'not loaded',
        detail: loadedHere ? `ThinK Lens, ${loadedHere.device}` : 'ThinK Lens',
        tooltip: loadedHere ? describe(loadedHere) : `${label}: loads on the first request`,
        maxInputTokens: loadedHere ? inputTokens(loadedHere, this.ctx) : config.contextTokens,
        maxOutputTokens: config.maxNewTokens,
        capabilities: { imageInput: false, toolCalling: false },
      },
    ];
  }

  provideLanguageModelChatInformation(_options?: { readonly silent: boolean }, _token?: vscode.CancellationToken): LanguageModelChatInformation[] {
    const list = this.entries();
    this.listed = JSON.stringify(list);
    return list;
  }

  async provideLanguageModelChatResponse(
    _model: LanguageModelChatInformation,
    messages: readonly LanguageModelChatRequestMessage[],
    options: ProvideLanguageModelChatResponseOptions,
    progress: vscode.Progress<vscode.LanguageModelTextPart>,
    token: vscode.CancellationToken,
  ): Promise<void> {
    const prompt = toRuntimeMessages(messages);
    if (!prompt.length) throw new Error('ThinK Lens: the request has no text to answer.');
    const loaded = await this.load(token);
    if (token.isCancellationRequested) return;
    const { config } = this.ctx;
    const temperature = options.modelOptions?.temperature;
    let sent = 0;
    try {
      await streamGenerate({
        ctx: this.ctx,
        model: loaded,
        params: {
          prompt: { messages: prompt },
          cache: 'reset',
          maxNewTokens: config.maxNewTokens,
          sampling: { temperature: typeof temperature === 'number' ? temperature : config.temperature },
          memoryBudgetMb: config.memoryBudgetMb,
        },
        token,
        onText: (text) => {
          if (text.length > sent) progress.report(new vscode.LanguageModelTextPart(text.slice(sent)));
          sent = text.length;
        },
      });
    } catch (e) {
      // A cancelled request ends quietly; VS Code knows it cancelled it.
      if (token.isCancellationRequested || e instanceof vscode.CancellationError) return;
      this.ctx.log.error(`chat model request: ${e instanceof Error ? e.message : String(e)}`);
      throw e;
    }
  }

  async provideTokenCount(_model: LanguageModelChatInformation, text: string | LanguageModelChatRequestMessage, token: vscode.CancellationToken): Promise<number> {
    const s = typeof text === 'string' ? text : messageText(text.content);
    if (!s) return 0;
    const { client } = await this.load(token);
    const { counts } = await client.request('countTokens', { texts: [s] }, token);
    return counts[0];
  }

  private async load(token: vscode.CancellationToken) {
    try {
      return await this.ctx.ensureModel(token);
    } catch (e) {
      // The chat view shows the error; the notification offers the fix (Select / Download Model).
      if (e instanceof NoModelError) void this.ctx.offerModel(e);
      throw e;
    }
  }

  dispose(): void {
    for (const s of this.subs.splice(0)) s.dispose();
    this.changed.dispose();
  }
}

/** Prompt tokens the model takes: its context less the answer, within the memory budget and the prompt cap. */
function inputTokens(load: LoadResult, ctx: Ctx): number {
  const { config } = ctx;
  try {
    return tokenBudget({
      memoryBudgetMb: config.memoryBudgetMb,
      model: load.model,
      think: load.think,
      answerTokens: config.maxNewTokens,
      maxPromptTokens: config.contextTokens,
    }).promptTokens;
  } catch (e) {
    ctx.log.warn(`chat model: no token budget (${(e as Error).message}); listing the prompt cap`);
    return config.contextTokens;
  }
}

function describe(load: LoadResult): string {
  const m = load.model;
  return `${m.architecture}, ${m.layers} layers, ${m.contextLength}-token context, ${m.quantize ?? m.dtype} weights on ${load.device}; ThinK prune ratio ${load.think.ratio}`;
}

/** Registers the provider where VS Code has the API (1.104+); undefined (nothing registered) elsewhere. */
export function registerChatModelProvider(ctx: Ctx): vscode.Disposable | undefined {
  const register = languageModelProviderApi();
  if (!register) {
    ctx.log.info('chat model provider: not registered (this VS Code has no vscode.lm.registerLanguageModelChatProvider; it needs 1.104 or later)');
    return undefined;
  }
  const provider = new ThinkLensChatProvider(ctx);
  try {
    return vscode.Disposable.from(register(VENDOR, provider), provider);
  } catch (e) {
    provider.dispose();
    ctx.log.warn(`chat model provider: not registered: ${(e as Error).message}`);
    return undefined;
  }
}
