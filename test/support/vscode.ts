// An in-memory stand-in for the `vscode` module, used by every extension unit test.
// test/support/vscodeLoader.mjs maps the bare specifier 'vscode' to this file (for both `import`
// and `require`), so src/ code runs unchanged. It implements the parts of the API the extension
// uses, with VS Code's observable behaviour where it matters (configuration defaults come from
// package.json's `contributes.configuration`, duplicate command ids throw, disposed webviews reject
// postMessage, workspace.fs reads the real disk). Tests drive it through `mock` (bottom of file):
// script the user's answers to dialogs, trust, settings, workspace folders, the active editor, and
// read back what the extension showed (messages, progress reports, status bar, log lines, posts).

import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as nodePath from 'node:path';
// VS Code's glob syntax, as the extension's own exclude settings read it (picomatch underneath).
import { globToRegExp } from '../../core/context/excludeGlobs';

// ---------------------------------------------------------------------------------------------
// Basic types
// ---------------------------------------------------------------------------------------------

export class Disposable {
  private fn: (() => unknown) | undefined;
  constructor(fn: () => unknown) {
    this.fn = fn;
  }
  static from(...items: { dispose(): unknown }[]): Disposable {
    return new Disposable(() => {
      for (const d of items) d.dispose();
    });
  }
  dispose(): void {
    const fn = this.fn;
    this.fn = undefined;
    fn?.();
  }
}

export type Event<T> = (listener: (e: T) => unknown, thisArg?: unknown, disposables?: { dispose(): unknown }[]) => Disposable;

export class EventEmitter<T> {
  private listeners = new Set<(e: T) => unknown>();
  private disposed = false;
  readonly event: Event<T> = (listener, thisArg, disposables) => {
    const bound = thisArg ? listener.bind(thisArg) : listener;
    this.listeners.add(bound);
    const d = new Disposable(() => this.listeners.delete(bound));
    disposables?.push(d);
    return d;
  };
  fire(e: T): void {
    if (this.disposed) return;
    for (const l of [...this.listeners]) l(e);
  }
  /** Test helper: how many listeners are attached (to check that disposal detaches them). */
  get listenerCount(): number {
    return this.listeners.size;
  }
  dispose(): void {
    this.disposed = true;
    this.listeners.clear();
  }
}

export interface CancellationToken {
  isCancellationRequested: boolean;
  onCancellationRequested: Event<unknown>;
}

export class CancellationTokenSource {
  private emitter = new EventEmitter<unknown>();
  private cancelled = false;
  readonly token: CancellationToken;
  constructor() {
    const self = this;
    this.token = {
      get isCancellationRequested() {
        return self.cancelled;
      },
      onCancellationRequested: (listener, thisArg, disposables) => {
        // VS Code calls a listener added after cancellation right away.
        if (self.cancelled) {
          queueMicrotask(() => listener(undefined));
          return new Disposable(() => undefined);
        }
        return self.emitter.event(listener, thisArg, disposables);
      },
    };
  }
  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.emitter.fire(undefined);
  }
  dispose(): void {
    this.emitter.dispose();
  }
}

export class CancellationError extends Error {
  constructor() {
    super('Canceled');
    this.name = 'Canceled';
  }
}

