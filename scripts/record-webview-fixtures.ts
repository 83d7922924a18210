// Records the protocol message sequences the webview rendering tests replay
// (test/fixtures/webview/{inspector,answer}-session.json) from a real run of the engine on
// stories260k (5 layers x 4 KV heads x head_dim 8) with ThinK on: every progress, masks and token
// notification in the order the engine emitted it, and the final result.
//
//   node --import tsx scripts/record-webview-fixtures.ts
//
// stories260k writes children's stories, not answers about code, so the Answer fixture keeps the
// real notifications but carries a written markdown answer (with citations, a code block and
// links) in its token texts, one piece per recorded token. Needs ../shared/models/stories260k.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Engine } from '../runtime/engine/engine';
import type { GenerateResult, ProgressNotification, ThinkMasks } from '../core/protocol/rpc';
import type { AnswerInMessage, InspectorInMessage } from '../core/protocol/webview';

const root = resolve(__dirname, '..');
const modelDir = resolve(root, '../shared/models/stories260k');
const outDir = resolve(root, 'test/fixtures/webview');

const PROMPT =
  'Once upon a time, there was a little boy named Tim. Tim had a big red ball. He liked to play with his ball in the park every day. ' +
  'One day, Tim saw a small dog near the tree. The dog was sad because it was lost. Tim wanted to help the dog find its home. ' +
  'He took his ball and walked with the dog. They looked under the slide and behind the big bench. ' +
  'Then Tim saw a girl named Sue. Sue was crying because she could not find her dog. ' +
  'When Sue saw the dog, she smiled and ran to hug it. Sue said, "Thank you, Tim!" Tim felt happy. ' +
  'The next day, Tim and Sue played with the ball and the dog in the park. They were good friends.';

const ANSWER = [
  'ThinK prunes **key channels**, not tokens. After prefill, `pruneAfterPrefill` in ',
  '`runtime/think.ts:41` scores every channel of each KV head and keeps the top ones; ',
  'the cache then stores the older tokens with only those channels ',
  '(see runtime/kvcache.ts:88 and [the engine](runtime/engine.ts:162)).\n\n',
  'How the bytes are counted:\n\n',
  '1. pruned tokens: `kept x 4` bytes per layer and head\n',
  '2. full-key tokens: `head_dim x 4` bytes\n',
  '3. values are never pruned\n\n',
  '```ts\nconst keyBytes = pruned * kept * 4 + full * headDim * 4;\n```\n\n',
  'The method is described in the [ThinK paper](https://arxiv.org/abs/2407.21018).',
].join('');

type Event = { kind: 'progress'; p: ProgressNotification } | { kind: 'masks'; m: ThinkMasks } | { kind: 'token'; text: string };

async function main(): Promise<void> {
  if (!existsSync(modelDir)) throw new Error(`record-webview-fixtures: model not found: ${modelDir}`);
  const think = { ratio: [0.25, 0.5, 0.5, 0.625, 0.75], window: 32, recent: 32, flush: 64 };
  const engine = await Engine.load({ modelDir, think, prefillChunk: 64 }, () => {});
  const events: Event[] = [];
  let result: GenerateResult;
  try {
    result = await engine.generate(
      { requestId: 'ask-1', prompt: { text: PROMPT }, maxNewTokens: 48 },
      {
        onToken: (n) => void events.push({ kind: 'token', text: n.text }),
        onProgress: (p) => void events.push({ kind: 'progress', p }),
        onMasks: (m) => void events.push({ kind: 'masks', m: m.masks }),
        isCancelled: () => false,
      },
    );
  } finally {
    await engine.dispose();
  }
  const { device } = engine.loaded;
  // The fixture must not carry this machine's folder layout.
  const model = { ...engine.loaded.model, modelDir: '../shared/models/stories260k' };
  const done = { finishReason: result.finishReason, cache: result.cache, timings: result.timings };

  const inspector: InspectorInMessage[] = [{ type: 'state', state: 'busy', model, device, think, memoryBudgetMb: 1 }];
  for (const e of events) {
    if (e.kind === 'progress') inspector.push({ type: 'progress', progress: e.p });
    else if (e.kind === 'masks') inspector.push({ type: 'masks', masks: e.m });
  }

  // One piece of the written answer per recorded token, cut at word boundaries.
  const tokenCount = events.filter((e) => e.kind === 'token').length;
  const words = ANSWER.split(/(?<=\s)/);
  const pieces = Array.from({ length: tokenCount }, (_, i) => words.slice(Math.floor((i * words.length) / tokenCount), Math.floor(((i + 1) * words.length) / tokenCount)).join(''));
  const answer: AnswerInMessage[] = [
    { type: 'question', question: 'Where is the KV cache pruned, and how are its bytes counted?', turn: 1 },
    { type: 'context', summary: { filesIncluded: 3, filesConsidered: 11, filesSkipped: 2, tokens: result.promptTokens, budgetTokens: 400 } },
  ];
  let piece = 0;
  for (const e of events) {
    if (e.kind === 'progress') answer.push({ type: 'progress', progress: e.p });
    else if (e.kind === 'masks') answer.push({ type: 'masks', masks: e.m });
    else answer.push({ type: 'token', text: pieces[piece++] });
  }
  answer.push({ type: 'done', result: done });

  mkdirSync(outDir, { recursive: true });
  const source = `recorded from runtime/engine/engine.ts on stories260k (think ${JSON.stringify(think)}, prefill chunk 64) by scripts/record-webview-fixtures.ts`;
  writeFileSync(resolve(outDir, 'inspector-session.json'), fixtureJson({ source }, inspector));
  writeFileSync(resolve(outDir, 'answer-session.json'), fixtureJson({ source: `${source}; token texts replaced by a written markdown answer`, answer: ANSWER }, answer));
  console.log(`record-webview-fixtures: ${inspector.length} inspector and ${answer.length} answer messages (${tokenCount} tokens, finish ${result.finishReason})`);
}

/** One message per line: readable diffs when the fixtures are recorded again. */
function fixtureJson(header: Record<string, unknown>, messages: unknown[]): string {
  const head = JSON.stringify(header).slice(0, -1);
  return `${head},"messages":[\n${messages.map((m) => JSON.stringify(m)).join(',\n')}\n]}\n`;
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
