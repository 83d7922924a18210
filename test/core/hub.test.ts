// Hub downloads against a real local HTTP server with the Hub's URL layout (test/support/hubServer.ts):
// listing with pagination, redirects, progress, resume with Range after a dropped connection,
// checksum rejection, offline and gated errors, cancellation.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import {
  ChecksumError,
  DownloadCancelledError,
  downloadModel,
  HubError,
  HubOfflineError,
  listRepoFiles,
  type DownloadProgress,
} from '../../core/hub';
import { HubServer, sha256, type HubServerFile } from '../support/hubServer';

const REPO = 'test-org/tiny-model';
const WEIGHTS = randomBytes(3 * 1024 * 1024 + 123);

function repoFiles(): HubServerFile[] {
  return [
    { path: 'config.json', content: Buffer.from(JSON.stringify({ architectures: ['LlamaForCausalLM'], hidden_size: 64 })) },
    { path: 'tokenizer.json', content: Buffer.from(JSON.stringify({ model: { type: 'BPE', vocab: { a: 0 } } })) },
    { path: 'README.md', content: Buffer.from('# tiny\n') },
    { path: 'model.safetensors', content: WEIGHTS, lfs: true },
    // Not needed by the runtime: must not be fetched.
    { path: 'pytorch_model.bin', content: randomBytes(1000), lfs: true },
    { path: 'onnx/model.onnx', content: randomBytes(1000), lfs: true },
  ];
}

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'think-lens-hub-'));
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function withServer(fn: (hub: HubServer) => Promise<void>): Promise<void> {
  const hub = await HubServer.start(REPO, repoFiles());
  try {
    await fn(hub);
  } finally {
    await hub.close();
  }
}

test('lists every file across pages, skipping directories, with sha256 for LFS and git oids otherwise', () =>
  withServer(async (hub) => {
    hub.pageSize = 2;
    const files = await listRepoFiles(REPO, 'main', { endpoint: hub.url });
    assert.deepEqual(
      files.map((f) => f.path),
      repoFiles().map((f) => f.path),
    );
    const weights = files.find((f) => f.path === 'model.safetensors')!;
    assert.equal(weights.sha256, sha256(WEIGHTS));
    assert.equal(weights.size, WEIGHTS.length);
    assert.match(files.find((f) => f.path === 'config.json')!.gitOid ?? '', /^[0-9a-f]{40}$/);
    assert.ok(hub.requests.filter((r) => r.url.includes('/tree/')).length >= 3, 'followed the Link pagination');
  }));

test('downloads the model files (not other formats or subfolders), verified, with progress', () =>
  withServer(async (hub) => {
    const out = tempDir();
    const events: DownloadProgress[] = [];
    const result = await downloadModel({ repo: REPO, outDir: out, endpoint: hub.url, onProgress: (p) => events.push({ ...p }) });
    assert.deepEqual(readdirSync(out).sort(), ['README.md', 'config.json', 'model.safetensors', 'tokenizer.json']);
    for (const f of repoFiles().filter((f) => existsSync(join(out, f.path)))) assert.ok(readFileSync(join(out, f.path)).equals(f.content), f.path);
    const total = repoFiles().filter((f) => !f.path.includes('/') && !f.path.endsWith('.bin')).reduce((s, f) => s + f.content.length, 0);
    assert.equal(result.downloadedBytes, total);
    assert.equal(events.at(-1)!.bytes, total);
    assert.equal(events.at(-1)!.total, total);
    assert.equal(events.at(-1)!.filesDone, 4);
    for (let i = 1; i < events.length; i++) assert.ok(events[i].bytes >= events[i - 1].bytes, 'overall progress never goes back');
    const weightEvents = events.filter((e) => e.file === 'model.safetensors');
    assert.ok(weightEvents.length > 2, 'progress reported during the large file, not only at its end');
    assert.ok(weightEvents.some((e) => e.fileBytes > 0 && e.fileBytes < WEIGHTS.length));
    assert.ok(!hub.requests.some((r) => r.url.includes('pytorch_model.bin') || r.url.includes('onnx')));

    // A second run finds every file complete and transfers nothing.
    const before = hub.requests.length;
    const again = await downloadModel({ repo: REPO, outDir: out, endpoint: hub.url });
    assert.equal(again.downloadedBytes, 0);
    assert.ok(hub.requests.slice(before).every((r) => r.url.startsWith('/api/')));
  }));

test('a connection cut mid-file is resumed with a Range request and the result verifies', () =>
  withServer(async (hub) => {
    const out = tempDir();
    const cut = 1024 * 1024;
    hub.cutAfter.set('model.safetensors', cut);
    await downloadModel({ repo: REPO, outDir: out, endpoint: hub.url });
    const transfers = hub.transfersOf('model.safetensors');
    assert.equal(transfers.length, 2);
    assert.equal(transfers[0].range, undefined);
    const resumedFrom = Number(/^bytes=(\d+)-$/.exec(transfers[1].range ?? '')?.[1]);
    // The server closes the socket after `cut` bytes; what was still in flight when the reset
    // arrived is lost, so the client resumes from what it really wrote: after 0, at most `cut`.
    assert.ok(resumedFrom > 0 && resumedFrom <= cut, `resumed from byte ${transfers[1].range}`);
    assert.equal(sha256(readFileSync(join(out, 'model.safetensors'))), sha256(WEIGHTS));
    assert.ok(!existsSync(join(out, 'model.safetensors.part')));
  }));

