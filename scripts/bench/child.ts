// Each benchmark configuration runs in its own child process, so its peak RSS is its own and no
// configuration's thread pools or allocations disturb the next. A child prints exactly one line
// starting with RESULT_TAG (JSON); everything else it prints goes to stderr. A stepped child
// (startStepped) also answers the parent's step commands, one reply line each.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

const RESULT_TAG = 'BENCH_RESULT ';

export interface PeakMemory {
  /** Peak resident set size of the whole process, bytes (VmHWM; maxRSS where /proc is absent). */
  peakRssBytes: number;
}

export function peakMemory(): PeakMemory {
  try {
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return { peakRssBytes: Number(m[1]) * 1024 };
  } catch {
    // not Linux: fall through
  }
  return { peakRssBytes: process.resourceUsage().maxRSS * 1024 };
}

/** A started child (its stdout lines go to the caller's onLine as they come) and a way to fail with its stderr. */
interface SpawnedJob {
  child: ChildProcess;
  /** why the child ended without what was expected (its exit or signal, and the tail of its stderr) */
  failure(): Error;
  cleanup(): void;
}

/**
 * Starts `script` (a .ts file) in a fresh Node process through tsx, passing `job` as a JSON file
 * (a 16k-token prompt is too large to travel safely on the command line).
 */
