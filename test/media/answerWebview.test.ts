// The Answer webview in real Chromium, driven by a session recorded from the engine
// (test/fixtures/webview/answer-session.json): stats, streamed markdown, citations, the per-head
// mask view, Stop and follow-up messages, and the CSP the page runs under.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { formatBytes, formatPercent } from '../../core/numberFormat';
import type { ThinkMasks } from '../../core/protocol/rpc';
import type { AnswerInMessage } from '../../core/protocol/webview';
import { loadFixture, openWebview, useChromium } from '../support/webviewHarness';

const chromium = useChromium({ before, after });

const fixture = loadFixture<AnswerInMessage>('answer-session');
const session = fixture.messages;
const text = (page: import('playwright-core').Page, sel: string) => page.locator(sel).first().textContent();

test('answer: a recorded session renders its question, markdown, stats and mask view', async (t) => {
  if (typeof chromium.browser === 'string') return t.skip(chromium.browser);
  const view = await openWebview(chromium.browser, chromium.server!, 'answer');
  const { page } = view;

  // Stream the first half, keep a handle on the first paragraph, then stream the rest: the
  // paragraph must be the same node (morphed, not rebuilt), i.e. no flicker while streaming.
  const half = session.findIndex((m, i) => m.type === 'token' && i > session.length / 2);
  await view.dispatch(session.slice(0, half));
  assert.equal(await page.locator('#stop').isEnabled(), true, 'Stop is live while answering');
  await page.evaluate(() => ((window as unknown as { __p: Element | null }).__p = document.querySelector('.answer p')));
  await view.dispatch(session.slice(half));
  assert.equal(await page.evaluate(() => document.querySelector('.answer p') === (window as unknown as { __p: Element | null }).__p), true, 'first paragraph kept its node');

  const question = session.find((m) => m.type === 'question') as Extract<AnswerInMessage, { type: 'question' }>;
  assert.equal(await text(page, 'h2.question'), question.question);

  const ctx = (session.find((m) => m.type === 'context') as Extract<AnswerInMessage, { type: 'context' }>).summary;
  assert.equal(await text(page, '[data-stat="context"]'), `${ctx.filesIncluded} of ${ctx.filesConsidered} files, ${ctx.tokens} tokens, budget ${ctx.budgetTokens}`);
  assert.equal(await text(page, '[data-stat="skipped"]'), `${ctx.filesSkipped} files skipped (binary, too large, generated or excluded)`);

  const done = session[session.length - 1] as Extract<AnswerInMessage, { type: 'done' }>;
  const c = done.result.cache;
  assert.equal(await text(page, '[data-stat="cache-size"]'), `${formatBytes(c.keyBytes + c.valueBytes)} of ${formatBytes(c.fullKeyBytes + c.valueBytes)} unpruned`);
  assert.equal(await text(page, '[data-stat="cache-keys"]'), `${formatBytes(c.keyBytes)} of ${formatBytes(c.fullKeyBytes)} unpruned`);
  assert.equal(await text(page, '[data-stat="cache-tokens"]'), `${c.tokens} (${c.prunedTokens} pruned, ${c.fullTokens} full)`);
  assert.equal(await text(page, '[data-stat="prune-ratio"]'), formatPercent(c.pruneRatio));
  assert.ok(c.keyBytes < c.fullKeyBytes, 'the recorded cache is pruned');

  // Compact mask view: one cell per layer x KV head, carrying the kept count.
  const masks = (session.find((m) => m.type === 'masks') as { masks: ThinkMasks }).masks;
  const cells = page.locator('#mask-view .heatmap .cell');
  assert.equal(await cells.count(), masks.layers.length * masks.layers[0].length);
  assert.equal(await cells.count(), 20, '5 layers x 4 KV heads');
  const kept = await cells.evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-kept'))));
  assert.deepEqual(kept, masks.layers.flatMap((l) => l.map((h) => h.kept.length)));
  // The shade follows the kept fraction: layer 0 (6 of 8 kept) differs from layer 4 (2 of 8).
  const bg = (sel: string) => page.locator(sel).evaluate((e) => getComputedStyle(e).backgroundColor);
  assert.notEqual(await bg('#mask-view .cell[data-layer="0"][data-head="0"]'), await bg('#mask-view .cell[data-layer="4"][data-head="0"]'));

  // Markdown: list, fenced code, external link; citations in text, in a code span and as a link target.
  assert.equal(await page.locator('.answer ol > li').count(), 3);
  assert.equal(await page.locator('.answer ol').getAttribute('start'), null, 'a list written from 1 starts at 1');
  assert.match((await text(page, '.answer pre code')) ?? '', /const keyBytes = pruned \* kept \* 4/);
  assert.equal(await page.locator('.answer a.external').getAttribute('href'), 'https://arxiv.org/abs/2407.21018');
  const citations = await page.locator('.answer a.citation').evaluateAll((els) => els.map((e) => [e.getAttribute('data-path'), e.getAttribute('data-line'), e.parentElement?.tagName]));
  assert.deepEqual(citations, [
    ['runtime/think.ts', '41', 'CODE'],
    ['runtime/kvcache.ts', '88', 'P'],
    ['runtime/engine.ts', '162', 'P'],
  ]);

  await page.locator('.answer a.citation', { hasText: 'runtime/kvcache.ts:88' }).click();
  await page.locator('.answer a.citation', { hasText: 'the engine' }).click();
  const posted = await view.posted();
  assert.deepEqual(posted.filter((m) => m.type === 'openCitation'), [
    { type: 'openCitation', path: 'runtime/kvcache.ts', line: 88 },
    { type: 'openCitation', path: 'runtime/engine.ts', line: 162 },
  ]);
  assert.equal(page.url().endsWith('/view/answer'), true, 'a citation click does not navigate');

  assert.equal(await text(page, '#status'), 'Done.');
  assert.match((await text(page, '.turn-footer')) ?? '', /^stopped at the token limit · prefill \d/);
  assert.equal(await page.locator('#stop').isEnabled(), false, 'Stop is off once done');
  assert.deepEqual(view.errors, []);
  assert.deepEqual(view.cspViolations, [], 'the page itself needs nothing the CSP forbids');
  await view.screenshot('answer');
  await page.close();
});

