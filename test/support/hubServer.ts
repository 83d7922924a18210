// A real local HTTP server with the Hugging Face Hub's URL layout, for download tests:
//   GET /api/models/{owner}/{name}/tree/{revision}?recursive=true  -> file entries (paginated)
//   GET /{owner}/{name}/resolve/{revision}/{path}                    -> the file (LFS files via a
//                                                                      302 to /cdn/{sha256}, as the Hub does)
// It honours Range (206 + Content-Range), and on request cuts a connection mid-file, serves
// corrupted bytes under the right metadata, or ignores Range. Every request is recorded.
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HubServerFile {
  path: string;
  content: Buffer;
  /** Stored with git LFS (listed with `lfs.oid` = sha256); else a git blob (listed with `oid`). */
  lfs?: boolean;
}

export interface RecordedRequest {
  method: string;
  url: string;
  range?: string;
}

export class HubServer {
  readonly requests: RecordedRequest[] = [];
  /** path -> byte count: the next transfer of that file stops after this many body bytes (once). */
  readonly cutAfter = new Map<string, number>();
  /** Paths whose content is served with one byte flipped (metadata still lists the true hash). */
  readonly corrupt = new Set<string>();
  /** Answer Range requests with the whole file (200), as some proxies do. */
  ignoreRange = false;
  /** Tree entries per page (pagination through Link: rel="next"). */
  pageSize = 1000;
  /** Status for every API call (e.g. 401 to act as a gated repository); 0 = normal. */
  apiStatus = 0;

  private constructor(
    private readonly server: Server,
    readonly repo: string,
    readonly revision: string,
    readonly files: HubServerFile[],
  ) {}

  static async start(repo: string, files: HubServerFile[], revision = 'main'): Promise<HubServer> {
    let hub!: HubServer;
    const server = createServer((req, res) => hub.handle(req, res));
    hub = new HubServer(server, repo, revision, files);
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    return hub;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Requests whose path starts with the resolve or CDN URL of `path`. */
  transfersOf(path: string): RecordedRequest[] {
    const file = this.files.find((f) => f.path === path);
    const cdn = file ? `/cdn/${sha256(file.content)}` : '\0';
    return this.requests.filter((r) => r.url.startsWith(cdn) || (!file?.lfs && r.url.includes(`/resolve/${this.revision}/${path}`)));
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((ok) => this.server.close(() => ok()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', this.url);
    this.requests.push({ method: req.method ?? 'GET', url: url.pathname + url.search, range: req.headers.range });
    const treePrefix = `/api/models/${this.repo}/tree/${encodeURIComponent(this.revision)}`;
    const resolvePrefix = `/${this.repo}/resolve/${encodeURIComponent(this.revision)}/`;
    if (url.pathname === treePrefix) return this.tree(url, res);
    if (url.pathname.startsWith('/api/')) return notFound(res, 'RepoNotFound');
    if (url.pathname.startsWith(resolvePrefix)) {
      const path = decodeURIComponent(url.pathname.slice(resolvePrefix.length));
      const file = this.files.find((f) => f.path === path);
      if (!file) return notFound(res, 'EntryNotFound');
      if (file.lfs) {
        // The Hub sends LFS content from elsewhere; a relative Location is enough to exercise it.
        res.writeHead(302, { location: `/cdn/${sha256(file.content)}?name=${encodeURIComponent(path)}` });
        return void res.end();
      }
      return this.send(file, req, res);
    }
    if (url.pathname.startsWith('/cdn/')) {
      const file = this.files.find((f) => f.lfs && sha256(f.content) === url.pathname.slice(5));
      if (!file) return notFound(res, 'EntryNotFound');
      return this.send(file, req, res);
    }
    notFound(res, 'RepoNotFound');
  }

  private tree(url: URL, res: ServerResponse): void {
    if (this.apiStatus) {
      res.writeHead(this.apiStatus, { 'content-type': 'application/json', 'x-error-code': 'GatedRepo' });
      return void res.end(JSON.stringify({ error: 'gated' }));
    }
    const start = Number(url.searchParams.get('cursor') ?? 0);
    const page = this.files.slice(start, start + this.pageSize);
    const entries = page.map((f) =>
      f.lfs
        ? { type: 'file', path: f.path, size: f.content.length, oid: gitBlobOid(Buffer.from(`pointer ${f.path}`)), lfs: { oid: sha256(f.content), size: f.content.length, pointerSize: 134 } }
        : { type: 'file', path: f.path, size: f.content.length, oid: gitBlobOid(f.content) },
    );
    // A directory entry, as the real API lists folders too: the client must skip it.
    if (start === 0) entries.push({ type: 'directory', path: 'original', size: 0, oid: '0'.repeat(40) } as (typeof entries)[number]);
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (start + this.pageSize < this.files.length) {
      const next = new URL(url.href);
      next.searchParams.set('cursor', String(start + this.pageSize));
      headers.link = `<${next.href}>; rel="next"`;
    }
    res.writeHead(200, headers);
    res.end(JSON.stringify(entries));
  }

  private send(file: HubServerFile, req: IncomingMessage, res: ServerResponse): void {
    let body = file.content;
    if (this.corrupt.has(file.path)) {
      body = Buffer.from(body);
      body[body.length >> 1] ^= 0xff;
    }
    let start = 0;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (range && !this.ignoreRange) {
      start = Number(range[1]);
      if (start >= body.length) {
        res.writeHead(416, { 'content-range': `bytes */${body.length}` });
        return void res.end();
      }
      res.writeHead(206, { 'content-length': body.length - start, 'content-range': `bytes ${start}-${body.length - 1}/${body.length}`, 'accept-ranges': 'bytes' });
    } else {
      res.writeHead(200, { 'content-length': body.length, 'accept-ranges': 'bytes' });
    }
    const rest = body.subarray(start);
    const cut = this.cutAfter.get(file.path);
    if (cut !== undefined && cut < rest.length) {
      this.cutAfter.delete(file.path);
      // Send part of the body, then drop the socket: the client sees a truncated transfer.
      res.write(rest.subarray(0, cut), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    res.end(rest);
  }
}

function notFound(res: ServerResponse, code: string): void {
  res.writeHead(404, { 'x-error-code': code, 'content-type': 'text/plain' });
  res.end(code);
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Git's blob id: sha1 over "blob <size>\0" + content (what the Hub lists as `oid` for git files). */
export function gitBlobOid(data: Buffer): string {
  return createHash('sha1').update(`blob ${data.length}\0`).update(data).digest('hex');
}
