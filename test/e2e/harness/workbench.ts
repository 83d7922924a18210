// Drives the VS Code workbench that code-server serves, in Debian's chromium through
// playwright-core: open the folder, run commands from the palette, answer input boxes, read
// notifications, reach into webviews and save screenshots.

import { mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { chromium, type Browser, type Frame, type Page } from 'playwright-core';
import { artifactsDir } from './environment';

export class Workbench {
  private constructor(
    private readonly browser: Browser,
    readonly page: Page,
  ) {}

  static async open(chromiumPath: string, url: string): Promise<Workbench> {
    const browser = await chromium.launch({
      executablePath: chromiumPath,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    await page.goto(url);
    await page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: 90_000 });
    // The explorer shows the folder once the workbench has restored it.
    await page.locator('.explorer-folders-view .monaco-list-row').first().waitFor({ timeout: 60_000 });
    return new Workbench(browser, page);
  }

  async close(): Promise<void> {
    await this.browser.close();
  }

  async screenshot(name: string): Promise<string> {
    mkdirSync(artifactsDir, { recursive: true });
    const file = path.join(artifactsDir, `${name}.png`);
    await this.page.screenshot({ path: file });
    return file;
  }

  private quickInput() {
    return this.page.locator('.quick-input-widget');
  }

  /**
   * Opens the palette with focus taken back from any webview (keys typed there stay there). A key
   * pressed while the workbench is busy (an editor just opening) can be dropped, so F1 is pressed
   * again, up to three times, until the palette shows.
   */
  private async openPalette(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      await this.page.evaluate('document.activeElement instanceof HTMLElement && document.activeElement.blur()');
      await this.page.keyboard.press('Escape');
      // F1 is the palette's own binding and, unlike Ctrl+Shift+P, never reaches the browser.
      await this.page.keyboard.press('F1');
      try {
        await this.quickInput().waitFor({ state: 'visible', timeout: 5_000 });
        return;
      } catch (err) {
        if (attempt === 3) throw err;
      }
    }
  }

  /**
   * Runs a command by its palette title ("ThinK Lens: Ask About Codebase"). Right after the
   * workbench appears, extensions' commands may not be registered yet: the palette is reopened
   * until the command shows up.
   */
  async runCommand(title: string, timeoutMs = 90_000): Promise<void> {
    const widget = this.quickInput();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await this.openPalette();
      await widget.locator('input').first().fill(`>${title}`);
      const row = widget.locator('.monaco-list-row', { hasText: title }).first();
      try {
        await row.waitFor({ state: 'visible', timeout: 5_000 });
      } catch (err) {
        if (Date.now() > deadline) {
          await this.screenshot(`failed-palette-${title.replace(/\W+/g, '-')}`);
          throw new Error(`command "${title}" not in the palette after ${timeoutMs} ms`);
        }
        continue;
      }
      await row.click();
      return;
    }
  }

  /** Opens a workspace file in an editor through Quick Open. */
  async openFile(relativePath: string): Promise<void> {
    const base = relativePath.split('/').pop()!;
    const widget = this.quickInput();
    await this.openPalette();
    // Without the '>' prefix the palette is Quick Open (file search).
    await widget.locator('input').first().fill(relativePath);
    await widget.locator('.monaco-list-row', { hasText: base }).first().waitFor({ state: 'visible', timeout: 30_000 });
    await this.page.keyboard.press('Enter');
    await this.page.locator('.tabs-container .tab.active', { hasText: base }).waitFor({ timeout: 30_000 });
  }

  /** Waits for an input box (showInputBox / showQuickPick), types the text and accepts it. */
  async answerInput(text: string): Promise<void> {
    const widget = this.quickInput();
    await widget.waitFor({ state: 'visible', timeout: 30_000 });
    const input = widget.locator('input').first();
    await input.fill(text);
    await input.press('Enter');
  }

  /** Visible notification toasts' text (message + source), newest last. */
  async notifications(): Promise<string[]> {
    return this.page.locator('.notifications-toasts .notification-toast').allInnerTexts();
  }

  async waitForNotification(pattern: RegExp, timeoutMs = 60_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const hit = (await this.notifications()).find((t) => pattern.test(t));
      if (hit) return hit;
      await this.page.waitForTimeout(250);
    }
    throw new Error(`no notification matching ${pattern} within ${timeoutMs} ms; visible: ${JSON.stringify(await this.notifications())}`);
  }

  /**
   * The content frame of a webview (iframe.webview.ready, then #active-frame) that contains
   * `selector`. Webviews are told apart by what they show, not by their order.
   */
  async webview(selector: string, timeoutMs = 60_000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      for (const outer of await this.page.locator('iframe.webview.ready').elementHandles()) {
        const outerFrame = await outer.contentFrame();
        const inner = await outerFrame?.$('#active-frame');
        const frame = await inner?.contentFrame();
        if (frame && (await frame.locator(selector).count()) > 0) return frame;
      }
      await this.page.waitForTimeout(100);
    }
    throw new Error(`no webview shows ${selector} within ${timeoutMs} ms`);
  }

  /**
   * Records, on every DOM change in `frame`, the text length of the last element matching
   * `selector`, so a test can tell text that streamed in (many lengths) from text set at once.
   * Passed as a string: tsx's name-keeping helpers do not exist inside the page.
   */
  /**
   * Records, on every DOM change, the text length of the last element matching `selector` and how
   * many such elements there are: a turn added later is told apart from the one before it.
   */
  async recordTextLengths(frame: Frame, selector: string): Promise<void> {
    await frame.evaluate(`(() => {
      const sel = ${JSON.stringify(selector)};
      const seen = (window.__thinkLensLengths = []);
      const read = () => {
        const all = document.querySelectorAll(sel);
        const n = all.length ? (all[all.length - 1].textContent || '').length : 0;
        const last = seen[seen.length - 1];
        if (!last || last.count !== all.length || last.length !== n) seen.push({ count: all.length, length: n });
      };
      read();
      new MutationObserver(read).observe(document.body, { subtree: true, childList: true, characterData: true });
    })()`);
  }

  async recordedLengths(frame: Frame): Promise<{ count: number; length: number }[]> {
    return (await frame.evaluate('window.__thinkLensLengths || []')) as { count: number; length: number }[];
  }

  /** Polls `read` in a frame until `accept` holds; returns the last value (for the message on failure). */
  async until<T>(read: () => Promise<T>, accept: (v: T) => boolean, what: string, timeoutMs = 120_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: T = await read();
    while (!accept(last)) {
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(last)}`);
      await this.page.waitForTimeout(250);
      last = await read();
    }
    return last;
  }
}
