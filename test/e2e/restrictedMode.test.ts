// Restricted Mode: code-server started WITHOUT --disable-workspace-trust on a fresh copy of the
// fixture, which this user data has never trusted. The commands must explain why they cannot run
// and must not read the workspace: no runtime process starts and no answer is produced.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { openSession, skipReason, type Session } from './harness/session';

const reason = skipReason();

describe('ThinK Lens in Restricted Mode (untrusted workspace)', { skip: reason }, () => {
  let s: Session;
  const log = (m: string) => console.log(`  [e2e] ${m}`);

  before(async () => {
    s = await openSession({ label: 'restricted', trusted: false, log });
  }, { timeout: 600_000 });

  after(async () => {
    await s?.close();
  });

  test('the workspace really is in Restricted Mode', { timeout: 60_000 }, async () => {
    const wb = s.workbench;
    await wb.page.locator('.statusbar-item', { hasText: 'Restricted Mode' }).first().waitFor({ timeout: 30_000 });
    await wb.screenshot('10-restricted-mode');
  });

  for (const [title, step] of [
    ['ThinK Lens: Ask About Codebase', '11-restricted-ask'],
    ['ThinK Lens: Summarize File', '12-restricted-summarize'],
  ] as const) {
    test(`${title} explains that the workspace is not trusted and reads nothing`, { timeout: 120_000 }, async () => {
      const wb = s.workbench;
      if (title.endsWith('Summarize File')) await wb.openFile('src/parse.ts');
      await wb.runCommand(title);
      // If the command still asks for a question, give it one: it must refuse after that.
      const asked = await wb.page.locator('.quick-input-widget input').first().isVisible().catch(() => false);
      if (asked && title.endsWith('Ask About Codebase')) await wb.answerInput('What does parse do?');
      const message = await wb.waitForNotification(/trust|restricted/i, 30_000);
      await wb.screenshot(step);
      log(`${title}: ${message.replace(/\s+/g, ' ')}`);
      assert.match(message, /Restricted Mode/, 'the explanation does not mention Restricted Mode');
      assert.deepEqual(s.server.runtimePids(), [], 'a runtime process was started in Restricted Mode');
      // No answer panel received workspace content.
      for (const outer of await wb.page.locator('iframe.webview.ready').elementHandles()) {
        const frame = await (await (await outer.contentFrame())?.$('#active-frame'))?.contentFrame();
        const answers = frame ? await frame.locator('#transcript .answer').allInnerTexts() : [];
        assert.deepEqual(answers.filter((t) => t.trim()), [], 'an answer was produced in Restricted Mode');
      }
      await wb.page.keyboard.press('Escape');
    });
  }
});
