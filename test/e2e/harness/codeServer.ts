// One code-server (VS Code 1.100 server) per test file, with its own user data, extensions and
// config folders under a fresh temp directory, so runs never share state with each other or with
// the machine's own code-server config. The VSIX is installed with --install-extension before
// the server starts: the extension under test is the packaged one, never the source tree.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, createWriteStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { artifactsDir } from './environment';

export interface CodeServerOptions {
  entry: string;
  vsix: string;
  /** A folder copied into the temp dir and opened as the workspace. */
  workspaceSource: string;
  /** User settings (settings.json). */
  settings: Record<string, unknown>;
  /** false: workspace trust stays on and the copied folder is not trusted (Restricted Mode). */
  trusted: boolean;
  /** Names the log file in test-artifacts/e2e. */
  label: string;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

async function waitForHttp(url: string, child: ChildProcess, timeoutMs: number, logFile: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`code-server exited with ${child.exitCode} before serving ${url}; see ${logFile}`);
    try {
      const res = await fetch(url, { redirect: 'manual' });
      if (res.status < 500) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`code-server did not answer on ${url} within ${timeoutMs} ms; see ${logFile}`);
}

export class CodeServer {
  readonly root: string;
  readonly userDataDir: string;
  readonly extensionsDir: string;
  readonly workspace: string;
  readonly logFile: string;
  port = 0;
  private child: ChildProcess | undefined;

  constructor(private readonly opts: CodeServerOptions) {
    this.root = mkdtempSync(path.join(os.tmpdir(), `think-lens-e2e-${opts.label}-`));
    this.userDataDir = path.join(this.root, 'user-data');
    this.extensionsDir = path.join(this.root, 'extensions');
    // The folder name says what it is in screenshots; the copy keeps the repo clean of anything
    // the editor or the extension writes into a workspace.
    this.workspace = path.join(this.root, 'tiny-ini');
    mkdirSync(artifactsDir, { recursive: true });
    this.logFile = path.join(artifactsDir, `code-server-${opts.label}.log`);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/?folder=${encodeURIComponent(this.workspace)}`;
  }

  private baseArgs(): string[] {
    return [
      this.opts.entry,
      '--config', path.join(this.root, 'config.yaml'),
      '--user-data-dir', this.userDataDir,
      '--extensions-dir', this.extensionsDir,
    ];
  }

  async start(): Promise<void> {
    cpSync(this.opts.workspaceSource, this.workspace, { recursive: true });
    mkdirSync(path.join(this.userDataDir, 'User'), { recursive: true });
    writeFileSync(path.join(this.root, 'config.yaml'), 'auth: none\ncert: false\n');
    writeFileSync(path.join(this.userDataDir, 'User', 'settings.json'), JSON.stringify(this.opts.settings, null, 2));

    const install = spawnSync(process.execPath, [...this.baseArgs(), '--install-extension', this.opts.vsix], { encoding: 'utf8', timeout: 180_000 });
    writeFileSync(this.logFile, `--install-extension ${this.opts.vsix}\n${install.stdout}${install.stderr}\n`);
    if (install.status !== 0) throw new Error(`code-server --install-extension failed (${install.status ?? install.signal}): ${install.stderr || install.stdout}`);

    this.port = await freePort();
    const args = [
      ...this.baseArgs(),
      '--auth', 'none',
      '--bind-addr', `127.0.0.1:${this.port}`,
      '--disable-telemetry',
      '--disable-update-check',
      '--disable-getting-started-override',
      '--ignore-last-opened',
      ...(this.opts.trusted ? ['--disable-workspace-trust'] : []),
      this.workspace,
    ];
    const log = createWriteStream(this.logFile, { flags: 'a' });
    log.write(`\n$ node ${args.join(' ')}\n`);
    // Own process group: stop() takes down the server, its extension host and the runtime the
    // extension spawned, and nothing else.
    this.child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.pipe(log);
    this.child.stderr!.pipe(log);
    await waitForHttp(`http://127.0.0.1:${this.port}/healthz`, this.child, 60_000, this.logFile);
  }

  /** The folder the VSIX was unpacked into, e.g. extensions/think-lens.think-lens-0.1.0-linux-x64. */
  installedExtensionDir(): string {
    const dirs = existsSync(this.extensionsDir) ? readdirSync(this.extensionsDir).filter((n) => n.startsWith('think-lens.think-lens-')) : [];
    if (dirs.length !== 1) throw new Error(`expected one think-lens extension under ${this.extensionsDir}, found: ${dirs.join(', ') || 'none'}`);
    return path.join(this.extensionsDir, dirs[0]);
  }

  /** Concatenated log files under the user data's logs/ whose name matches (e.g. the extension's output channel). */
  logs(name: RegExp): string {
    const out: string[] = [];
    const visit = (dir: string) => {
      if (!existsSync(dir)) return;
      for (const n of readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, n.name);
        if (n.isDirectory()) visit(p);
        else if (name.test(n.name)) out.push(readFileSync(p, 'utf8'));
      }
    };
    visit(path.join(this.userDataDir, 'logs'));
    return out.join('\n');
  }

  /** PIDs of runtime processes started from this server's installed extension. */
  runtimePids(): number[] {
    const script = path.join(this.installedExtensionDir(), 'dist', 'runtime.js');
    const r = spawnSync('pgrep', ['-f', script], { encoding: 'utf8' });
    return (r.stdout ?? '').split('\n').filter(Boolean).map(Number).filter((pid) => pid !== process.pid);
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child?.pid && child.exitCode === null) {
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
      const timer = setTimeout(() => {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          // already gone
        }
      }, 5000);
      await exited;
      clearTimeout(timer);
      // Children that outlived the server (a runtime mid-restart) are in the same group.
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // none left
      }
    }
    if (!process.env.THINK_LENS_E2E_KEEP) rmSync(this.root, { recursive: true, force: true });
  }
}
