// Node's spec reporter without the runner's closing summary ("ℹ tests N" ... "ℹ duration_ms N"):
// test/run.mjs runs a tier's files in up to two `node --test` invocations (a parallel group and a
// serial one) and prints ONE combined summary, in Node's own format, as the last lines of the run
// (CI reads them). The held-back counts go, as JSON, to the file named by THINK_LENS_TEST_COUNTS;
// without it (the reporter used on its own) they are printed as Node prints them.
import { writeFileSync } from 'node:fs';
import { spec as Spec } from 'node:test/reporters';

const SUMMARY = /^(tests|suites|pass|fail|cancelled|skipped|todo|duration_ms) (\d+(?:\.\d+)?)$/;

export default async function* specWithoutSummary(source) {
  const spec = new Spec();
  const out = [];
  spec.on('data', (chunk) => out.push(chunk));
  const ended = new Promise((resolve, reject) => {
    spec.on('end', resolve);
    spec.on('error', reject);
  });
  const counts = {};
  for await (const event of source) {
    // The runner's summary: top-level diagnostics with no file (a test's t.diagnostic has one).
    const m = event.type === 'test:diagnostic' && event.data.nesting === 0 && event.data.file === undefined ? SUMMARY.exec(event.data.message) : null;
    if (m) {
      counts[m[1]] = Number(m[2]);
      continue;
    }
    spec.write(event);
    while (out.length) yield out.shift();
  }
  spec.end();
  await ended;
  while (out.length) yield out.shift();
  const file = process.env.THINK_LENS_TEST_COUNTS;
  if (file) writeFileSync(file, JSON.stringify(counts));
  else for (const [k, v] of Object.entries(counts)) yield `ℹ ${k} ${v}\n`;
}
