// A minimal stand-in for the runtime process, used ONLY by the supervisor's restart-policy tests
// (test/src/supervisor.test.ts), where crash timing must be deterministic and spawning the real
// runtime four or five times would be slow. It is a real child process speaking real vscode-jsonrpc
// over stdio: it answers `stats` (as a runtime with no model loaded) and exits with the requested
// code on the test-only `crash` request. Everything else about the runtime is tested against the
// real runtime/host/main.ts.
import * as rpc from 'vscode-jsonrpc/node';

const connection = rpc.createMessageConnection(new rpc.StreamMessageReader(process.stdin), new rpc.StreamMessageWriter(process.stdout));
connection.onRequest('stats', () => ({ loaded: false, busy: false, rssBytes: process.memoryUsage().rss }));
connection.onRequest('crash', (p: { code?: number }) => {
  process.stderr.write(`crashy runtime: exiting with code ${p?.code ?? 3} on request\n`);
  process.exit(p?.code ?? 3);
});
process.stderr.write(`crashy runtime ${process.pid} up\n`);
// Like the real runtime: EOF on stdin means the host is gone.
process.stdin.on('end', () => process.exit(0));
connection.listen();
