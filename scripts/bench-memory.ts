// Memory benchmark (a script, not a test): key-cache bytes and process peak RSS of the runtime on a
// SmolLM2-135M-shaped random model at 4k and 16k context, for ThinK ratios 0, 0.4 and 0.5.
// Each configuration runs in its own child process, so each peak RSS is that configuration's.
//   npx tsx scripts/bench-memory.ts [--contexts 4096,16384] [--ratios 0,0.4,0.5] [--model DIR] [--cache-precision float16|float32]
//
// --load SHAPE measures loading instead: peak RSS while a random BF16 model of a real shape
// (../shared/models/shapes/SHAPE.json) loads with --quantize int4|int8, against the bytes of the
// weights it then holds (the quantized weight file), each in a fresh child process.
//   npx tsx scripts/bench-memory.ts --load llama-3.1-8b-instruct --quantize int4,int8
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { cachePrecisionFlag } from '../runtime/cli/args';
import { Engine } from '../runtime/engine/engine';
import { DEFAULT_CACHE_PRECISION, type CachePrecision } from '../core/protocol/settings';
import { WEIGHT_FILE } from '../runtime/graph/weightFile';
import { makeRandomModel } from '../runtime/model/makeRandom';
import { promptIds, randomSmolLM2 } from './bench/models';

const root = resolve(__dirname, '..');
const SMOLLM2 = resolve(root, '../shared/models/smollm2-135m-instruct');
const MiB = 2 ** 20;

interface Row {
  context: number;
  ratio: number;
  keyBytes: number;
  valueBytes: number;
  fullKeyBytes: number;
  peakRssBytes: number;
  rssAfterBytes: number;
  prefillTokensPerSec: number;
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
}

/** VmHWM: the process's peak resident set, from the kernel. */
function peakRss(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : process.resourceUsage().maxRSS * 1024;
}

async function child(model: string, context: number, ratio: number, cachePrecision: CachePrecision): Promise<void> {
  const engine = await Engine.load({ modelDir: model, contextLength: context + 64, think: { ratio }, cachePrecision }, () => {});
  const vocab = engine.loaded.model.vocabSize;
  const ids = promptIds(context, 3, vocab, 12345);
  const r = await engine.generate({ requestId: 'm', prompt: { ids }, maxNewTokens: 4 }, {
    onToken() {},
    onProgress() {},
    onMasks() {},
    isCancelled: () => false,
  });
  (globalThis as { gc?: () => void }).gc?.();
  const row: Row = {
    context,
    ratio,
    keyBytes: r.cache.keyBytes,
    valueBytes: r.cache.valueBytes,
    fullKeyBytes: r.cache.fullKeyBytes,
    peakRssBytes: peakRss(),
    rssAfterBytes: process.memoryUsage().rss,
    prefillTokensPerSec: r.timings.prefillTokensPerSec,
  };
  process.stdout.write(`ROW ${JSON.stringify(row)}\n`);
  await engine.dispose();
}

async function main(): Promise<void> {
  if (process.argv[2] === '--child') return child(process.argv[3], Number(process.argv[4]), Number(process.argv[5]), process.argv[6] as CachePrecision);
  if (process.argv[2] === '--load-child') return loadChild(process.argv[3], process.argv[4] as 'int4' | 'int8');
  const shape = arg('load', '');
  if (shape) return loadBench(shape, arg('quantize', 'int4').split(',') as ('int4' | 'int8')[]);
  let model = arg('model', '');
  if (!model) {
    if (!existsSync(SMOLLM2)) throw new Error(`SmolLM2 config not found at ${SMOLLM2}; pass --model DIR`);
    model = await randomSmolLM2(SMOLLM2, join(root, '.cache/bench-models'));
  }
  const contexts = arg('contexts', '4096,16384').split(',').map(Number);
  const ratios = arg('ratios', '0,0.4,0.5').split(',').map(Number);
  const precision = cachePrecisionFlag(arg('cache-precision', DEFAULT_CACHE_PRECISION))!;
  const rows: Row[] = [];
  for (const context of contexts)
    for (const ratio of ratios) {
      const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', __filename, '--child', model, String(context), String(ratio), precision], {
        cwd: root,
        env: { ...process.env, MALLOC_MMAP_THRESHOLD_: '131072' }, // as the CLI and the extension run the runtime
        encoding: 'utf8',
        maxBuffer: 1 << 26,
      });
      const line = r.stdout.split('\n').find((l) => l.startsWith('ROW '));
      if (!line) throw new Error(`child failed (context ${context}, ratio ${ratio}):\n${r.stderr}`);
      rows.push(JSON.parse(line.slice(4)));
      console.error(`done: context ${context}, ratio ${ratio}`);
    }
  const base = (c: number) => rows.find((r) => r.context === c && r.ratio === 0);
  console.log(`\nModel: ${model}; a ${precision} cache${precision === DEFAULT_CACHE_PRECISION ? ' (the default)' : ''}, fp32 weights; peak RSS includes prefill, which holds full keys until ThinK prunes them.\n`);
  console.log('| context | ratio | key MiB | key / unpruned | value MiB | peak RSS MiB | RSS after MiB | peak vs ratio 0 | prefill tok/s |');
  console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) {
    const b = base(r.context);
    console.log(
      `| ${r.context} | ${r.ratio} | ${(r.keyBytes / MiB).toFixed(1)} | ${(r.keyBytes / r.fullKeyBytes).toFixed(3)} | ${(r.valueBytes / MiB).toFixed(1)} | ${(r.peakRssBytes / MiB).toFixed(0)} | ${(r.rssAfterBytes / MiB).toFixed(0)} | ${b ? (r.peakRssBytes / b.peakRssBytes).toFixed(3) : '-'} | ${r.prefillTokensPerSec.toFixed(0)} |`,
    );
  }
  mkdirSync(join(root, 'bench-results'), { recursive: true });
  writeFileSync(join(root, 'bench-results/memory.json'), JSON.stringify({ model, rows }, null, 2));
}

