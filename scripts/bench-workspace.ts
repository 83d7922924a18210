// Codebase-context benchmark (a script, not a test): builds a synthetic 10,000-file workspace in a
// temp dir (TypeScript, Python and Markdown, with binaries, a lock file, minified bundles, a nested
// .gitignore and a node_modules folder), then times scan, rank and pack and prints the figures.
// Tokens are counted with SmolLM2's real tokenizer when ../shared/models is present, else with a
// bytes/4 stand-in (said so in the output).
//   npx tsx scripts/bench-workspace.ts [--files 10000] [--budget 8192] [--runs 3] [--keep]
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Tokenizer } from '../runtime/text/tokenizer';
import { packFiles, type TokenCounter } from '../core/context/pack';
import { rankFiles } from '../core/context/rank';
import { scanWorkspace } from '../core/context/scan';

const root = resolve(__dirname, '..');
const SMOLLM2 = resolve(root, '../shared/models/smollm2-135m-instruct');

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
}

/** A deterministic generator, so every run scans the same tree. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const WORDS = ['user', 'account', 'session', 'token', 'cache', 'request', 'handler', 'config', 'parse', 'file', 'load', 'save', 'render', 'index', 'query', 'stream', 'buffer', 'client', 'server', 'model'];

function camel(parts: string[]): string {
  return parts.map((p, i) => (i ? p[0].toUpperCase() + p.slice(1) : p)).join('');
}

function tsFile(r: () => number, i: number): string {
  const pick = () => WORDS[Math.floor(r() * WORDS.length)];
  let out = `import { ${camel([pick(), pick()])} } from './${pick()}_${pick()}';\n\n`;
  const fns = 3 + Math.floor(r() * 12);
  for (let f = 0; f < fns; f++) {
    const name = camel([pick(), pick(), pick()]) + i;
    out += `/** ${pick()} the ${pick()} for the ${pick()}. */\nexport function ${name}(${pick()}: string, ${pick()}Count: number): number {\n`;
    for (let l = 0; l < 3 + Math.floor(r() * 10); l++) out += `  const ${pick()}${l} = ${pick()}Count * ${l} + ${Math.floor(r() * 100)};\n`;
    out += `  return ${pick()}Count;\n}\n\n`;
  }
  return out;
}

function pyFile(r: () => number, i: number): string {
  const pick = () => WORDS[Math.floor(r() * WORDS.length)];
  let out = `"""${pick()} ${pick()} utilities."""\nimport os\n\n`;
  for (let f = 0; f < 2 + Math.floor(r() * 8); f++) {
    out += `def ${pick()}_${pick()}_${i}_${f}(${pick()}, ${pick()}=None):\n`;
    for (let l = 0; l < 2 + Math.floor(r() * 8); l++) out += `    ${pick()}_${l} = os.path.join(${pick()}, "${pick()}")\n`;
    out += `    return ${pick()}\n\n`;
  }
  return out;
}

function mdFile(r: () => number): string {
  const pick = () => WORDS[Math.floor(r() * WORDS.length)];
  let out = `# The ${pick()} ${pick()}\n\n`;
  for (let p = 0; p < 3 + Math.floor(r() * 6); p++) {
    out += Array.from({ length: 20 + Math.floor(r() * 40) }, pick).join(' ') + '.\n\n';
  }
  return out;
}

/** Writes the tree; returns how many text files a correct scan must find. */
function buildTree(dir: string, n: number): { textFiles: number; needle: string } {
  const r = rng(42);
  let textFiles = 0;
  writeFileSync(join(dir, '.gitignore'), 'build/\n*.log\n');
  textFiles++;
  writeFileSync(join(dir, 'package-lock.json'), '{"lockfileVersion": 3}\n');
  const perDir = 50;
  for (let i = 0; i < n; i++) {
    const d = join(dir, `packages/p${Math.floor(i / (perDir * 20))}/src/m${Math.floor(i / perDir)}`);
    if (i % perDir === 0) mkdirSync(d, { recursive: true });
    const kind = r();
    if (i % 100 === 0) writeFileSync(join(d, `image${i}.png`), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 13, ...Array.from({ length: 2000 }, () => Math.floor(r() * 256))]));
    else if (i % 250 === 1) writeFileSync(join(d, `bundle${i}.js`), 'var a=1;'.repeat(2000));
    else if (i % 97 === 2) writeFileSync(join(d, `debug${i}.log`), 'log line\n'.repeat(50));
    else {
      const name = `${WORDS[i % WORDS.length]}_${WORDS[(i * 7) % WORDS.length]}_${i}`;
      writeFileSync(join(d, kind < 0.6 ? `${name}.ts` : kind < 0.85 ? `${name}.py` : `${name}.md`), kind < 0.6 ? tsFile(r, i) : kind < 0.85 ? pyFile(r, i) : mdFile(r));
      textFiles++;
    }
  }
  // The file the benchmark's question is about.
  const needle = 'packages/p3/src/config/parse_config_file.ts';
  mkdirSync(join(dir, 'packages/p3/src/config'), { recursive: true });
  writeFileSync(join(dir, needle), 'export function parseConfigFile(path: string): Config {\n  return JSON.parse(readFileSync(path, "utf8"));\n}\n');
  textFiles++;
  mkdirSync(join(dir, 'node_modules/dep'), { recursive: true });
  writeFileSync(join(dir, 'node_modules/dep/index.js'), 'module.exports = 1;\n');
  mkdirSync(join(dir, 'packages/p0/build'), { recursive: true });
  writeFileSync(join(dir, 'packages/p0/build/out.js'), 'x\n');
  return { textFiles, needle };
}