export class Uri {
  private constructor(
    readonly scheme: string,
    readonly authority: string,
    readonly path: string,
    readonly query: string,
    readonly fragment: string,
  ) {}
  static file(p: string): Uri {
    const abs = nodePath.resolve(p).split(nodePath.sep).join('/');
    return new Uri('file', '', abs.startsWith('/') ? abs : '/' + abs, '', '');
  }
  static parse(value: string): Uri {
    const m = /^([a-zA-Z][\w+.-]*):(?:\/\/([^/?#]*))?([^?#]*)(?:\?([^#]*))?(?:#(.*))?$/.exec(value);
    if (!m) throw new Error(`[UriError]: cannot parse ${JSON.stringify(value)}`);
    return new Uri(m[1], m[2] ?? '', decodeURIComponent(m[3] || '/'), m[4] ?? '', m[5] ?? '');
  }
  static joinPath(base: Uri, ...segments: string[]): Uri {
    return base.with({ path: nodePath.posix.join(base.path, ...segments) });
  }
  static from(c: { scheme: string; authority?: string; path?: string; query?: string; fragment?: string }): Uri {
    return new Uri(c.scheme, c.authority ?? '', c.path ?? '/', c.query ?? '', c.fragment ?? '');
  }
  get fsPath(): string {
    return nodePath.normalize(this.path);
  }
  with(change: { scheme?: string; authority?: string; path?: string; query?: string; fragment?: string }): Uri {
    return new Uri(
      change.scheme ?? this.scheme,
      change.authority ?? this.authority,
      change.path ?? this.path,
      change.query ?? this.query,
      change.fragment ?? this.fragment,
    );
  }
  toString(): string {
    const auth = this.scheme === 'file' || this.authority ? `//${this.authority}` : '';
    const q = this.query ? `?${this.query}` : '';
    const f = this.fragment ? `#${this.fragment}` : '';
    return `${this.scheme}:${auth}${encodeURI(this.path)}${q}${f}`;
  }
  toJSON(): unknown {
    return { scheme: this.scheme, authority: this.authority, path: this.path, query: this.query, fragment: this.fragment };
  }
}

export class Position {
  constructor(
    readonly line: number,
    readonly character: number,
  ) {}
  isBefore(o: Position): boolean {
    return this.line < o.line || (this.line === o.line && this.character < o.character);
  }
  isEqual(o: Position): boolean {
    return this.line === o.line && this.character === o.character;
  }
}

export class Range {
  readonly start: Position;
  readonly end: Position;
  constructor(a: Position | number, b: Position | number, c?: number, d?: number) {
    const s = typeof a === 'number' ? new Position(a, b as number) : a;
    const e = typeof a === 'number' ? new Position(c as number, d as number) : (b as Position);
    [this.start, this.end] = e.isBefore(s) ? [e, s] : [s, e];
  }
  get isEmpty(): boolean {
    return this.start.isEqual(this.end);
  }
}

export class Selection extends Range {
  readonly anchor: Position;
  readonly active: Position;
  constructor(anchor: Position | number, active: Position | number, c?: number, d?: number) {
    const a = typeof anchor === 'number' ? new Position(anchor, active as number) : anchor;
    const b = typeof anchor === 'number' ? new Position(c as number, d as number) : (active as Position);
    super(a, b);
    this.anchor = a;
    this.active = b;
  }
}

export class ThemeColor {
  constructor(readonly id: string) {}
}

export class ThemeIcon {
  constructor(readonly id: string) {}
}

export class MarkdownString {
  constructor(public value = '') {}
  appendText(s: string): this {
    this.value += s;
    return this;
  }
  appendMarkdown(s: string): this {
    this.value += s;
    return this;
  }
}

export class Location {
  readonly range: Range;
  constructor(
    readonly uri: Uri,
    rangeOrPosition: Range | Position,
  ) {
    this.range = rangeOrPosition instanceof Position ? new Range(rangeOrPosition, rangeOrPosition) : rangeOrPosition;
  }
}

// Language models (VS Code's lm API): the parts and messages a chat model provider receives and reports.
export enum LanguageModelChatMessageRole {
  User = 1,
  Assistant = 2,
}

export class LanguageModelTextPart {
  constructor(public value: string) {}
}

export class LanguageModelChatMessage {
  content: unknown[];
  constructor(
    public role: LanguageModelChatMessageRole,
    content: string | unknown[],
    public name: string | undefined = undefined,
  ) {
    this.content = typeof content === 'string' ? [new LanguageModelTextPart(content)] : content;
  }
  static User(content: string | unknown[], name?: string): LanguageModelChatMessage {
    return new LanguageModelChatMessage(LanguageModelChatMessageRole.User, content, name);
  }
  static Assistant(content: string | unknown[], name?: string): LanguageModelChatMessage {
    return new LanguageModelChatMessage(LanguageModelChatMessageRole.Assistant, content, name);
  }
}

// ---------------------------------------------------------------------------------------------
// Enums
// ---------------------------------------------------------------------------------------------

export enum ProgressLocation {
  SourceControl = 1,
  Window = 10,
  Notification = 15,
}
export enum ViewColumn {
  Active = -1,
  Beside = -2,
  One = 1,
  Two = 2,
  Three = 3,
}
export enum StatusBarAlignment {
  Left = 1,
  Right = 2,
}
export enum QuickPickItemKind {
  Separator = -1,
  Default = 0,
}
export enum FileType {
  Unknown = 0,
  File = 1,
  Directory = 2,
  SymbolicLink = 64,
}
export enum ConfigurationTarget {
  Global = 1,
  Workspace = 2,
  WorkspaceFolder = 3,
}
export enum ExtensionMode {
  Production = 1,
  Development = 2,
  Test = 3,
}
export enum LogLevel {
  Off = 0,
  Trace = 1,
  Debug = 2,
  Info = 3,
  Warning = 4,
  Error = 5,
}
export enum UIKind {
  Desktop = 1,
  Web = 2,
}

export class FileSystemError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = `${code} (FileSystemError)`;
  }
  static FileNotFound(u?: Uri | string): FileSystemError {
    return new FileSystemError(`${u ?? ''}: not found`, 'FileNotFound');
  }
  static FileExists(u?: Uri | string): FileSystemError {
    return new FileSystemError(`${u ?? ''}: exists`, 'FileExists');
  }
  static FileNotADirectory(u?: Uri | string): FileSystemError {
    return new FileSystemError(`${u ?? ''}: not a directory`, 'FileNotADirectory');
  }
  static FileIsADirectory(u?: Uri | string): FileSystemError {
    return new FileSystemError(`${u ?? ''}: is a directory`, 'FileIsADirectory');
  }
  static NoPermissions(u?: Uri | string): FileSystemError {
    return new FileSystemError(`${u ?? ''}: no permissions`, 'NoPermissions');
  }
  static Unavailable(u?: Uri | string): FileSystemError {
    return new FileSystemError(`${u ?? ''}: unavailable`, 'Unavailable');
  }
}

// ---------------------------------------------------------------------------------------------
// Configuration: values set by tests over package.json's contributed defaults
// ---------------------------------------------------------------------------------------------

// The package has no "type": "module", so tsx loads this file as CommonJS and __dirname exists.
const repoRoot = nodePath.resolve(__dirname, '../..');

function contributedDefaults(): Map<string, unknown> {
  const out = new Map<string, unknown>();
  try {
    const pkg = JSON.parse(fs.readFileSync(nodePath.join(repoRoot, 'package.json'), 'utf8'));
    const conf = pkg?.contributes?.configuration;
    for (const block of Array.isArray(conf) ? conf : conf ? [conf] : []) {
      for (const [key, schema] of Object.entries<{ default?: unknown }>(block.properties ?? {})) {
        if ('default' in schema) out.set(key, schema.default);
      }
    }
  } catch {
    // No package.json contributions yet: only values set by tests exist.
  }
  return out;
}

export interface ConfigurationChangeEvent {
  affectsConfiguration(section: string): boolean;
}

const configValues = new Map<string, unknown>();
const configEmitter = new EventEmitter<ConfigurationChangeEvent>();

function setConfigValue(key: string, value: unknown): void {
  if (value === undefined) configValues.delete(key);
  else configValues.set(key, structuredClone(value));
  configEmitter.fire({ affectsConfiguration: (s: string) => key === s || key.startsWith(s + '.') || s.startsWith(key + '.') });
}

function getConfiguration(section?: string) {
  const full = (key: string) => (section ? `${section}.${key}` : key);
  const defaults = contributedDefaults();
  const lookup = (key: string): unknown => {
    const k = full(key);
    if (configValues.has(k)) return structuredClone(configValues.get(k));
    return structuredClone(defaults.get(k));
  };
  return {
    get<T>(key: string, defaultValue?: T): T | undefined {
      const v = lookup(key);
      return (v === undefined ? defaultValue : v) as T | undefined;
    },
    has(key: string): boolean {
      return configValues.has(full(key)) || defaults.has(full(key));
    },
    inspect(key: string) {
      const k = full(key);
      return { key: k, defaultValue: defaults.get(k), globalValue: configValues.get(k) };
    },
    async update(key: string, value: unknown, _target?: ConfigurationTarget | boolean): Promise<void> {
      setConfigValue(full(key), value);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// workspace
// ---------------------------------------------------------------------------------------------

export interface WorkspaceFolder {
  uri: Uri;
  name: string;
  index: number;
}

let workspaceFolders: WorkspaceFolder[] | undefined;
let trusted = true;
const trustEmitter = new EventEmitter<void>();
const foldersEmitter = new EventEmitter<{ added: WorkspaceFolder[]; removed: WorkspaceFolder[] }>();

function fsError(e: unknown, uri: Uri): FileSystemError {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === 'ENOENT') return FileSystemError.FileNotFound(uri);
  if (code === 'EEXIST') return FileSystemError.FileExists(uri);
  if (code === 'ENOTDIR') return FileSystemError.FileNotADirectory(uri);
  if (code === 'EISDIR') return FileSystemError.FileIsADirectory(uri);
  if (code === 'EACCES' || code === 'EPERM') return FileSystemError.NoPermissions(uri);
  return new FileSystemError(`${uri}: ${(e as Error)?.message ?? e}`, 'Unknown');
}

async function typeOf(p: string): Promise<{ type: FileType; st: fs.Stats | undefined }> {
  const l = await fsp.lstat(p);
  if (!l.isSymbolicLink()) return { type: l.isDirectory() ? FileType.Directory : l.isFile() ? FileType.File : FileType.Unknown, st: l };
  try {
    const s = await fsp.stat(p);
    return { type: FileType.SymbolicLink | (s.isDirectory() ? FileType.Directory : s.isFile() ? FileType.File : FileType.Unknown), st: s };
  } catch {
    // A dangling link (or a loop): VS Code reports it as a link of unknown type.
    return { type: FileType.SymbolicLink | FileType.Unknown, st: undefined };
  }
}

const workspaceFs = {
  async stat(uri: Uri) {
    try {
      const { type, st } = await typeOf(uri.fsPath);
      return { type, ctime: st?.ctimeMs ?? 0, mtime: st?.mtimeMs ?? 0, size: st?.size ?? 0 };
    } catch (e) {
      throw fsError(e, uri);
    }
  },
  async readFile(uri: Uri): Promise<Uint8Array> {
    try {
      return new Uint8Array(await fsp.readFile(uri.fsPath));
    } catch (e) {
      throw fsError(e, uri);
    }
  },
  async writeFile(uri: Uri, content: Uint8Array): Promise<void> {
    try {
      await fsp.mkdir(nodePath.dirname(uri.fsPath), { recursive: true });
      await fsp.writeFile(uri.fsPath, content);
    } catch (e) {
      throw fsError(e, uri);
    }
  },
  async readDirectory(uri: Uri): Promise<[string, FileType][]> {
    try {
      const names = await fsp.readdir(uri.fsPath);
      const out: [string, FileType][] = [];
      for (const n of names) out.push([n, (await typeOf(nodePath.join(uri.fsPath, n))).type]);
      return out;
    } catch (e) {
      throw fsError(e, uri);
    }
  },
  async createDirectory(uri: Uri): Promise<void> {
    try {
      await fsp.mkdir(uri.fsPath, { recursive: true });
    } catch (e) {
      throw fsError(e, uri);
    }
  },
  async delete(uri: Uri, options?: { recursive?: boolean }): Promise<void> {
    try {
      await fsp.rm(uri.fsPath, { recursive: options?.recursive ?? false });
    } catch (e) {
      throw fsError(e, uri);
    }
  },
  async rename(source: Uri, target: Uri, options?: { overwrite?: boolean }): Promise<void> {
    if (!options?.overwrite && fs.existsSync(target.fsPath)) throw FileSystemError.FileExists(target);
    try {
      await fsp.rename(source.fsPath, target.fsPath);
    } catch (e) {
      throw fsError(e, source);
    }
  },
  async copy(source: Uri, target: Uri, options?: { overwrite?: boolean }): Promise<void> {
    if (!options?.overwrite && fs.existsSync(target.fsPath)) throw FileSystemError.FileExists(target);
    try {
      await fsp.cp(source.fsPath, target.fsPath, { recursive: true });
    } catch (e) {
      throw fsError(e, source);
    }
  },
  isWritableFileSystem(scheme: string): boolean | undefined {
    return scheme === 'file' ? true : undefined;
  },
};

function languageIdOf(p: string): string {
  const ext = nodePath.extname(p).toLowerCase();
  const ids: Record<string, string> = {
    '.ts': 'typescript', '.tsx': 'typescriptreact', '.js': 'javascript', '.mjs': 'javascript', '.py': 'python',
    '.md': 'markdown', '.json': 'json', '.rs': 'rust', '.go': 'go', '.c': 'c', '.cpp': 'cpp', '.java': 'java',
  };
  return ids[ext] ?? 'plaintext';
}

export class TextDocument {
  readonly fileName: string;
  readonly languageId: string;
  readonly version = 1;
  isDirty = false;
  isUntitled = false;
  private lineStarts: number[];
  constructor(
    readonly uri: Uri,
    private text: string,
  ) {
    this.fileName = uri.fsPath;
    this.languageId = languageIdOf(uri.path);
    this.lineStarts = [0];
    for (let i = 0; i < text.length; i++) if (text[i] === '\n') this.lineStarts.push(i + 1);
  }
  get lineCount(): number {
    return this.lineStarts.length;
  }
  offsetAt(p: Position): number {
    const line = Math.min(Math.max(p.line, 0), this.lineCount - 1);
    const start = this.lineStarts[line];
    const end = line + 1 < this.lineCount ? this.lineStarts[line + 1] - 1 : this.text.length;
    return Math.min(start + Math.max(p.character, 0), end);
  }
  positionAt(offset: number): Position {
    const o = Math.min(Math.max(offset, 0), this.text.length);
    let line = 0;
    while (line + 1 < this.lineCount && this.lineStarts[line + 1] <= o) line++;
    return new Position(line, o - this.lineStarts[line]);
  }
  getText(range?: Range): string {
    if (!range) return this.text;
    return this.text.slice(this.offsetAt(range.start), this.offsetAt(range.end));
  }
  lineAt(line: number) {
    const start = this.lineStarts[line];
    const end = line + 1 < this.lineCount ? this.lineStarts[line + 1] - 1 : this.text.length;
    const text = this.text.slice(start, end).replace(/\r$/, '');
    return { lineNumber: line, text, range: new Range(line, 0, line, text.length), isEmptyOrWhitespace: text.trim() === '' };
  }
  async save(): Promise<boolean> {
    return true;
  }
}

const openDocuments = new Map<string, TextDocument>();

async function openTextDocument(arg: Uri | string | { content?: string; language?: string }): Promise<TextDocument> {
  if (arg instanceof Uri || typeof arg === 'string') {
    const uri = typeof arg === 'string' ? Uri.file(arg) : arg;
    const open = openDocuments.get(uri.toString());
    if (open) return open;
    let text: string;
    try {
      text = await fsp.readFile(uri.fsPath, 'utf8');
    } catch (e) {
      throw fsError(e, uri);
    }
    const doc = new TextDocument(uri, text);
    openDocuments.set(uri.toString(), doc);
    return doc;
  }
  const doc = new TextDocument(Uri.from({ scheme: 'untitled', path: `/Untitled-${openDocuments.size + 1}` }), arg.content ?? '');
  doc.isUntitled = true;
  return doc;
}

async function findFiles(include: string | { pattern: string }, exclude?: string | { pattern: string } | null, maxResults?: number): Promise<Uri[]> {
  const inc = globToRegExp(typeof include === 'string' ? include : include.pattern);
  const exc = exclude ? globToRegExp(typeof exclude === 'string' ? exclude : exclude.pattern) : undefined;
  const out: Uri[] = [];
  for (const folder of workspaceFolders ?? []) {
    const walk = async (dir: string, rel: string): Promise<void> => {
      for (const ent of await fsp.readdir(dir, { withFileTypes: true })) {
        if (maxResults !== undefined && out.length >= maxResults) return;
        const r = rel ? `${rel}/${ent.name}` : ent.name;
        if (exc && exc.test(r)) continue;
        // Like ripgrep under findFiles, symlinks are not followed.
        if (ent.isDirectory()) await walk(nodePath.join(dir, ent.name), r);
        else if (ent.isFile() && inc.test(r)) out.push(Uri.file(nodePath.join(dir, ent.name)));
      }
    };
    await walk(folder.uri.fsPath, '');
  }
  return out;
}

function getWorkspaceFolder(uri: Uri): WorkspaceFolder | undefined {
  let best: WorkspaceFolder | undefined;
  for (const f of workspaceFolders ?? []) {
    const base = f.uri.path.endsWith('/') ? f.uri.path : f.uri.path + '/';
    if ((uri.path === f.uri.path || uri.path.startsWith(base)) && (!best || f.uri.path.length > best.uri.path.length)) best = f;
  }
  return best;
}

function asRelativePath(pathOrUri: string | Uri, includeWorkspaceFolder?: boolean): string {
  const uri = typeof pathOrUri === 'string' ? Uri.file(pathOrUri) : pathOrUri;
  const f = getWorkspaceFolder(uri);
  if (!f) return typeof pathOrUri === 'string' ? pathOrUri : uri.fsPath;
  const rel = nodePath.posix.relative(f.uri.path, uri.path);
  return includeWorkspaceFolder && (workspaceFolders?.length ?? 0) > 1 ? `${f.name}/${rel}` : rel;
}

export const workspace = {
  getConfiguration,
  onDidChangeConfiguration: configEmitter.event,
  get workspaceFolders(): readonly WorkspaceFolder[] | undefined {
    return workspaceFolders;
  },
  onDidChangeWorkspaceFolders: foldersEmitter.event,
  get name(): string | undefined {
    return workspaceFolders?.[0]?.name;
  },
  get isTrusted(): boolean {
    return trusted;
  },
  onDidGrantWorkspaceTrust: trustEmitter.event,
  fs: workspaceFs,
  openTextDocument,
  findFiles,
  getWorkspaceFolder,
  asRelativePath,
  get textDocuments(): TextDocument[] {
    return [...openDocuments.values()];
  },
};

// ---------------------------------------------------------------------------------------------
// window
// ---------------------------------------------------------------------------------------------

export interface LogLine {
  level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'append';
  message: string;
}

export class MockOutputChannel {
  readonly lines: LogLine[] = [];
  disposed = false;
  shown = false;
  logLevel = LogLevel.Info;
  private levelEmitter = new EventEmitter<LogLevel>();
  readonly onDidChangeLogLevel = this.levelEmitter.event;
  constructor(
    readonly name: string,
    readonly log: boolean,
  ) {}
  private add(level: LogLine['level'], message: string, args: unknown[]): void {
    const extra = args.map((a) => (a instanceof Error ? a.message : typeof a === 'string' ? a : JSON.stringify(a)));
    this.lines.push({ level, message: [message, ...extra].join(' ') });
  }
  trace(m: string, ...a: unknown[]): void {
    this.add('trace', m, a);
  }
  debug(m: string, ...a: unknown[]): void {
    this.add('debug', m, a);
  }
  info(m: string, ...a: unknown[]): void {
    this.add('info', m, a);
  }
  warn(m: string, ...a: unknown[]): void {
    this.add('warn', m, a);
  }
  error(m: string | Error, ...a: unknown[]): void {
    this.add('error', m instanceof Error ? m.message : m, a);
  }
  append(v: string): void {
    this.add('append', v, []);
  }
  appendLine(v: string): void {
    this.add('append', v, []);
  }
  replace(v: string): void {
    this.lines.length = 0;
    this.add('append', v, []);
  }
  clear(): void {
    this.lines.length = 0;
  }
  show(): void {
    this.shown = true;
  }
  hide(): void {
    this.shown = false;
  }
  dispose(): void {
    this.disposed = true;
  }
  /** Test helper: every line joined, for `assert.match`. */
  text(): string {
    return this.lines.map((l) => `[${l.level}] ${l.message}`).join('\n');
  }
}

export class MockStatusBarItem {
  text = '';
  tooltip: string | MarkdownString | undefined;
  command: string | { command: string; title: string; arguments?: unknown[] } | undefined;
  backgroundColor: ThemeColor | undefined;
  color: string | ThemeColor | undefined;
  name: string | undefined;
  visible = false;
  disposed = false;
  constructor(
    readonly id: string | undefined,
    readonly alignment: StatusBarAlignment,
    readonly priority: number | undefined,
  ) {}
  show(): void {
    this.visible = true;
  }
  hide(): void {
    this.visible = false;
  }
  dispose(): void {
    this.disposed = true;
    this.visible = false;
  }
}

export class MockWebview {
  html = '';
  options: { enableScripts?: boolean; localResourceRoots?: readonly Uri[]; enableCommandUris?: boolean } = {};
  readonly cspSource = 'https://*.vscode-cdn.net';
  /** Every message the host posted, in order. */
  readonly posted: unknown[] = [];
  private receiveEmitter = new EventEmitter<unknown>();
  readonly onDidReceiveMessage = this.receiveEmitter.event;
  disposed = false;
  asWebviewUri(uri: Uri): Uri {
    return Uri.from({ scheme: 'https', authority: `${uri.scheme}+.vscode-resource.vscode-cdn.net`, path: uri.path });
  }
  async postMessage(message: unknown): Promise<boolean> {
    if (this.disposed) throw new Error('Webview is disposed');
    // What crosses into a webview is structured-cloned; cloning here catches non-serializable posts.
    this.posted.push(structuredClone(message));
    return true;
  }
  /** Test helper: the webview script sends `message` to the host. */
  receive(message: unknown): void {
    this.receiveEmitter.fire(structuredClone(message));
  }
}

export class MockWebviewPanel {
  readonly webview = new MockWebview();
  visible = true;
  active = true;
  disposed = false;
  iconPath: unknown;
  private disposeEmitter = new EventEmitter<void>();
  readonly onDidDispose = this.disposeEmitter.event;
  private viewStateEmitter = new EventEmitter<{ webviewPanel: MockWebviewPanel }>();
  readonly onDidChangeViewState = this.viewStateEmitter.event;
  constructor(
    readonly viewType: string,
    public title: string,
    public viewColumn: ViewColumn | undefined,
    readonly options: Record<string, unknown>,
  ) {
    this.webview.options = { ...options };
  }
  reveal(viewColumn?: ViewColumn, _preserveFocus?: boolean): void {
    if (this.disposed) throw new Error('Webview is disposed');
    if (viewColumn !== undefined) this.viewColumn = viewColumn;
    this.visible = true;
    this.active = true;
    this.viewStateEmitter.fire({ webviewPanel: this });
  }
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.webview.disposed = true;
    this.visible = false;
    this.disposeEmitter.fire();
  }
}

export interface TextEditor {
  document: TextDocument;
  selection: Selection;
  selections: Selection[];
  viewColumn: ViewColumn | undefined;
  revealRange(range: Range): void;
}

let activeTextEditor: TextEditor | undefined;
const activeEditorEmitter = new EventEmitter<TextEditor | undefined>();

function makeEditor(doc: TextDocument, selection?: Selection): TextEditor {
  const sel = selection ?? new Selection(0, 0, 0, 0);
  return { document: doc, selection: sel, selections: [sel], viewColumn: ViewColumn.One, revealRange: () => undefined };
}

export type MessageKind = 'info' | 'warning' | 'error';
export interface ShownMessage {
  kind: MessageKind;
  message: string;
  items: string[];
  modal: boolean;
}
type Responder = (m: ShownMessage) => string | undefined;

async function showMessage(kind: MessageKind, message: string, rest: unknown[]): Promise<string | undefined> {
  let modal = false;
  const items: string[] = [];
  for (const r of rest) {
    if (typeof r === 'string') items.push(r);
    else if (r && typeof r === 'object' && 'title' in r) items.push(String((r as { title: string }).title));
    else if (r && typeof r === 'object' && 'modal' in r) modal = Boolean((r as { modal: boolean }).modal);
  }
  const shown: ShownMessage = { kind, message, items, modal };
  state.messages.push(shown);
  const choice = state.responder(shown);
  state.messageEmitter.fire(shown);
  if (choice !== undefined && !items.includes(choice)) {
    throw new Error(`mock: scripted choice ${JSON.stringify(choice)} is not among the offered items ${JSON.stringify(items)}`);
  }
  // Items passed as objects come back as the same objects.
  const obj = rest.find((r) => r && typeof r === 'object' && 'title' in r && (r as { title: string }).title === choice);
  return (obj as string | undefined) ?? choice;
}

export interface ProgressRecord {
  title: string | undefined;
  location: ProgressLocation | { viewId: string };
  cancellable: boolean;
  reports: { message?: string; increment?: number }[];
  /** Cancels the token handed to the task (the user pressed Cancel on the notification). */
  cancel(): void;
  done: boolean;
}

async function withProgress<R>(
  options: { location: ProgressLocation | { viewId: string }; title?: string; cancellable?: boolean },
  task: (progress: { report(v: { message?: string; increment?: number }): void }, token: CancellationToken) => Thenable<R>,
): Promise<R> {
  const cts = new CancellationTokenSource();
  const rec: ProgressRecord = {
    title: options.title,
    location: options.location,
    cancellable: options.cancellable ?? false,
    reports: [],
    cancel: () => cts.cancel(),
    done: false,
  };
  state.progress.push(rec);
  state.progressEmitter.fire(rec);
  try {
    return await task({ report: (v) => void rec.reports.push({ ...v }) }, cts.token);
  } finally {
    rec.done = true;
    cts.dispose();
  }
}

export const window = {
  createOutputChannel(name: string, options?: string | { log: true }): MockOutputChannel {
    const ch = new MockOutputChannel(name, typeof options === 'object' && options.log === true);
    state.outputChannels.push(ch);
    return ch;
  },
  createStatusBarItem(a?: string | StatusBarAlignment, b?: StatusBarAlignment | number, c?: number): MockStatusBarItem {
    const item =
      typeof a === 'string'
        ? new MockStatusBarItem(a, (b as StatusBarAlignment) ?? StatusBarAlignment.Left, c)
        : new MockStatusBarItem(undefined, a ?? StatusBarAlignment.Left, b as number | undefined);
    state.statusBarItems.push(item);
    return item;
  },
  showInformationMessage: (message: string, ...rest: unknown[]) => showMessage('info', message, rest),
  showWarningMessage: (message: string, ...rest: unknown[]) => showMessage('warning', message, rest),
  showErrorMessage: (message: string, ...rest: unknown[]) => showMessage('error', message, rest),
  async showOpenDialog(options?: Record<string, unknown>): Promise<Uri[] | undefined> {
    state.dialogs.push({ kind: 'open', options });
    return state.openDialogAnswers.length ? state.openDialogAnswers.shift() : undefined;
  },
  async showInputBox(options?: Record<string, unknown>): Promise<string | undefined> {
    state.dialogs.push({ kind: 'input', options });
    return state.inputAnswers.length ? state.inputAnswers.shift() : undefined;
  },
  async showQuickPick<T>(items: readonly T[] | Thenable<readonly T[]>, options?: Record<string, unknown>): Promise<T | undefined> {
    const list = await items;
    state.dialogs.push({ kind: 'quickPick', options, items: list });
    const pick = state.quickPickAnswers.shift();
    if (pick === undefined) return undefined;
    return list.find((i) => (typeof i === 'string' ? i : (i as { label: string }).label) === pick);
  },
  withProgress,
  createWebviewPanel(
    viewType: string,
    title: string,
    showOptions: ViewColumn | { viewColumn: ViewColumn; preserveFocus?: boolean },
    options?: Record<string, unknown>,
  ): MockWebviewPanel {
    const col = typeof showOptions === 'object' ? showOptions.viewColumn : showOptions;
    const panel = new MockWebviewPanel(viewType, title, col, options ?? {});
    state.panels.push(panel);
    return panel;
  },
  registerWebviewPanelSerializer(viewType: string, serializer: unknown): Disposable {
    state.serializers.set(viewType, serializer);
    return new Disposable(() => state.serializers.delete(viewType));
  },
  get activeTextEditor(): TextEditor | undefined {
    return activeTextEditor;
  },
  get visibleTextEditors(): TextEditor[] {
    return activeTextEditor ? [activeTextEditor] : [];
  },
  onDidChangeActiveTextEditor: activeEditorEmitter.event,
  async showTextDocument(arg: TextDocument | Uri, options?: { selection?: Range; viewColumn?: ViewColumn; preview?: boolean }): Promise<TextEditor> {
    const doc = arg instanceof TextDocument ? arg : await openTextDocument(arg);
    const sel = options?.selection ? new Selection(options.selection.start, options.selection.end) : undefined;
    activeTextEditor = makeEditor(doc, sel);
    state.shownDocuments.push({ uri: doc.uri, selection: options?.selection });
    activeEditorEmitter.fire(activeTextEditor);
    return activeTextEditor;
  },
};

// ---------------------------------------------------------------------------------------------
// commands, env, l10n
// ---------------------------------------------------------------------------------------------

const registered = new Map<string, (...args: unknown[]) => unknown>();

export const commands = {
  registerCommand(id: string, handler: (...args: any[]) => unknown, thisArg?: unknown): Disposable {
    if (registered.has(id)) throw new Error(`command '${id}' already exists`);
    registered.set(id, thisArg ? handler.bind(thisArg) : handler);
    return new Disposable(() => registered.delete(id));
  },
  async executeCommand<T = unknown>(id: string, ...args: unknown[]): Promise<T> {
    state.executed.push({ id, args });
    if (id === 'setContext') {
      state.contextKeys.set(String(args[0]), args[1]);
      return undefined as T;
    }
    if (id === 'vscode.open') {
      await window.showTextDocument(args[0] as Uri, args[1] as { selection?: Range });
      return undefined as T;
    }
    const h = registered.get(id);
    if (!h) {
      if (state.builtinCommands.has(id)) return undefined as T;
      throw new Error(`command '${id}' not found`);
    }
    return (await h(...args)) as T;
  },
  async getCommands(): Promise<string[]> {
    return [...registered.keys()];
  },
};

export const env = {
  appName: 'Visual Studio Code',
  appRoot: repoRoot,
  language: 'en',
  machineId: 'mock-machine',
  sessionId: 'mock-session',
  uiKind: UIKind.Desktop,
  remoteName: undefined as string | undefined,
  clipboard: {
    text: '',
    async readText(): Promise<string> {
      return this.text;
    },
    async writeText(v: string): Promise<void> {
      this.text = v;
    },
  },
  async openExternal(uri: Uri): Promise<boolean> {
    state.openedExternal.push(uri);
    return true;
  },
  async asExternalUri(uri: Uri): Promise<Uri> {
    return uri;
  },
};

export const l10n = {
  t(message: string, ...args: unknown[]): string {
    return message.replace(/\{(\d+)\}/g, (m, i) => (args[Number(i)] === undefined ? m : String(args[Number(i)])));
  },
};

export const version = '1.100.0';

// ---------------------------------------------------------------------------------------------
// lm and chat: registrations are captured; tests call the provider and the participant's handler
// as VS Code would (mock.chatProvider, mock.sendChatRequest). Present by default, as in VS Code
// 1.104+; `mock.setChatApis` removes them as older VS Code (no registerLanguageModelChatProvider) or
// a host without chat (no createChatParticipant) lacks them.
// ---------------------------------------------------------------------------------------------

export interface MockChatParticipant {
  readonly id: string;
  readonly requestHandler: (...args: any[]) => unknown;
  iconPath?: unknown;
  followupProvider?: unknown;
  readonly onDidReceiveFeedback: Event<unknown>;
  disposed: boolean;
  dispose(): void;
}

/** What a participant wrote to the chat view, part by part (ChatResponseStream). */
export type ChatPart =
  | { kind: 'markdown'; value: string }
  | { kind: 'anchor'; value: Uri | Location; title?: string }
  | { kind: 'reference'; value: Uri | Location }
  | { kind: 'progress'; value: string }
  | { kind: 'button'; command: { command: string; title: string; arguments?: unknown[] } };

export class MockChatResponseStream {
  readonly parts: ChatPart[] = [];
  markdown(value: string | MarkdownString): void {
    this.parts.push({ kind: 'markdown', value: typeof value === 'string' ? value : value.value });
  }
  anchor(value: Uri | Location, title?: string): void {
    this.parts.push({ kind: 'anchor', value, title });
  }
  reference(value: Uri | Location, _iconPath?: unknown): void {
    this.parts.push({ kind: 'reference', value });
  }
  progress(value: string): void {
    this.parts.push({ kind: 'progress', value });
  }
  button(command: { command: string; title: string; arguments?: unknown[] }): void {
    this.parts.push({ kind: 'button', command });
  }
  push(part: unknown): void {
    throw new Error(`mock: ChatResponseStream.push is not implemented (${String(part)})`);
  }
  /** The response as the chat view shows it: markdown, with each anchor as its title. */
  get text(): string {
    return this.parts
      .map((p) => (p.kind === 'markdown' ? p.value : p.kind === 'anchor' ? (p.title ?? (p.value instanceof Uri ? p.value.fsPath : p.value.uri.fsPath)) : ''))
      .join('');
  }
  get markdownText(): string {
    return this.parts.map((p) => (p.kind === 'markdown' ? p.value : '')).join('');
  }
  of<K extends ChatPart['kind']>(kind: K): Extract<ChatPart, { kind: K }>[] {
    return this.parts.filter((p): p is Extract<ChatPart, { kind: K }> => p.kind === kind);
  }
}

const chatApis = { lmProvider: true, participant: true };

function registerLanguageModelChatProvider(vendor: string, provider: unknown): Disposable {
  if (state.chatProviders.has(vendor)) throw new Error(`mock: a chat model provider for vendor '${vendor}' is already registered`);
  state.chatProviders.set(vendor, provider);
  return new Disposable(() => state.chatProviders.delete(vendor));
}

function createChatParticipant(id: string, handler: (...args: any[]) => unknown): MockChatParticipant {
  if (state.chatParticipants.has(id)) throw new Error(`mock: chat participant '${id}' already exists`);
  const feedback = new EventEmitter<unknown>();
  const p: MockChatParticipant = {
    id,
    requestHandler: handler,
    onDidReceiveFeedback: feedback.event,
    disposed: false,
    dispose() {
      p.disposed = true;
      feedback.dispose();
      if (state.chatParticipants.get(id) === p) state.chatParticipants.delete(id);
    },
  };
  state.chatParticipants.set(id, p);
  return p;
}

export const lm: { registerLanguageModelChatProvider?: typeof registerLanguageModelChatProvider } = {
  registerLanguageModelChatProvider,
};

export const chat: { createChatParticipant?: typeof createChatParticipant } = {
  createChatParticipant,
};

function applyChatApis(): void {
  lm.registerLanguageModelChatProvider = chatApis.lmProvider ? registerLanguageModelChatProvider : undefined;
  chat.createChatParticipant = chatApis.participant ? createChatParticipant : undefined;
}

// ---------------------------------------------------------------------------------------------
// ExtensionContext
// ---------------------------------------------------------------------------------------------

class Memento {
  private data = new Map<string, unknown>();
  keys(): readonly string[] {
    return [...this.data.keys()];
  }
  get<T>(key: string, defaultValue?: T): T | undefined {
    return this.data.has(key) ? (structuredClone(this.data.get(key)) as T) : defaultValue;
  }
  async update(key: string, value: unknown): Promise<void> {
    if (value === undefined) this.data.delete(key);
    else this.data.set(key, structuredClone(value));
  }
  setKeysForSync(): void {}
}

/** VS Code's SecretStorage, in memory: get/store/delete and onDidChange, like the real one. */
export class MockSecretStorage {
  private readonly data = new Map<string, string>();
  private readonly emitter = new EventEmitter<{ key: string }>();
  readonly onDidChange = this.emitter.event;
  async get(key: string): Promise<string | undefined> {
    return this.data.get(key);
  }
  async store(key: string, value: string): Promise<void> {
    this.data.set(key, value);
    this.emitter.fire({ key });
  }
  async delete(key: string): Promise<void> {
    if (this.data.delete(key)) this.emitter.fire({ key });
  }
  async keys(): Promise<string[]> {
    return [...this.data.keys()];
  }
}

export interface MockExtensionContext {
  subscriptions: { dispose(): unknown }[];
  extensionPath: string;
  extensionUri: Uri;
  globalStorageUri: Uri;
  globalStoragePath: string;
  storageUri: Uri | undefined;
  logUri: Uri;
  extensionMode: ExtensionMode;
  globalState: Memento;
  workspaceState: Memento;
  secrets: MockSecretStorage;
  asAbsolutePath(relativePath: string): string;
  extension: { id: string; extensionPath: string; extensionUri: Uri; packageJSON: unknown };
}

// ---------------------------------------------------------------------------------------------
// Test controller
// ---------------------------------------------------------------------------------------------

const state = {
  messages: [] as ShownMessage[],
  messageEmitter: new EventEmitter<ShownMessage>(),
  responder: (() => undefined) as Responder,
  progress: [] as ProgressRecord[],
  progressEmitter: new EventEmitter<ProgressRecord>(),
  outputChannels: [] as MockOutputChannel[],
  statusBarItems: [] as MockStatusBarItem[],
  panels: [] as MockWebviewPanel[],
  serializers: new Map<string, unknown>(),
  dialogs: [] as { kind: 'open' | 'input' | 'quickPick'; options?: Record<string, unknown>; items?: readonly unknown[] }[],
  openDialogAnswers: [] as (Uri[] | undefined)[],
  inputAnswers: [] as (string | undefined)[],
  quickPickAnswers: [] as (string | undefined)[],
  shownDocuments: [] as { uri: Uri; selection?: Range }[],
  executed: [] as { id: string; args: unknown[] }[],
  contextKeys: new Map<string, unknown>(),
  openedExternal: [] as Uri[],
  chatProviders: new Map<string, unknown>(),
  chatParticipants: new Map<string, MockChatParticipant>(),
  builtinCommands: new Set<string>(['workbench.action.openSettings', 'workbench.trust.manage', 'revealInExplorer', 'workbench.action.reloadWindow']),
};

export const mock = {
  /** Forget everything recorded and every scripted answer; unregister commands; trusted, no folders, no settings. */
  reset(): void {
    state.messages.length = 0;
    state.responder = () => undefined;
    state.progress.length = 0;
    state.outputChannels.length = 0;
    state.statusBarItems.length = 0;
    state.panels.length = 0;
    state.serializers.clear();
    state.dialogs.length = 0;
    state.openDialogAnswers.length = 0;
    state.inputAnswers.length = 0;
    state.quickPickAnswers.length = 0;
    state.shownDocuments.length = 0;
    state.executed.length = 0;
    state.contextKeys.clear();
    state.openedExternal.length = 0;
    registered.clear();
    state.chatProviders.clear();
    state.chatParticipants.clear();
    chatApis.lmProvider = true;
    chatApis.participant = true;
    applyChatApis();
    configValues.clear();
    openDocuments.clear();
    workspaceFolders = undefined;
    trusted = true;
    activeTextEditor = undefined;
  },
  /** Set (or with `undefined`, clear) a setting by its full key, e.g. `thinkLens.model`. Fires onDidChangeConfiguration. */
  setConfig(key: string, value: unknown): void {
    setConfigValue(key, value);
  },
  setWorkspaceFolders(paths: string[] | undefined): void {
    const removed = workspaceFolders ?? [];
    workspaceFolders = paths?.map((p, index) => ({ uri: Uri.file(p), name: nodePath.basename(p), index }));
    foldersEmitter.fire({ added: workspaceFolders ?? [], removed });
  },
  /** Restricted Mode is `setTrusted(false)`; granting trust fires onDidGrantWorkspaceTrust like VS Code. */
  setTrusted(value: boolean): void {
    const granted = !trusted && value;
    trusted = value;
    if (granted) trustEmitter.fire();
  },
  /** Open `file` in the active editor, optionally with a selection (line/character, zero-based). */
  async setActiveEditor(file: string | undefined, selection?: Selection): Promise<void> {
    if (file === undefined) {
      activeTextEditor = undefined;
    } else {
      const doc = await openTextDocument(Uri.file(file));
      activeTextEditor = makeEditor(doc, selection);
    }
    activeEditorEmitter.fire(activeTextEditor);
  },
  /** Decide what the user clicks on each showInformation/Warning/ErrorMessage (undefined = dismissed). */
  respond(responder: Responder): void {
    state.responder = responder;
  },
  /** Queue answers for showOpenDialog / showInputBox / showQuickPick (by label), consumed in order. */
  queueOpenDialog(answer: Uri[] | undefined): void {
    state.openDialogAnswers.push(answer);
  },
  queueInput(answer: string | undefined): void {
    state.inputAnswers.push(answer);
  },
  queueQuickPick(label: string | undefined): void {
    state.quickPickAnswers.push(label);
  },
  /** Resolves with the next message shown that satisfies `pred`, or one already shown. */
  waitForMessage(pred: (m: ShownMessage) => boolean): Promise<ShownMessage> {
    const seen = state.messages.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => {
      const d = state.messageEmitter.event((m) => {
        if (pred(m)) {
          d.dispose();
          resolve(m);
        }
      });
    });
  },
  onProgress: state.progressEmitter.event,
  get messages(): readonly ShownMessage[] {
    return state.messages;
  },
  get progress(): readonly ProgressRecord[] {
    return state.progress;
  },
  get outputChannels(): readonly MockOutputChannel[] {
    return state.outputChannels;
  },
  get statusBarItems(): readonly MockStatusBarItem[] {
    return state.statusBarItems;
  },
  get panels(): readonly MockWebviewPanel[] {
    return state.panels;
  },
  get serializers(): ReadonlyMap<string, unknown> {
    return state.serializers;
  },
  get dialogs() {
    return state.dialogs;
  },
  get shownDocuments(): readonly { uri: Uri; selection?: Range }[] {
    return state.shownDocuments;
  },
  get executedCommands(): readonly { id: string; args: unknown[] }[] {
    return state.executed;
  },
  get contextKeys(): ReadonlyMap<string, unknown> {
    return state.contextKeys;
  },
  get openedExternal(): readonly Uri[] {
    return state.openedExternal;
  },
  /**
   * Which chat APIs this VS Code has (both by default, as 1.104+): `lmProvider: false` is VS Code
   * before 1.104 (no lm.registerLanguageModelChatProvider), `participant: false` a host without chat.
   */
  setChatApis(apis: { lmProvider?: boolean; participant?: boolean }): void {
    Object.assign(chatApis, apis);
    applyChatApis();
  },
  /** The chat model provider registered for `vendor` (as the extension wrote it: call its methods). */
  chatProvider<T = unknown>(vendor: string): T | undefined {
    return state.chatProviders.get(vendor) as T | undefined;
  },
  get chatProviderVendors(): string[] {
    return [...state.chatProviders.keys()];
  },
  get chatParticipants(): ReadonlyMap<string, MockChatParticipant> {
    return state.chatParticipants;
  },
  /** Sends `prompt` to a participant as the chat view does; the stream records what it wrote. */
  async sendChatRequest(
    id: string,
    prompt: string,
    token: CancellationToken = new CancellationTokenSource().token,
  ): Promise<{ result: unknown; stream: MockChatResponseStream }> {
    const p = state.chatParticipants.get(id);
    if (!p) throw new Error(`mock: no chat participant '${id}'`);
    const stream = new MockChatResponseStream();
    const request = { prompt, command: undefined, references: [], toolReferences: [], toolInvocationToken: undefined, model: undefined };
    const result = await p.requestHandler(request, { history: [] }, stream, token);
    return { result, stream };
  },
  registeredCommands(): string[] {
    return [...registered.keys()];
  },
  createExtensionContext(opts: { extensionPath?: string; globalStorage: string; mode?: ExtensionMode }): MockExtensionContext {
    const extensionPath = opts.extensionPath ?? repoRoot;
    let packageJSON: unknown = {};
    try {
      packageJSON = JSON.parse(fs.readFileSync(nodePath.join(extensionPath, 'package.json'), 'utf8'));
    } catch {
      // An extension folder without package.json is only used by tests that do not read it.
    }
    return {
      subscriptions: [],
      extensionPath,
      extensionUri: Uri.file(extensionPath),
      globalStorageUri: Uri.file(opts.globalStorage),
      globalStoragePath: opts.globalStorage,
      storageUri: undefined,
      logUri: Uri.file(nodePath.join(opts.globalStorage, 'logs')),
      extensionMode: opts.mode ?? ExtensionMode.Test,
      globalState: new Memento(),
      workspaceState: new Memento(),
      secrets: new MockSecretStorage(),
      asAbsolutePath: (rel: string) => nodePath.join(extensionPath, rel),
      extension: { id: 'think-lens.think-lens', extensionPath, extensionUri: Uri.file(extensionPath), packageJSON },
    };
  },
};
