// Ollama's and LM Studio's stores laid out as the tools write them, in a temporary home.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { findLocalModels, lmStudioFolders, ollamaStores } from '../../core/localModels';

const root = mkdtempSync(join(tmpdir(), 'think-local-models-'));
after(() => rmSync(root, { recursive: true, force: true }));

const gguf = (extra = '') => Buffer.concat([Buffer.from('GGUF'), Buffer.from([3, 0, 0, 0]), Buffer.from(extra)]);
function put(path: string, data: string | Buffer): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, data);
}
const digest = (c: string) => c.repeat(64);
function manifest(store: string, name: string[], modelDigest: string | null): void {
  const layers = [{ mediaType: 'application/vnd.ollama.image.template', digest: `sha256:${digest('e')}`, size: 10 }];
  if (modelDigest) layers.unshift({ mediaType: 'application/vnd.ollama.image.model', digest: `sha256:${modelDigest}`, size: 12 });
  put(join(store, 'manifests', ...name), JSON.stringify({ schemaVersion: 2, layers }));
}

test('Ollama: manifests name blobs; library models read as name:tag, others keep their namespace and registry', () => {
  const home = join(root, 'home1');
  const store = join(home, '.ollama', 'models');
  manifest(store, ['registry.ollama.ai', 'library', 'qwen2.5-coder', '1.5b'], digest('a'));
  put(join(store, 'blobs', `sha256-${digest('a')}`), gguf('qwen'));
  manifest(store, ['registry.ollama.ai', 'someone', 'tiny', 'latest'], digest('b'));
  put(join(store, 'blobs', `sha256-${digest('b')}`), gguf());
  manifest(store, ['hf.co', 'bartowski', 'Llama-3.2-1B-Instruct-GGUF', 'Q4_K_M'], digest('c'));
  put(join(store, 'blobs', `sha256-${digest('c')}`), gguf());
  manifest(store, ['registry.ollama.ai', 'library', 'half-pulled', 'latest'], digest('d')); // blob missing
  manifest(store, ['registry.ollama.ai', 'library', 'embedder', 'v1'], null); // no model layer
  put(join(store, 'manifests', 'registry.ollama.ai', 'library', 'broken', 'x'), '{not json');

  const { models, skipped } = findLocalModels({ home, env: {} });
  assert.deepEqual(
    models.map((m) => [m.source, m.name, m.path, m.bytes]),
    [
      ['ollama', 'hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M', join(store, 'blobs', `sha256-${digest('c')}`), 8],
      ['ollama', 'qwen2.5-coder:1.5b', join(store, 'blobs', `sha256-${digest('a')}`), 12],
      ['ollama', 'someone/tiny:latest', join(store, 'blobs', `sha256-${digest('b')}`), 8],
    ],
  );
  const why = skipped.map((s) => s.why).join('\n');
  assert.match(why, /sha256-d{64} is missing \(an unfinished download\?\)/);
  assert.match(why, /no application\/vnd\.ollama\.image\.model layer/);
  assert.match(why, /not an Ollama manifest/);
});

test('Ollama: $OLLAMA_MODELS comes first; the system service store is always looked at', () => {
  const stores = ollamaStores({ home: '/h', env: { OLLAMA_MODELS: '/data/ollama' } });
  assert.deepEqual(stores, ['/data/ollama', '/h/.ollama/models', '/usr/share/ollama/.ollama/models']);
});

test('LM Studio: publisher/model/file.gguf under every models folder; non-GGUF files are skipped with the reason', () => {
  const home = join(root, 'home2');
  const models = join(home, '.lmstudio', 'models');
  put(join(models, 'lmstudio-community', 'Qwen2.5-Coder-1.5B-Instruct-GGUF', 'Qwen2.5-Coder-1.5B-Instruct-Q4_K_M.gguf'), gguf('abc'));
  put(join(models, 'lmstudio-community', 'Qwen2.5-Coder-1.5B-Instruct-GGUF', 'README.md'), 'hello');
  put(join(models, 'someone', 'broken', 'fake.gguf'), 'not a gguf');
  put(join(home, '.cache', 'lm-studio', 'models', 'old', 'model', 'legacy.gguf'), gguf());
  const { models: found, skipped } = findLocalModels({ home, env: {} });
  assert.deepEqual(
    found.map((m) => [m.source, m.name]),
    [
      ['lmstudio', 'lmstudio-community/Qwen2.5-Coder-1.5B-Instruct-GGUF/Qwen2.5-Coder-1.5B-Instruct-Q4_K_M.gguf'],
      ['lmstudio', 'old/model/legacy.gguf'],
    ],
  );
  assert.match(skipped.map((s) => s.why).join('\n'), /fake\.gguf is not a GGUF file/);
});

test('LM Studio: the home pointer and settings.json downloadsFolder move the models folder', () => {
  const home = join(root, 'home3');
  const lmHome = join(root, 'elsewhere', 'lmstudio');
  put(join(home, '.lmstudio-home-pointer'), `${lmHome}\n`);
  put(join(lmHome, 'settings.json'), JSON.stringify({ downloadsFolder: join(root, 'big-disk', 'models') }));
  assert.deepEqual(lmStudioFolders({ home }), [join(root, 'big-disk', 'models'), join(lmHome, 'models'), join(home, '.cache', 'lm-studio', 'models')]);
});

test('nothing installed: no models, nothing skipped', () => {
  assert.deepEqual(findLocalModels({ home: join(root, 'empty-home'), env: {} }), { models: [], skipped: [] });
});
