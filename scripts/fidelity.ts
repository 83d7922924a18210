// `npm run fidelity`: how faithful each cache compression (ThinK, SnapKV, H2O, KIVI, value
// pruning and their combinations) is to the unpruned cache of the same model, under teacher
// forcing on long real text, against the bytes per token it costs. Writes a markdown table and a
// PNG plot (fidelity vs bytes per token, one curve per method family).
//   npx tsx scripts/fidelity.ts [--model DIR] [--device cpu|cuda|webgpu] [--prompt 300]
//     [--continuation 150] [--docs 8] [--chunk 1] [--out bench-results]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { measureFidelity } from './fidelity/measure';
import { renderFidelityPlot } from './fidelity/plot';
import { fidelityMarkdown, fidelityPlotSpec } from './fidelity/report';

const root = resolve(__dirname, '..');

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = process.argv[i + 1];
  if (v === undefined || v.startsWith('--')) throw new Error(`--${name} needs a value`);
  return v;
}

function intArg(name: string, fallback: number, min: number): number {
  const v = Number(arg(name, String(fallback)));
  if (!(Number.isInteger(v) && v >= min)) throw new Error(`--${name} must be an integer >= ${min}, got ${arg(name, '')}`);
  return v;
}

async function main(): Promise<void> {
  const modelDir = resolve(arg('model', resolve(root, '../shared/models/stories260k')));
  const device = arg('device', 'cpu');
  if (device !== 'cpu' && device !== 'cuda' && device !== 'webgpu') throw new Error(`--device must be cpu, cuda or webgpu, got ${device}`);
  const out = resolve(arg('out', join(root, 'bench-results')));
  const report = await measureFidelity({
    modelDir,
    device,
    promptTokens: intArg('prompt', 300, 1),
    continuationTokens: intArg('continuation', 150, 1),
    maxDocuments: intArg('docs', 8, 1),
    chunk: intArg('chunk', 1, 1),
    say: (line) => process.stderr.write(`${line}\n`),
  });
  mkdirSync(out, { recursive: true });
  const md = fidelityMarkdown(report);
  writeFileSync(join(out, 'fidelity.md'), md);
  writeFileSync(join(out, 'fidelity.json'), JSON.stringify(report, null, 2));
  writeFileSync(join(out, 'fidelity.png'), renderFidelityPlot(fidelityPlotSpec(report)).toPng());
  process.stdout.write(md);
  process.stderr.write(`wrote ${join(out, 'fidelity.md')}, fidelity.json and fidelity.png\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`fidelity: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