test('a partial file left by an earlier run is resumed by the next run', () =>
  withServer(async (hub) => {
    const out = tempDir();
    hub.cutAfter.set('model.safetensors', 500_000);
    await assert.rejects(downloadModel({ repo: REPO, outDir: out, endpoint: hub.url, retries: 0 }), (e: Error) => {
      assert.ok(e instanceof HubError);
      assert.match(e.message, /model\.safetensors: the connection dropped .*run the download again to resume/);
      return true;
    });
    const partial = statSync(join(out, 'model.safetensors.part')).size;
    assert.ok(partial >= 500_000 && partial < WEIGHTS.length);
    await downloadModel({ repo: REPO, outDir: out, endpoint: hub.url, retries: 0 });
    assert.equal(hub.transfersOf('model.safetensors').at(-1)!.range, `bytes=${partial}-`);
    assert.ok(readFileSync(join(out, 'model.safetensors')).equals(WEIGHTS));
  }));

test('a server that ignores Range gets a fresh download instead of a spliced file', () =>
  withServer(async (hub) => {
    const out = tempDir();
    hub.ignoreRange = true;
    writeFileSync(join(out, 'model.safetensors.part'), WEIGHTS.subarray(0, 100_000));
    await downloadModel({ repo: REPO, outDir: out, endpoint: hub.url });
    assert.equal(hub.transfersOf('model.safetensors')[0].range, 'bytes=100000-');
    assert.ok(readFileSync(join(out, 'model.safetensors')).equals(WEIGHTS));
  }));

test('a corrupt LFS file is rejected by sha256 and deleted', () =>
  withServer(async (hub) => {
    const out = tempDir();
    hub.corrupt.add('model.safetensors');
    await assert.rejects(downloadModel({ repo: REPO, outDir: out, endpoint: hub.url }), (e: Error) => {
      assert.ok(e instanceof ChecksumError);
      assert.equal(e.expected, sha256(WEIGHTS));
      assert.match(e.message, /^model\.safetensors: checksum mismatch \(expected [0-9a-f]{64}, got [0-9a-f]{64}\); the corrupt download was deleted/);
      return true;
    });
    assert.ok(!existsSync(join(out, 'model.safetensors')));
    assert.ok(!existsSync(join(out, 'model.safetensors.part')));
  }));

test('a corrupt small git file is rejected by its git blob id', () =>
  withServer(async (hub) => {
    const out = tempDir();
    hub.corrupt.add('tokenizer.json');
    await assert.rejects(downloadModel({ repo: REPO, outDir: out, endpoint: hub.url }), /^ChecksumError: tokenizer\.json: checksum mismatch/);
    assert.ok(!existsSync(join(out, 'tokenizer.json')) && !existsSync(join(out, 'tokenizer.json.part')));
  }));

test('an unreachable endpoint gives the offline message that points to a local folder', async () => {
  const server = createServer();
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((ok) => server.close(() => ok()));
  await assert.rejects(downloadModel({ repo: REPO, outDir: tempDir(), endpoint: `http://127.0.0.1:${port}` }), (e: Error) => {
    assert.ok(e instanceof HubOfflineError);
    assert.equal(e.message, `cannot reach 127.0.0.1:${port} (ECONNREFUSED): check the network connection, or download the model elsewhere and use Select Model Folder / --model DIR`);
    return true;
  });
});

test('HF_ENDPOINT picks the server when no endpoint is passed', () =>
  withServer(async (hub) => {
    const saved = process.env.HF_ENDPOINT;
    process.env.HF_ENDPOINT = hub.url;
    try {
      const files = await listRepoFiles(REPO, 'main');
      assert.equal(files.length, repoFiles().length);
    } finally {
      if (saved === undefined) delete process.env.HF_ENDPOINT;
      else process.env.HF_ENDPOINT = saved;
    }
  }));

test('gated repositories, unknown repositories and bad ids get specific messages', () =>
  withServer(async (hub) => {
    await assert.rejects(listRepoFiles('nobody/nothing', 'main', { endpoint: hub.url }), /^HubError: nobody\/nothing: repository not found/);
    await assert.rejects(listRepoFiles('../etc', 'main', { endpoint: hub.url }), /is not a repository id/);
    hub.apiStatus = 401;
    await assert.rejects(listRepoFiles(REPO, 'main', { endpoint: hub.url }), /access denied \(HTTP 401\).*set HF_TOKEN/);
  }));

test('a repository without safetensors is refused before anything is written', async () => {
  const hub = await HubServer.start(REPO, [{ path: 'config.json', content: Buffer.from('{}') }, { path: 'pytorch_model.bin', content: randomBytes(10), lfs: true }]);
  try {
    const out = join(tempDir(), 'never');
    await assert.rejects(downloadModel({ repo: REPO, outDir: out, endpoint: hub.url }), /has no \.safetensors weights/);
    assert.ok(!existsSync(out));
  } finally {
    await hub.close();
  }
});

test('an AbortSignal stops the download and keeps the partial file for a resume', () =>
  withServer(async (hub) => {
    const out = tempDir();
    const ac = new AbortController();
    await assert.rejects(
      downloadModel({
        repo: REPO,
        outDir: out,
        endpoint: hub.url,
        signal: ac.signal,
        onProgress: (p) => {
          if (p.file === 'model.safetensors' && p.fileBytes > 0) ac.abort();
        },
      }),
      (e: Error) => e instanceof DownloadCancelledError,
    );
    assert.ok(!existsSync(join(out, 'model.safetensors')));
    assert.ok(existsSync(join(out, 'model.safetensors.part')));
  }));
