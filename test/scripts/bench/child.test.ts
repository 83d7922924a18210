// The benchmark's child processes: a stepped child runs a step only when told and replies when it
// is done, so two runtimes can take turns; a child that dies mid-step fails the step with its error.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { processCpuNs, runChild, startStepped } from '../../../scripts/bench/child';
import type { StepperJob } from '../../support/stepperChild';

const script = resolve(__dirname, '../../support/stepperChild.ts');
const root = mkdtempSync(join(tmpdir(), 'bench-child-'));
after(() => rmSync(root, { recursive: true, force: true }));

test('two stepped children take turns: each step starts after the other has ended', async () => {
  const log = join(root, 'turns.log');
  const a = startStepped<{ name: string; steps: number }>(script, { name: 'a', log, stepMs: 40 } satisfies StepperJob, 60_000);
  const b = startStepped<{ name: string; steps: number }>(script, { name: 'b', log, stepMs: 40 } satisfies StepperJob, 60_000);
  await Promise.all([a.ready, b.ready]);
  for (let i = 0; i < 3; i++) for (const turn of i % 2 ? [b, a] : [a, b]) await turn.step();
  assert.deepEqual(await Promise.all([a.finish(), b.finish()]), [{ name: 'a', steps: 3 }, { name: 'b', steps: 3 }]);
  const order = ['a', 'b', 'b', 'a', 'a', 'b'].flatMap((n) => [`start ${n}`, `end ${n}`]);
  assert.deepEqual(readFileSync(log, 'utf8').trim().split('\n'), order);
});

test("a stepped child that fails mid-step rejects that step with the child's own error", async () => {
  const c = startStepped(script, { name: 'c', log: join(root, 'fail.log'), stepMs: 1, failAt: 2 } satisfies StepperJob, 60_000);
  await c.ready;
  await c.step();
  await assert.rejects(c.step(), /exited with 1 without a result:[\s\S]*c: step 2 failed on purpose/);
  await assert.rejects(c.finish(), /exited with 1/);
});

test('runChild runs the same script to the end without steps being asked', async () => {
  const r = await runChild<{ name: string; steps: number }>(script, { name: 'd', log: join(root, 'run.log'), stepMs: 1 } satisfies StepperJob, 60_000);
  assert.deepEqual(r, { name: 'd', steps: 1 });
});

test("quiet() waits until a child's threads stop burning CPU after its step", async (t) => {
  if (processCpuNs(process.pid) === null) return t.skip('no /proc/<pid>/task/*/schedstat here: quiet() falls back to a fixed wait');
  const c = startStepped(script, { name: 'e', log: join(root, 'spin.log'), stepMs: 1, spinMs: 300 } satisfies StepperJob, 60_000);
  await c.ready;
  // a bare child is quiet at once (one window of 10 ms, with room for a slow machine)
  let t0 = performance.now();
  await c.quiet();
  const bare = performance.now() - t0;
  await c.step();
  t0 = performance.now();
  await c.quiet();
  const waited = performance.now() - t0;
  // the spin started right after the reply; quiet() returned only after most of it
  assert.ok(waited > 200, `quiet() returned ${waited.toFixed(0)} ms after the step, during a 300 ms spin`);
  assert.ok(bare < waited, `a bare child took ${bare.toFixed(0)} ms to be quiet`);
  await c.finish();
});
