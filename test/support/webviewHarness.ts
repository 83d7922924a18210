// Serves a built webview (dist bundle + media/*.css) over http://127.0.0.1 in the very page the
// extension gives VS Code (renderWebviewHtml: same CSP, nonce'd script, stylesheets), plus a fake
// `acquireVsCodeApi` that records what the webview posts and keeps setState in sessionStorage (so a
// reload restores like VS Code does), and a stylesheet of --vscode-* theme colours. Tests drive
// Debian's chromium through playwright-core and dispatch host messages as MessageEvents.
//
//   const browser = await launchChromium(); if (typeof browser === 'string') return t.skip(browser);
//   ... await closeChromium(browser);
//   const server = await startWebviewServer();
//   const view = await openWebview(browser, server, 'answer');
//   await view.dispatch(messages); await view.posted();
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { makeNonce, renderWebviewHtml, type WebviewName } from '../../src/panels/webviewHtml';

export const repoRoot = resolve(__dirname, '../..');
export const artifactsDir = resolve(repoRoot, 'test-artifacts/webviews');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

// --- the fake VS Code side of the page ---------------------------------------------------------

const FAKE_VSCODE_API = `(() => {
  const key = 'fake-vscode-state:' + location.pathname;
  let acquired = false;
  window.__posted = [];
  window.acquireVsCodeApi = () => {
    // VS Code allows one acquisition per page; a second is a bug in the webview.
    if (acquired) throw new Error('An instance of the VS Code API has already been acquired');
    acquired = true;
    return Object.freeze({
      postMessage: (m) => { window.__posted.push(structuredClone(m)); },
      getState: () => { const s = sessionStorage.getItem(key); return s === null ? undefined : JSON.parse(s); },
      setState: (s) => { sessionStorage.setItem(key, JSON.stringify(s)); return s; },
    });
  };
})();
`;

// A dark theme's worth of the variables VS Code injects into every webview.
const THEME_CSS = `:root {
  --vscode-font-family: system-ui, sans-serif; --vscode-font-size: 13px; --vscode-editor-font-family: monospace;
  --vscode-foreground: #cccccc; --vscode-descriptionForeground: #9d9d9d; --vscode-errorForeground: #f85149;
  --vscode-editor-background: #1f1f1f; --vscode-panel-border: #2b2b2b; --vscode-widget-border: #313131;
  --vscode-focusBorder: #0078d4; --vscode-charts-blue: #3794ff; --vscode-charts-orange: #d18616;
  --vscode-button-background: #0078d4; --vscode-button-foreground: #ffffff; --vscode-button-hoverBackground: #026ec1;
  --vscode-button-secondaryBackground: #313131; --vscode-button-secondaryForeground: #cccccc;
  --vscode-input-background: #313131; --vscode-input-foreground: #cccccc; --vscode-input-border: #3c3c3c;
  --vscode-input-placeholderForeground: #989898; --vscode-textLink-foreground: #4daafc; --vscode-textLink-activeForeground: #4daafc;
  --vscode-textCodeBlock-background: #2b2b2b; --vscode-textBlockQuote-background: #2b2b2b; --vscode-textBlockQuote-border: #616161;
  --vscode-badge-background: #616161; --vscode-badge-foreground: #f8f8f8; --vscode-progressBar-background: #0078d4;
  --vscode-disabledForeground: #8c8c8c;
}
`;

// --- build + http server -------------------------------------------------------------------------

let built: Promise<string> | undefined;

/** Builds the webview bundles once per test process, into a temporary folder. */
export function buildOnce(): Promise<string> {
  built ??= (async () => {
    const outdir = mkdtempSync(join(tmpdir(), 'think-lens-webviews-'));
    process.on('exit', () => rmSync(outdir, { recursive: true, force: true }));
    // The build script is an ES module; this file is loaded as CommonJS, hence the dynamic import.
    const { buildWebviews } = await import('../../scripts/build-webviews.mjs');
    await buildWebviews({ outdir });
    return outdir;
  })();
  return built;
}

export interface WebviewServer {
  origin: string;
  /** The nonce of the last page served per view (tests check the page's CSP against it). */
  lastNonce: Partial<Record<WebviewName, string>>;
  close(): Promise<void>;
}

export async function startWebviewServer(): Promise<WebviewServer> {
  const bundles = await buildOnce();
  const lastNonce: Partial<Record<WebviewName, string>> = {};
  let origin = '';
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const send = (status: number, type: string, body: string | Buffer): void => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    let m: RegExpExecArray | null;
    if ((m = /^\/view\/(answer|inspector)$/.exec(path))) {
      const view = m[1] as WebviewName;
      const nonce = makeNonce();
      lastNonce[view] = nonce;
      let html = renderWebviewHtml({
        view,
        cspSource: origin,
        nonce,
        scriptUri: `${origin}/dist/${view}.js`,
        styleUris: [`${origin}/media/webview.css`, `${origin}/media/${view}.css`],
      });
      // What VS Code adds around every webview: its API and the theme variables.
      html = html.replace('<link ', `<link rel="stylesheet" href="${origin}/harness/theme.css">\n    <link `);
      html = html.replace('<script ', `<script nonce="${nonce}" src="${origin}/harness/fake-vscode.js"></script>\n    <script `);
      send(200, 'text/html; charset=utf-8', html);
    } else if ((m = /^\/dist\/(answer|inspector)\.js$/.exec(path))) {
      send(200, 'text/javascript; charset=utf-8', readFileSync(join(bundles, `${m[1]}.js`)));
    } else if ((m = /^\/media\/([\w-]+\.css)$/.exec(path)) && existsSync(join(repoRoot, 'media', m[1]))) {
      send(200, 'text/css; charset=utf-8', readFileSync(join(repoRoot, 'media', m[1])));
    } else if (path === '/harness/fake-vscode.js') {
      send(200, 'text/javascript; charset=utf-8', FAKE_VSCODE_API);
    } else if (path === '/favicon.ico') {
      send(204, 'image/x-icon', ''); // chromium asks for it; a 404 would read as a page error
    } else if (path === '/harness/theme.css') {
      send(200, 'text/css; charset=utf-8', THEME_CSS);
    } else {
      send(404, 'text/plain', `not served: ${path}`);
    }
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    lastNonce,
    close: () => new Promise<void>((ok) => server.close(() => ok())),
  };
}

