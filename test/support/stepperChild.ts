// A stepped benchmark child for test/scripts/bench/child.test.ts: each step logs its start and end
// to a shared file, taking long enough that two children told to step at once would overlap.
import { appendFileSync } from 'node:fs';
import { childMain, isEntry, runSteps, type Stepper } from '../../scripts/bench/child';

export interface StepperJob {
  name: string;
  log: string;
  stepMs: number;
  /** the step (1-based) that throws */
  failAt?: number;
  /** after each step's reply, burn a core for this long (as a thread pool that spins) */
  spinMs?: number;
}

async function prepare(job: StepperJob): Promise<Stepper<{ name: string; steps: number }>> {
  let steps = 0;
  return {
    step: async () => {
      steps++;
      if (steps === job.failAt) throw new Error(`${job.name}: step ${steps} failed on purpose`);
      appendFileSync(job.log, `start ${job.name}\n`);
      await new Promise((r) => setTimeout(r, job.stepMs));
      appendFileSync(job.log, `end ${job.name}\n`);
      // The reply goes out when this step resolves (stdout to a pipe is synchronous on Linux); the timer fires after.
      if (job.spinMs)
        setTimeout(() => {
          for (const end = performance.now() + job.spinMs!; performance.now() < end; );
        }, 0);
    },
    finish: async () => ({ name: job.name, steps }),
  };
}

async function run(job: StepperJob): Promise<{ name: string; steps: number }> {
  return runSteps(await prepare(job), 1);
}

if (isEntry(__filename)) childMain(run, prepare);