interface LoadRow {
  quantize: 'int4' | 'int8';
  parameters: number;
  /** What the loaded model's weights take: the weight file the graph reads (graph/weightFile.ts). */
  weightBytes: number;
  /** The model files as stored (BF16). */
  fileBytes: number;
  rssBeforeBytes: number;
  peakRssBytes: number;
  rssAfterBytes: number;
  loadMs: number;
}

async function loadChild(model: string, quantize: 'int4' | 'int8'): Promise<void> {
  const rssBefore = process.memoryUsage().rss;
  const weightDir = process.env.THINK_LENS_WEIGHT_DIR!;
  const engine = await Engine.load({ modelDir: model, quantize, contextLength: 512 }, () => {});
  const [folder] = readdirSync(weightDir).filter((n) => n.startsWith(`${process.pid}-`));
  const row: LoadRow = {
    quantize,
    parameters: engine.loaded.model.parameters,
    weightBytes: statSync(join(weightDir, folder, WEIGHT_FILE)).size,
    fileBytes: readdirSync(model).filter((n) => n.endsWith('.safetensors')).reduce((n, f) => n + statSync(join(model, f)).size, 0),
    rssBeforeBytes: rssBefore,
    peakRssBytes: peakRss(),
    rssAfterBytes: process.memoryUsage().rss,
    loadMs: engine.loaded.loadMs,
  };
  process.stdout.write(`ROW ${JSON.stringify(row)}\n`);
  await engine.dispose();
}

async function loadBench(shape: string, quantizes: ('int4' | 'int8')[]): Promise<void> {
  const configPath = resolve(root, '../shared/models/shapes', `${shape}.json`);
  if (!existsSync(configPath)) throw new Error(`shape not found: ${configPath}`);
  const config = JSON.parse(readFileSync(configPath, 'utf8'));
  const dir = join(root, '.cache/bench-models', `load-${shape}-bf16`);
  const stamp = JSON.stringify({ config, seed: 1, dtype: 'BF16', v: 1 });
  if (!existsSync(join(dir, 'stamp.json')) || readFileSync(join(dir, 'stamp.json'), 'utf8') !== stamp) {
    console.error(`writing random-weight ${shape} (BF16) into ${dir} ...`);
    mkdirSync(dir, { recursive: true });
    // Shards of about 4 GB, as the Hub's checkpoints come.
    const params = Number(config.vocab_size) * Number(config.hidden_size) * 2 + Number(config.num_hidden_layers) * 12 * Number(config.hidden_size) ** 2;
    await makeRandomModel({ config, outDir: dir, dtype: 'BF16', seed: 1, shards: Math.max(1, Math.ceil((params * 2) / 4e9)) });
    writeFileSync(join(dir, 'stamp.json'), stamp);
  }
  const rows: LoadRow[] = [];
  for (const quantize of quantizes) {
    const weightDir = mkdtempSync(join(tmpdir(), 'think-bench-weights-'));
    const r = spawnSync(process.execPath, ['--import', 'tsx', __filename, '--load-child', dir, quantize], {
      cwd: root,
      env: { ...process.env, MALLOC_MMAP_THRESHOLD_: '131072', THINK_LENS_WEIGHT_DIR: weightDir },
      encoding: 'utf8',
      maxBuffer: 1 << 26,
    });
    rmSync(weightDir, { recursive: true, force: true });
    const line = r.stdout.split('\n').find((l) => l.startsWith('ROW '));
    if (!line) throw new Error(`load child failed (${quantize}):\n${r.stderr}`);
    rows.push(JSON.parse(line.slice(4)));
    console.error(`done: ${quantize}`);
  }
  const GiB = 2 ** 30;
  console.log(`\nModel: random ${shape} (BF16 safetensors) loaded with quantized linear layers; peak RSS is the load's child process (VmHWM).\n`);
  console.log('| weights | parameters | files GiB | loaded weights GiB | RSS before load GiB | peak RSS GiB | peak / loaded weights | RSS after GiB | load s |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows)
    console.log(
      `| ${r.quantize} | ${(r.parameters / 1e9).toFixed(2)} B | ${(r.fileBytes / GiB).toFixed(2)} | ${(r.weightBytes / GiB).toFixed(2)} | ${(r.rssBeforeBytes / GiB).toFixed(2)} | ${(r.peakRssBytes / GiB).toFixed(2)} | ${(r.peakRssBytes / r.weightBytes).toFixed(2)}x | ${(r.rssAfterBytes / GiB).toFixed(2)} | ${(r.loadMs / 1000).toFixed(0)} |`,
    );
  mkdirSync(join(root, 'bench-results'), { recursive: true });
  writeFileSync(join(root, 'bench-results/memory-load.json'), JSON.stringify({ shape, rows }, null, 2));
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
