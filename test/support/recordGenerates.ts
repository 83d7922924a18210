// Every `generate` an extension test's runtime is sent, and what it answered, on whichever runtime
// process is current (the supervisor restarts it): wraps each new client's request.
import type * as vscode from 'vscode';
import type { GenerateParams, GenerateResult } from '../../core/protocol/rpc';
import type { Harness } from './extensionHarness';

export function recordGenerates(h: Harness): { sent: GenerateParams[]; results: GenerateResult[] } {
  const rec = { sent: [] as GenerateParams[], results: [] as GenerateResult[] };
  h.api.ctx.supervisor.onDidStart((client) => {
    const original = client.request.bind(client);
    client.request = (async (method: string, params: unknown, token?: vscode.CancellationToken) => {
      if (method === 'generate') rec.sent.push(structuredClone(params) as GenerateParams);
      const result = await original(method as never, params as never, token);
      if (method === 'generate') rec.results.push(result as GenerateResult);
      return result;
    }) as typeof client.request;
  });
  return rec;
}
