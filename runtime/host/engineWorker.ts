// The engine's thread. onnxruntime's session.run blocks the thread it runs on, so the engine lives
// here and the thread that serves requests (engineHost.ts, in main.ts or the CLI) stays free to
// answer `cancel` and `stats` during a long prefill. Requests arrive as messages; cancellation
// arrives through shared memory, which the engine polls between prefill chunks and decode steps
// without needing this thread's event loop.
import { parentPort, workerData } from 'node:worker_threads';
import { Engine } from '../engine/engine';
import { Control, serializeError, type HostMessage, type LogLevel, type WorkerMessage } from './engineMessages';

function run(): void {
  const port = parentPort;
  if (!port) throw new Error('runtime/host/engineWorker must run as a worker thread (see engineHost.ts)');
  const control = new Int32Array(workerData.control as SharedArrayBuffer);
  const post = (m: WorkerMessage) => port.postMessage(m);
  const log = (level: LogLevel, message: string) => post({ type: 'log', level, message });
  let engine: Engine | null = null;

  const requireEngine = (): Engine => {
    // The host checks this too; this guards direct misuse of the worker.
    if (!engine) throw new Error('no model is loaded');
    return engine;
  };

  async function handle(msg: HostMessage): Promise<unknown> {
    switch (msg.type) {
      case 'load': {
        if (engine) {
          const old = engine;
          engine = null;
          await old.dispose();
        }
        engine = await Engine.load(msg.params, log);
        return engine.loaded;
      }
      case 'unload': {
        const old = engine;
        engine = null;
        await old?.dispose();
        return null;
      }
      case 'generate': {
        const e = requireEngine();
        return await e.generate(msg.params, {
          onToken: (n) => post({ type: 'token', n }),
          onProgress: (p) => {
            // Published before the notification so the host can bound what follows a cancel.
            Atomics.store(control, Control.generated, p.generated);
            Atomics.store(control, Control.processed, p.processed);
            post({ type: 'progress', p });
          },
          onMasks: (m) => post({ type: 'masks', m }),
          isCancelled: () => Atomics.load(control, Control.cancel) !== 0,
        });
      }
      case 'countTokens':
        return requireEngine().countTokens(msg.texts);
      case 'snapshot':
        return engine ? engine.snapshot() : null;
    }
  }

  port.on('message', (msg: HostMessage) => {
    handle(msg).then(
      (value) => post({ type: 'result', id: msg.id, value }),
      (e: unknown) => post({ type: 'error', id: msg.id, error: serializeError(e) }),
    );
  });
}

run();