test('answer: Stop posts stop once, and a cancelled answer reads Stopped', async (t) => {
  if (typeof chromium.browser === 'string') return t.skip(chromium.browser);
  const view = await openWebview(chromium.browser, chromium.server!, 'answer');
  const prefill = session.filter((m) => m.type === 'progress' && m.progress.phase === 'prefill');
  await view.dispatch([session[0], session[1], ...prefill.slice(0, 2)]);
  const p = (prefill[1] as Extract<AnswerInMessage, { type: 'progress' }>).progress;
  assert.match((await text(view.page, '#status')) ?? '', new RegExp(`^Reading the prompt: ${p.processed} of ${p.total} tokens, [\\d.,]+ tok/s$`));
  await view.dispatch([{ type: 'token', text: 'Partial answer' }]);
  await view.page.locator('#stop').click();
  assert.equal(await view.page.locator('#stop').isEnabled(), false, 'disabled after one click');
  assert.deepEqual((await view.posted()).filter((m) => m.type !== 'ready'), [{ type: 'stop' }]);
  await view.dispatch([{ type: 'done', result: { ...(session[session.length - 1] as Extract<AnswerInMessage, { type: 'done' }>).result, finishReason: 'cancelled' } }]);
  assert.equal(await text(view.page, '#status'), 'Stopped.');
  assert.equal(await text(view.page, '.answer'), 'Partial answer');
  await view.page.close();
});

test('answer: the follow-up box posts ask (trimmed, not while answering), and a second turn renders below', async (t) => {
  if (typeof chromium.browser === 'string') return t.skip(chromium.browser);
  const view = await openWebview(chromium.browser, chromium.server!, 'answer');
  const { page } = view;
  await view.dispatch([session[0], { type: 'token', text: 'first' }]);
  await page.locator('#followup').fill('too early');
  await page.locator('#followup').press('Enter');
  assert.deepEqual((await view.posted()).filter((m) => m.type === 'ask'), [], 'no ask while the answer runs');
  await view.dispatch([session[session.length - 1]]);
  await page.locator('#followup').fill('   ');
  await page.locator('#ask').click();
  await page.locator('#followup').fill('  And where are values stored?  ');
  await page.locator('#followup').press('Enter');
  assert.deepEqual((await view.posted()).filter((m) => m.type === 'ask'), [{ type: 'ask', question: 'And where are values stored?' }]);
  assert.equal(await page.locator('#followup').inputValue(), '');
  await view.dispatch([{ type: 'question', question: 'And where are values stored?', turn: 2 }, { type: 'token', text: 'In `v.l.h`.' }]);
  assert.deepEqual(await page.locator('h2.question').allTextContents(), [(session[0] as { question: string }).question, 'And where are values stored?']);
  assert.equal(await page.locator('.answer').nth(1).textContent(), 'In v.l.h.');
  // A new Ask (turn 1) replaces the transcript.
  await view.dispatch([{ type: 'question', question: 'Unrelated', turn: 1 }, { type: 'token', text: 'fresh' }]);
  assert.deepEqual(await page.locator('h2.question').allTextContents(), ['Unrelated']);
  assert.deepEqual(await page.locator('.answer').allTextContents(), ['fresh']);
  await page.close();
});

test('answer: the page carries the CSP with this load\'s nonce, and the CSP is enforced', async (t) => {
  if (typeof chromium.browser === 'string') return t.skip(chromium.browser);
  const view = await openWebview(chromium.browser, chromium.server!, 'answer');
  const { page } = view;
  const nonce = chromium.server!.lastNonce.answer!;
  const csp = await page.locator('meta[http-equiv="Content-Security-Policy"]').getAttribute('content');
  assert.equal(csp, `default-src 'none'; script-src 'nonce-${nonce}'; style-src ${chromium.server!.origin} 'nonce-${nonce}'; img-src ${chromium.server!.origin} data:`);
  // Every script carries the nonce (the property: browsers hide the attribute value from the DOM).
  assert.deepEqual(await page.locator('script').evaluateAll((els) => els.map((e) => (e as HTMLScriptElement).nonce !== '')), [true, true]);
  // Markup inserted by other means than the webview's own code cannot run script here.
  await page.evaluate(() => document.body.insertAdjacentHTML('beforeend', '<img src="data:," onerror="window.__cspFlag=1"><div id="probe"></div>'));
  await page.evaluate(() => {
    const s = document.createElement('script');
    s.textContent = 'window.__cspFlag = 2';
    document.body.append(s);
  });
  await view.settle();
  assert.equal(await page.evaluate(() => (window as unknown as { __cspFlag?: number }).__cspFlag), undefined);
  assert.ok(view.cspViolations.length >= 1, 'chromium reported the blocked inline code');
  await page.reload();
  await page.waitForFunction(() => (window as unknown as { __posted: unknown[] }).__posted.length > 0);
  assert.notEqual(chromium.server!.lastNonce.answer, nonce, 'a reload gets a new nonce');
  await page.close();
});
