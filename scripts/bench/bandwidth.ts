// The machine's memory bandwidth, measured in the same run as the benchmark: one worker per core
// streams its own array far larger than the caches, all workers start each pass together, and
// the best pass of several counts (bandwidth is a ceiling; slow passes are interference). On a
// shared machine what the memory gives drifts by tens of percent within minutes (43 to 74 GB/s
// here in one hour), so the benchmark measures it just before and just after each runtime's run,
// with nothing else running, and bounds that run's decode by the better of the two: one
// measurement at the start had put a later decode at 119% of its bound, and the best of the whole
// run held a decode made in a slow minute to a figure the machine gave only in another.
// 'read' (a streaming scan, the access pattern of decode reading weights and the KV cache) is the
// figure the decode bound uses; 'copy' counts the bytes read plus the bytes written.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

export interface Bandwidth {
  workers: number;
  bytesPerWorker: number;
  /** passes counted, over all measurements */
  passes: number;
  /** measurements at different points of the run, combined */
  measurements: number;
  /** the best read figure (of all measurements, when combined) */
  readGBps: number;
  /** the worst measurement's best read figure (equal to readGBps for one measurement) */
  lowestReadGBps: number;
  copyGBps: number;
}

// Plain JavaScript (eval'd), so the workers need no TypeScript loader. Both kernels are native
// and vectorized, so the figure is the memory's, not V8's: 'read' is Buffer.indexOf looking for a
// byte that is not there (memchr over the whole array); 'copy' is Buffer.copy (memcpy). The
// arrays are filled first so every page is real memory, not the shared zero page.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const src = Buffer.alloc(workerData.bytes, 7);
const dst = Buffer.alloc(workerData.bytes, 1);
let sink = 0;
parentPort.on('message', (kind) => {
  if (kind === 'read') sink += src.indexOf(0);
  else sink += src.copy(dst);
  parentPort.postMessage(sink);
});
`;

export async function measureBandwidth(o: { workers?: number; bytesPerWorker?: number; passes?: number } = {}): Promise<Bandwidth> {
  const workers = o.workers ?? availableParallelism();
  const bytesPerWorker = o.bytesPerWorker ?? 256 * 1024 * 1024;
  const passes = o.passes ?? 5;
  if (!(Number.isInteger(bytesPerWorker) && bytesPerWorker >= 1024 * 1024)) throw new Error(`bandwidth: bytesPerWorker must be an integer of at least 1 MiB, got ${bytesPerWorker}`);
  const pool = Array.from({ length: workers }, () => new Worker(WORKER_SOURCE, { eval: true, workerData: { bytes: bytesPerWorker } }));
  const pass = async (kind: 'read' | 'copy'): Promise<number> => {
    const t0 = performance.now();
    await Promise.all(pool.map((w) => new Promise<void>((done) => {
      w.once('message', () => done());
      w.postMessage(kind);
    })));
    return (performance.now() - t0) / 1000;
  };
  try {
    // The first pass of each kind also warms up the JIT and pages in the arrays: not counted.
    await pass('read');
    await pass('copy');
    let bestRead = Infinity;
    let bestCopy = Infinity;
    for (let i = 0; i < passes; i++) {
      bestRead = Math.min(bestRead, await pass('read'));
      bestCopy = Math.min(bestCopy, await pass('copy'));
    }
    const total = workers * bytesPerWorker;
    const readGBps = total / bestRead / 1e9;
    return { workers, bytesPerWorker, passes, measurements: 1, readGBps, lowestReadGBps: readGBps, copyGBps: (2 * total) / bestCopy / 1e9 };
  } finally {
    await Promise.all(pool.map((w) => w.terminate()));
  }
}

/** Two measurements of one run as one: the best pass of either, and the lower of their bests. */
export function combineBandwidth(a: Bandwidth, b: Bandwidth): Bandwidth {
  if (a.workers !== b.workers || a.bytesPerWorker !== b.bytesPerWorker) throw new Error('bandwidth: only measurements of the same kind combine');
  return {
    ...a,
    passes: a.passes + b.passes,
    measurements: a.measurements + b.measurements,
    readGBps: Math.max(a.readGBps, b.readGBps),
    lowestReadGBps: Math.min(a.lowestReadGBps, b.lowestReadGBps),
    copyGBps: Math.max(a.copyGBps, b.copyGBps),
  };
}
