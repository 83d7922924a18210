// Runs one `generate` on the runtime and streams it into an Answer panel: the request's token,
// progress and masks notifications become AnswerInMessages (and feed the Inspector through Ctx),
// and the command's CancellationToken (the panel's Stop button, or a progress notification's
// Cancel) reaches the runtime as a `cancel` request. Shared by Ask About Codebase and Summarize File.

import { randomUUID } from 'node:crypto';
import * as vscode from 'vscode';
import type { GenerateParams, GenerateResult } from '../core/protocol/rpc';
import type { AnswerInMessage } from '../core/protocol/webview';
import type { Ctx, LoadedModel } from './ctx';

/** Where a generation's messages go (an Answer panel, or nowhere for intermediate chunk summaries). */
export type AnswerPost = (message: AnswerInMessage) => void;

const turns = new WeakMap<object, number>();

/** Turn numbers of one Answer panel, shared by every command that writes into it. */
export function nextTurn(panel: object): number {
  const n = (turns.get(panel) ?? 0) + 1;
  turns.set(panel, n);
  return n;
}

export interface StreamOptions {
  ctx: Ctx;
  model: LoadedModel;
  params: Omit<GenerateParams, 'requestId'>;
  post?: AnswerPost;
  token?: vscode.CancellationToken;
  /** Called with the text generated so far, after each token. */
  onText?: (text: string) => void;
  /** Forward progress notifications even when tokens are not posted (intermediate steps). */
  postProgressOnly?: boolean;
}

export async function streamGenerate(o: StreamOptions): Promise<GenerateResult> {
  const requestId = randomUUID();
  const mine = <T extends { requestId: string }>(f: (e: T) => void) => (e: T) => {
    if (e.requestId === requestId) f(e);
  };
  let text = '';
  const subs = [
    o.ctx.onToken(
      mine((e) => {
        text += e.text;
        if (!o.postProgressOnly) o.post?.({ type: 'token', text: e.text });
        o.onText?.(text);
      }),
    ),
    o.ctx.onProgress(mine((e) => o.post?.({ type: 'progress', progress: e }))),
    o.ctx.onMasks(mine((e) => (o.postProgressOnly ? undefined : o.post?.({ type: 'masks', masks: e.masks })))),
  ];
  try {
    const result = await o.ctx.busy(() => o.model.client.request('generate', { ...o.params, requestId }, o.token));
    o.ctx.noteCache(result.cache);
    if (!o.postProgressOnly) o.post?.({ type: 'done', result: { finishReason: result.finishReason, cache: result.cache, timings: result.timings } });
    o.ctx.log.info(
      `generate ${requestId}: ${result.promptTokens} prompt tokens, ${result.ids.length} generated, ${result.finishReason}, ` +
        `prefill ${Math.round(result.timings.prefillTokensPerSec)} tok/s, decode ${result.timings.decodeMsPerToken.toFixed(1)} ms/token`,
    );
    return result;
  } finally {
    for (const s of subs) s.dispose();
  }
}
