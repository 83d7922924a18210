// `npm run fidelity`: how faithful each cache compression (ThinK, SnapKV, H2O, KIVI, value
// pruning and their combinations) is to the unpruned cache of the same model, under teacher
// forcing on long real text, against the bytes per token it costs. Writes a markdown table, the
// report as JSON and an SVG plot (fidelity vs bytes per token, one curve per method family; the
// README shows a copy as docs/fidelity.svg).
//   npx tsx scripts/fidelity.ts [--model DIR] [--device cpu|cuda|webgpu] [--prompt 300]
//     [--continuation 150] [--docs 8] [--chunk 1] [--out bench-results]
// --from FILE re-renders the table and plot from a saved fidelity.json without measuring again
// (a changed figure does not need the model run).
//   npx tsx scripts/fidelity.ts --from bench-results/fidelity.json [--out DIR]
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { measureFidelity } from './fidelity/measure';
import { renderFidelityPlot } from './fidelity/plot';
import { fidelityMarkdown, fidelityPlotSpec, type FidelityReport } from './fidelity/report';

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

async function measure(): Promise<FidelityReport> {
  const modelDir = resolve(arg('model', resolve(root, '../shared/models/stories260k')));
  const device = arg('device', 'cpu');
  if (device !== 'cpu' && device !== 'cuda' && device !== 'webgpu') throw new Error(`--device must be cpu, cuda or webgpu, got ${device}`);
  return measureFidelity({
    modelDir,
    device,
    promptTokens: intArg('prompt', 300, 1),
    continuationTokens: intArg('continuation', 150, 1),
    maxDocuments: intArg('docs', 8, 1),
    chunk: intArg('chunk', 1, 1),
    say: (line) => process.stderr.write(`${line}\n`),
  });
}

function readReport(file: string): FidelityReport {
  const r = JSON.parse(readFileSync(file, 'utf8')) as Partial<FidelityReport>;
  if (!r.baseline || !Array.isArray(r.rows)) throw new Error(`${file} is not a fidelity.json report (no baseline or rows)`);
  return r as FidelityReport;
}

async function main(): Promise<void> {
  const from = arg('from', '');
  const out = resolve(arg('out', join(root, 'bench-results')));
  const report = from ? readReport(resolve(from)) : await measure();
  mkdirSync(out, { recursive: true });
  const md = fidelityMarkdown(report);
  writeFileSync(join(out, 'fidelity.md'), md);
  if (!from) writeFileSync(join(out, 'fidelity.json'), JSON.stringify(report, null, 2));
  writeFileSync(join(out, 'fidelity.svg'), renderFidelityPlot(fidelityPlotSpec(report)));
  process.stdout.write(md);
  process.stderr.write(`wrote ${join(out, 'fidelity.md')}${from ? '' : ', fidelity.json'} and fidelity.svg\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`fidelity: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