// --- browser ---------------------------------------------------------------------------------------

const profiles = new Map<BrowserContext, string>();

/** Closes a browser from launchChromium and removes its temporary profile. */
export async function closeChromium(context: BrowserContext | string): Promise<void> {
  if (typeof context === 'string') return;
  await context.close();
  const profile = profiles.get(context);
  profiles.delete(context);
  if (profile) rmSync(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
}

/** A fresh headless chromium (own profile), or the reason it cannot run (the test then skips). */
export async function launchChromium(): Promise<BrowserContext | string> {
  if (!existsSync(CHROMIUM)) return `chromium not found at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH)`;
  const profile = mkdtempSync(join(tmpdir(), 'think-lens-chromium-'));
  try {
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1100, height: 760 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    profiles.set(context, profile);
    return context;
  } catch (e) {
    rmSync(profile, { recursive: true, force: true });
    return `chromium at ${CHROMIUM} could not be launched: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`;
  }
}

export interface WebviewPage {
  page: Page;
  /** Dialogs (alert/confirm/prompt) the page opened; each is dismissed. */
  dialogs: string[];
  /** Uncaught errors and console errors, CSP reports excluded (some tests provoke those). */
  errors: string[];
  /** Content-Security-Policy violations the browser reported. */
  cspViolations: string[];
  /** Sends host -> webview messages, in order, then waits until the webview has drawn them. */
  dispatch(messages: readonly unknown[]): Promise<void>;
  /** Everything the webview posted to the host so far. */
  posted(): Promise<Array<{ type: string } & Record<string, unknown>>>;
  /** Waits two animation frames (the webviews draw once per frame). */
  settle(): Promise<void>;
  screenshot(name: string): Promise<string>;
}

export async function openWebview(context: BrowserContext, server: WebviewServer, view: WebviewName): Promise<WebviewPage> {
  const page = await context.newPage();
  page.setDefaultTimeout(10_000); // everything here is local: a wait this long means a bug
  const dialogs: string[] = [];
  const errors: string[] = [];
  const cspViolations: string[] = [];
  page.on('dialog', (d) => {
    dialogs.push(`${d.type()}: ${d.message()}`);
    void d.dismiss().catch(() => undefined);
  });
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
    else errors.push(m.text());
  });
  const settle = (): Promise<void> => page.evaluate(() => new Promise<void>((ok) => requestAnimationFrame(() => requestAnimationFrame(() => ok()))));
  await page.goto(`${server.origin}/view/${view}`);
  await page.waitForFunction(() => (window as unknown as { __posted: Array<{ type: string }> }).__posted.some((m) => m.type === 'ready'));
  return {
    page,
    dialogs,
    errors,
    cspViolations,
    settle,
    async dispatch(messages) {
      await page.evaluate((msgs) => {
        for (const data of msgs) window.dispatchEvent(new MessageEvent('message', { data }));
      }, messages as unknown[]);
      await settle();
    },
    posted: () => page.evaluate(() => (window as unknown as { __posted: Array<{ type: string } & Record<string, unknown>> }).__posted),
    async screenshot(name) {
      mkdirSync(artifactsDir, { recursive: true });
      const path = join(artifactsDir, `${name}.png`);
      await page.screenshot({ path, fullPage: true });
      return path;
    },
  };
}

/** A recorded fixture: test/fixtures/webview/<name>.json. */
export function loadFixture<T = unknown>(name: string): { source: string; messages: T[] } & Record<string, unknown> {
  return JSON.parse(readFileSync(resolve(repoRoot, 'test/fixtures/webview', `${name}.json`), 'utf8'));
}

/** Chromium and the webview server for one test file: launched before its tests, closed after. */
export interface ChromiumSession {
  /** The browser, or why it could not start (tests skip with that reason). */
  browser: BrowserContext | string;
  server: WebviewServer | undefined;
}

export function useChromium(hooks: { before(fn: () => Promise<void>): void; after(fn: () => Promise<void>): void }): ChromiumSession {
  const session: ChromiumSession = { browser: 'not launched', server: undefined };
  hooks.before(async () => {
    session.browser = await launchChromium();
    if (typeof session.browser !== 'string') session.server = await startWebviewServer();
  });
  hooks.after(async () => {
    await closeChromium(session.browser);
    await session.server?.close();
  });
  return session;
}