function spawnJob(script: string, job: unknown, extraArgs: string[], timeoutMs: number, onLine: (line: string) => void): SpawnedJob {
  const dir = mkdtempSync(join(tmpdir(), 'bench-job-'));
  const jobFile = join(dir, 'job.json');
  writeFileSync(jobFile, JSON.stringify(job));
  const child = spawn(process.execPath, ['--import', 'tsx', resolve(script), jobFile, ...extraArgs], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: process.env,
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    let nl: number;
    while ((nl = out.indexOf('\n')) >= 0) {
      onLine(out.slice(0, nl));
      out = out.slice(nl + 1);
    }
  });
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  child.on('close', () => clearTimeout(timer));
  return {
    child,
    failure: () => {
      const tail = err.trim().split('\n').slice(-6).join('\n');
      const why = timedOut ? `killed after ${timeoutMs} ms` : `exited with ${child.signalCode ?? child.exitCode}`;
      return new Error(`${script} ${why} without a result${tail ? `:\n${tail}` : ''}`);
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Runs `script`'s job to the end in its own process; returns its result. */
export function runChild<T>(script: string, job: unknown, timeoutMs: number): Promise<T> {
  return new Promise<T>((resolvePromise, reject) => {
    let result: T | undefined;
    const s = spawnJob(script, job, [], timeoutMs, (line) => {
      if (line.startsWith(RESULT_TAG)) result = JSON.parse(line.slice(RESULT_TAG.length)) as T;
    });
    s.child.stdin!.end();
    s.child.on('close', () => {
      s.cleanup();
      if (result !== undefined) resolvePromise(result);
      else reject(s.failure());
    });
  });
}

/**
 * A job the child runs one decode step at a time, when told: two runtimes in two processes take
 * turns step by step, so both meet the same machine load (on a shared machine the memory
 * bandwidth drifts by tens of percent within minutes). Each child times its own steps.
 */
export interface Stepper<R> {
  /** one decode step (the child's own unit: one token, or one token per ratio it decodes) */
  step(): Promise<void>;
  /** the result, after the last step; releases what the child holds */
  finish(): Promise<R>;
}

/** A stepped job run to the end in one go: `steps` steps, then its result. */
export async function runSteps<R>(stepper: Stepper<R>, steps: number): Promise<R> {
  for (let i = 0; i < steps; i++) await stepper.step();
  return stepper.finish();
}

/** The parent's handle on a stepped child: `ready` once it has loaded and prefilled. */
export interface SteppedChild<R> extends Stepper<R> {
  ready: Promise<void>;
  /**
   * Resolves once the child's threads have gone quiet after its last step: onnxruntime's pool
   * keeps a core spinning for about 30 ms after a run returns, which would slow whatever runs next.
   */
  quiet(): Promise<void>;
  /** ends the child early (after a failure elsewhere) */
  kill(): void;
}

/** A child is quiet when its threads used less than this share of one core over QUIET_WINDOW_MS. */
const QUIET_SHARE = 0.1;
const QUIET_WINDOW_MS = 10;
/** Waiting longer than this for quiet means the child is busy for good (or stopped): go on. */
const QUIET_LIMIT_MS = 2000;
/** Where /proc is absent (not Linux): a fixed wait, several times onnxruntime's spin. */
const QUIET_FALLBACK_MS = 200;

/** CPU time all of `pid`'s threads have used, ns (Linux schedstat), or null where it cannot be read. */
export function processCpuNs(pid: number): number | null {
  try {
    let ns = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    return ns;
  } catch {
    return null; // no /proc, or a thread (or the process) ended while being read
  }
}

/** Waits until `pid` used under QUIET_SHARE of a core over a window of QUIET_WINDOW_MS (see SteppedChild.quiet). */
async function waitQuiet(pid: number): Promise<void> {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const t0 = performance.now();
  let before = processCpuNs(pid);
  if (before === null) return void (await sleep(QUIET_FALLBACK_MS));
  while (performance.now() - t0 < QUIET_LIMIT_MS) {
    const t = performance.now();
    await sleep(QUIET_WINDOW_MS);
    const now = processCpuNs(pid);
    if (now === null) return;
    if (now - before < QUIET_SHARE * (performance.now() - t) * 1e6) return;
    before = now;
  }
}

const READY_LINE = 'BENCH_READY';
const STEPPED_LINE = 'BENCH_STEPPED';
const STEPPED_FLAG = '--stepped';

/** Starts `script`'s job in stepped mode (see Stepper). */
export function startStepped<R>(script: string, job: unknown, timeoutMs: number): SteppedChild<R> {
  // Each command gets exactly one reply line, in order; the child's exit fails whatever waits.
  const waiting: { tag: string; resolve: (line: string) => void; reject: (e: Error) => void }[] = [];
  const s = spawnJob(script, job, [STEPPED_FLAG], timeoutMs, (line) => {
    const w = waiting[0];
    if (w && line.startsWith(w.tag)) {
      waiting.shift();
      w.resolve(line);
    }
  });
  let closed = false;
  s.child.on('close', () => {
    closed = true;
    s.cleanup();
    for (const w of waiting.splice(0)) w.reject(s.failure());
  });
  const expect = (tag: string, command?: string) =>
    new Promise<string>((resolve, reject) => {
      if (closed) return reject(s.failure());
      waiting.push({ tag, resolve, reject });
      if (command) s.child.stdin!.write(command + '\n');
    });
  return {
    ready: expect(READY_LINE).then(() => undefined),
    step: () => expect(STEPPED_LINE, 'step').then(() => undefined),
    finish: () => expect(RESULT_TAG, 'finish').then((line) => JSON.parse(line.slice(RESULT_TAG.length)) as R),
    quiet: () => waitQuiet(s.child.pid!),
    kill: () => s.child.kill('SIGKILL'),
  };
}

/**
 * The child side: reads the job file named in argv and prints the one result line. Started by
 * startStepped (and given `prepare`), it prepares the job, says so, then steps and finishes as
 * the parent's stdin commands say.
 */
export function childMain<J, R>(run: (job: J) => Promise<R>, prepare?: (job: J) => Promise<Stepper<R>>): void {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: node --import tsx <script> <job.json> [--stepped] (started by scripts/bench.ts)\n');
    process.exit(2);
  }
  const job = JSON.parse(readFileSync(file, 'utf8')) as J;
  const stepped = process.argv[3] === STEPPED_FLAG;
  if (stepped && !prepare) {
    process.stderr.write(`${file}: this script has no stepped mode\n`);
    process.exit(2);
  }
  (stepped ? steppedMain(job, prepare!) : run(job)).then(
    (r) => {
      process.stdout.write(RESULT_TAG + JSON.stringify(r) + '\n');
      // onnxruntime / llama.cpp thread pools may keep the loop alive: the result is out, leave.
      process.exit(0);
    },
    (e: unknown) => {
      process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exit(1);
    },
  );
}

async function steppedMain<J, R>(job: J, prepare: (job: J) => Promise<Stepper<R>>): Promise<R> {
  const stepper = await prepare(job);
  process.stdout.write(READY_LINE + '\n');
  for await (const line of createInterface({ input: process.stdin })) {
    if (line === 'step') {
      await stepper.step();
      process.stdout.write(STEPPED_LINE + '\n');
    } else if (line === 'finish') return stepper.finish();
    else throw new Error(`unknown command from the benchmark: ${JSON.stringify(line)}`);
  }
  throw new Error('the benchmark closed stdin before asking for the result');
}

/** True when this module file (its __filename) is the process's entry script. */
export function isEntry(moduleFile: string): boolean {
  const entry = process.argv[1];
  return !!entry && resolve(moduleFile) === resolve(entry);
}