async function main(): Promise<void> {
  const n = Number(arg('files', '10000'));
  const budget = Number(arg('budget', '8192'));
  const runs = Number(arg('runs', '3'));
  const dir = mkdtempSync(join(tmpdir(), 'bench-workspace-'));
  try {
    let t = performance.now();
    const { textFiles, needle } = buildTree(dir, n);
    console.log(`tree: ${n} generated files + extras in ${dir} (${(performance.now() - t).toFixed(0)} ms to write)`);

    let count: TokenCounter;
    let counterName: string;
    if (existsSync(join(SMOLLM2, 'tokenizer.json'))) {
      const tok = await Tokenizer.load(SMOLLM2);
      count = async (texts) => texts.map((x) => tok.encode(x, { addBos: false }).length);
      counterName = 'SmolLM2 tokenizer (in process; the extension counts over RPC)';
    } else {
      count = async (texts) => texts.map((x) => Math.ceil(Buffer.byteLength(x) / 4));
      counterName = `bytes/4 stand-in (${SMOLLM2} not found)`;
    }

    const question = 'where is parseConfigFile defined';
    for (let run = 1; run <= runs; run++) {
      t = performance.now();
      const scan = await scanWorkspace(dir);
      const scanMs = performance.now() - t;
      t = performance.now();
      const ranked = rankFiles(scan.files, question);
      const rankMs = performance.now() - t;
      let texts = 0;
      const counting: TokenCounter = async (x) => {
        texts += x.length;
        return count(x);
      };
      t = performance.now();
      const packed = await packFiles(ranked.map((r) => r.file), { budgetTokens: budget, count: counting, skippedBeforeRanking: scan.filesSkipped });
      const packMs = performance.now() - t;
      const bytes = scan.files.reduce((s, f) => s + f.bytes, 0);
      if (scan.files.length !== textFiles) throw new Error(`scan found ${scan.files.length} text files, expected ${textFiles}`);
      if (ranked[0].file.path !== needle) throw new Error(`ranked ${ranked[0].file.path} first, expected ${needle}`);
      console.log(
        `run ${run}: scan ${scanMs.toFixed(0)} ms (${scan.files.length} text files, ${(bytes / 2 ** 20).toFixed(1)} MiB, ` +
          `${((scan.files.length + scan.filesSkipped) / (scanMs / 1000)).toFixed(0)} files/s) | rank ${rankMs.toFixed(0)} ms | ` +
          `pack ${packMs.toFixed(0)} ms (${packed.summary.filesIncluded} files, ${packed.summary.tokens}/${budget} tokens, ${texts} texts counted) | ` +
          `total ${(scanMs + rankMs + packMs).toFixed(0)} ms`,
      );
      if (run === runs) {
        const reasons = Object.entries(scan.skipped).filter(([, v]) => v > 0).map(([k, v]) => `${k} ${v}`).join(', ');
        const dirReasons = Object.entries(scan.skippedDirs).filter(([, v]) => v > 0).map(([k, v]) => `${k} ${v}`).join(', ');
        console.log(`skipped files: ${reasons}; skipped directories: ${dirReasons}`);
        console.log(`top 3: ${ranked.slice(0, 3).map((r) => `${r.file.path} (${r.score.toFixed(2)})`).join(', ')}`);
        console.log(`counter: ${counterName}; node ${process.version}, ${process.platform}`);
      }
    }
  } finally {
    if (process.argv.includes('--keep')) console.log(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
