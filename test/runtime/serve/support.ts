// Helpers for the serve tests: a JSON POST, and the data of each Server-Sent Event in order.

export function post(url: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
}

/** Each event's `data:` payload; events end with a blank line, as OpenAI sends them. */
export function sseEvents(text: string): string[] {
  assert(text.endsWith('\n\n'), 'the stream ends with a complete event');
  return text
    .split('\n\n')
    .filter((e) => e.length > 0)
    .map((e) => {
      assert(e.startsWith('data: ') && !e.includes('\n'), `one data line per event: ${JSON.stringify(e)}`);
      return e.slice('data: '.length);
    });
}

function assert(ok: boolean, message: string): void {
  if (!ok) throw new Error(message);
}
