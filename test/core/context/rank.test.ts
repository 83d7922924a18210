// BM25 ranking over identifier words: tokenization, the obvious file first for identifier
// questions, path boost, stable order, and a 10,000-file corpus.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { queryTerms, rankFiles, tokenize } from '../../../core/context/rank';

test('tokenize splits camelCase, PascalCase, acronyms, snake, kebab and digits, keeping joined identifiers', () => {
  assert.deepEqual(tokenize('parseConfigFile'), ['parse', 'config', 'file', 'parseconfigfile']);
  assert.deepEqual(tokenize('parse_config_file.ts'), ['parse', 'config', 'file', 'parseconfigfile', 'ts']);
  assert.deepEqual(tokenize('parse-config-file'), ['parse', 'config', 'file', 'parseconfigfile']);
  assert.deepEqual(tokenize('HTTPServer2'), ['http', 'server', '2', 'httpserver2']);
  assert.deepEqual(tokenize('MAX_RETRY_COUNT'), ['max', 'retry', 'count', 'maxretrycount']);
  assert.deepEqual(tokenize('utf8Decoder'), ['utf', '8', 'decoder', 'utf8decoder']);
  assert.deepEqual(tokenize('x'), ['x']);
  assert.deepEqual(tokenize('  — ✓ '), []);
});

test('queryTerms drops question words and repeats', () => {
  assert.deepEqual(queryTerms('Where is parseConfigFile defined?'), [
    { term: 'parse', weight: 0.5 },
    { term: 'config', weight: 0.5 },
    { term: 'parseconfigfile', weight: 2 },
  ]);
  assert.deepEqual(queryTerms('config parse_config'), [
    { term: 'config', weight: 1 },
    { term: 'parse', weight: 0.5 },
    { term: 'parseconfig', weight: 2 },
  ]);
  assert.deepEqual(queryTerms('the the what'), []);
});

/** A realistic little project where several files mention configuration. */
function project() {
  return [
    { path: 'README.md', text: '# App\nConfiguration lives in config files. Parse the config with the CLI.\n' },
    { path: 'src/cli.ts', text: "import { parseConfigFile } from './config/parse_config_file';\nconst cfg = parseConfigFile(argv[2]);\n" },
    { path: 'src/config/parse_config_file.ts', text: 'export function parseConfigFile(path: string): Config {\n  return JSON.parse(readFileSync(path, "utf8"));\n}\n' },
    { path: 'src/config/defaults.ts', text: 'export const DEFAULT_CONFIG: Config = { retries: 3 };\n// config config config config\n' },
    { path: 'src/server/http_server.ts', text: 'export class HttpServer { listen(port: number) {} }\n' },
    { path: 'tests/parse.test.ts', text: 'test("parse", () => parse("x"));\n' },
  ];
}

test('an identifier question ranks the defining file first', () => {
  const ranked = rankFiles(project(), 'where is parseConfigFile defined');
  assert.equal(ranked[0].file.path, 'src/config/parse_config_file.ts');
  assert.ok(ranked[0].score > ranked[1].score, 'strictly ahead');
  // The caller comes next: it contains the exact identifier twice.
  assert.equal(ranked[1].file.path, 'src/cli.ts');
});

test('snake_case and words in the question find camelCase code and vice versa', () => {
  const ranked = rankFiles(project(), 'how does the http_server listen');
  assert.equal(ranked[0].file.path, 'src/server/http_server.ts');
  const r2 = rankFiles(project(), 'DEFAULT CONFIG retries');
  assert.equal(r2[0].file.path, 'src/config/defaults.ts');
});

test('the path boost: a file named after the term beats one that only mentions it', () => {
  const files = [
    { path: 'src/a.ts', text: 'tokenizer tokenizer\n' },
    { path: 'src/tokenizer.ts', text: 'tokenizer\n' },
  ];
  assert.equal(rankFiles(files, 'tokenizer', { pathBoost: 3 })[0].file.path, 'src/tokenizer.ts');
  assert.equal(rankFiles(files, 'tokenizer', { pathBoost: 0 })[0].file.path, 'src/a.ts');
});

test('order is stable: ties and zero scores follow path order, whatever the input order', () => {
  const files = [
    { path: 'b.ts', text: 'alpha' },
    { path: 'a.ts', text: 'alpha' },
    { path: 'z.ts', text: 'nothing' },
    { path: 'c.ts', text: 'nothing' },
  ];
  const order = (fs: typeof files) => rankFiles(fs, 'alpha').map((r) => r.file.path);
  assert.deepEqual(order(files), ['a.ts', 'b.ts', 'c.ts', 'z.ts']);
  assert.deepEqual(order([...files].reverse()), ['a.ts', 'b.ts', 'c.ts', 'z.ts']);
  assert.deepEqual(
    rankFiles(files, 'what is the').map((r) => [r.file.path, r.score]),
    [['a.ts', 0], ['b.ts', 0], ['c.ts', 0], ['z.ts', 0]],
  );
});

test('bad options are refused clearly', () => {
  assert.throws(() => rankFiles([], 'x', { b: 2 }), /0 <= b <= 1/);
});

test('10,000 files: the one defining the asked identifier ranks first', () => {
  const files = [];
  const words = ['user', 'account', 'session', 'token', 'cache', 'request', 'handler', 'config', 'parse', 'file', 'load', 'save'];
  for (let i = 0; i < 10_000; i++) {
    const a = words[i % words.length];
    const b = words[(i * 7 + 3) % words.length];
    const c = words[(i * 5 + 1) % words.length];
    files.push({
      path: `pkg${i % 97}/src/${a}_${b}_${i}.ts`,
      // Many files use the words parse, config and file separately.
      text: `export function ${a}${b[0].toUpperCase()}${b.slice(1)}${i}(x: number) {\n  return ${c}(x) + ${i};\n}\n// parse config file ${a}\n`,
    });
  }
  files.push({ path: 'pkg5/src/settings_reader.ts', text: 'export function parseConfigFile(p: string) {\n  return read(p);\n}\n' });
  const ranked = rankFiles(files, 'where is parseConfigFile defined');
  assert.equal(ranked.length, 10_001);
  assert.equal(ranked[0].file.path, 'pkg5/src/settings_reader.ts');
  for (let i = 1; i < ranked.length; i++) assert.ok(ranked[i - 1].score >= ranked[i].score);
});
