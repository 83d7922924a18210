// Each benchmark configuration runs in its own child process, so its peak RSS is its own and no
// configuration's thread pools or allocations disturb the next. A child prints exactly one line
// starting with RESULT_TAG (JSON); everything else it prints goes to stderr.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolve } from 'node:path';

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

/**
 * Runs `script` (a .ts file) in a fresh Node process through tsx, passing `job` as a JSON file
 * (a 16k-token prompt is too large to travel safely on the command line); returns its result.
 */
export function runChild<T>(script: string, job: unknown, timeoutMs: number): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-job-'));
  const jobFile = join(dir, 'job.json');
  writeFileSync(jobFile, JSON.stringify(job));
  return new Promise<T>((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', resolve(script), jobFile], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: process.env,
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = out.split('\n').find((l) => l.startsWith(RESULT_TAG));
      if (line) return resolvePromise(JSON.parse(line.slice(RESULT_TAG.length)) as T);
      const tail = err.trim().split('\n').slice(-6).join('\n');
      const why = signal === 'SIGKILL' ? `killed after ${timeoutMs} ms` : `exited with ${signal ?? code}`;
      reject(new Error(`${script} ${why} without a result${tail ? `:\n${tail}` : ''}`));
    });
  }).finally(() => rmSync(dir, { recursive: true, force: true }));
}

/** The child side: reads the job file named in argv, runs it, prints the one result line. */
export function childMain<J, R>(run: (job: J) => Promise<R>): void {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: node --import tsx <script> <job.json> (started by scripts/bench.ts)\n');
    process.exit(2);
  }
  run(JSON.parse(readFileSync(file, 'utf8')) as J).then(
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

/** True when this module file (its __filename) is the process's entry script. */
export function isEntry(moduleFile: string): boolean {
  const entry = process.argv[1];
  return !!entry && resolve(moduleFile) === resolve(entry);
}
