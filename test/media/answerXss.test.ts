// Model output must never become markup or script in the Answer panel. Every payload in
// test/fixtures/webview/answer-xss.json would set window.__xss or open a dialog if it ran; the
// panel renders them in real Chromium and each must stay inert text.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { AnswerInMessage } from '../../core/protocol/webview';
import { loadFixture, openWebview, useChromium } from '../support/webviewHarness';

const chromium = useChromium({ before, after });

const { messages } = loadFixture<AnswerInMessage>('answer-xss');

test('answer: XSS payloads streamed as the answer, the question and an error stay inert', async (t) => {
  if (typeof chromium.browser === 'string') return t.skip(chromium.browser);
  const view = await openWebview(chromium.browser, chromium.server!, 'answer');
  const { page } = view;
  const scriptsBefore = await page.locator('script').count();
  await view.dispatch(messages);
  await page.waitForTimeout(0); // a broken image's onerror would fire on the next task at the latest
  await view.settle();

  assert.equal(await page.evaluate(() => (window as unknown as { __xss?: unknown }).__xss), undefined, 'no payload ran');
  assert.deepEqual(view.dialogs, [], 'no dialog opened');
  assert.deepEqual(view.errors, []);
  assert.equal(await page.locator('script').count(), scriptsBefore, 'no script element added');
  const injected = await page.locator('#transcript').evaluate((root) =>
    Array.from(root.querySelectorAll('img, script, iframe, svg, style, object, embed, form, input, link, meta, base, [style], [onerror], [onload], [onclick]')).map((e) => e.outerHTML),
  );
  assert.deepEqual(injected, [], 'no element from the payloads');
  assert.equal(await page.locator('body').isVisible(), true, 'a <style> payload did not hide the page');

  // Every link left is a citation or an absolute http(s) URL.
  const links = await page.locator('#transcript a').evaluateAll((els) => els.map((e) => [e.className, e.getAttribute('href'), e.textContent]));
  assert.deepEqual(links, [['citation', '#', 'src/a.ts:42']]);

  // The payloads are shown as the text they are.
  const answer = (await page.locator('.answer').first().textContent()) ?? '';
  for (const literal of [
    `<img src=x onerror="window.__xss='img';alert('img')">`,
    `<script>window.__xss='script';alert('script')</script>`,
    `<a href="javascript:window.__xss='a'">raw anchor</a>`,
    `<img src=x onerror=window.__xss='entity-img'>`, // &lt;...&gt; decoded to text
    '&lt;b&gt;', // &amp;lt; decoded once, shown literally
    `<img src=x onerror=window.__xss='code'>`, // code span
    `<script>window.__xss='fence'</script>`, // fenced block
    '[pic]', // an image becomes its alt text
  ]) {
    assert.ok(answer.includes(literal), `shown as text: ${literal}`);
  }
  for (const label of ['click me', 'upper', 'entity link', 'hex', 'data', 'vb', 'file', 'cmd']) {
    assert.ok(answer.includes(label), `a refused link keeps its text: ${label}`);
  }
  assert.equal(await page.locator('h2.question').first().textContent(), `<img src=x onerror="window.__xss='question'"> what does <b>this</b> do?`);
  assert.match((await page.locator('.turn-footer .error').textContent()) ?? '', /^runtime said: <img src=x onerror=/);

  // Refused links stay literal markdown text; clicking them does nothing at all.
  assert.ok(answer.includes(`[click me](javascript:window.__xss='mdlink')`));
  await page.locator('.answer p', { hasText: 'click me' }).click();
  await page.locator('.answer p', { hasText: 'entity link' }).click();
  await view.settle();
  assert.equal(await page.evaluate(() => (window as unknown as { __xss?: unknown }).__xss), undefined);
  assert.deepEqual((await view.posted()).map((m) => m.type), ['ready']);
  assert.equal(page.url(), `${chromium.server!.origin}/view/answer`);
  await view.screenshot('answer-xss');
  await page.close();
});
