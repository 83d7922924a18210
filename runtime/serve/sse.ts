// Server-Sent Events as OpenAI streams them: `data: <json>\n\n` per event and `data: [DONE]\n\n`
// last. No `event:` or `id:` lines: OpenAI sends none, and SDK parsers only read `data:`.
import type { ServerResponse } from 'node:http';

export class SseStream {
  private started = false;

  constructor(private readonly res: ServerResponse) {}

  /** Whether the client can still be written to (it may have gone mid-stream). */
  get open(): boolean {
    return !this.res.destroyed && !this.res.writableEnded;
  }

  /** Headers go out with the first event, so a failure before any token can still be a JSON error. */
  get headersSent(): boolean {
    return this.started;
  }

  send(data: unknown): void {
    if (!this.open) return;
    this.start();
    this.res.write(`data: ${JSON.stringify(data)}\n\n`);
  }

  done(): void {
    if (!this.open) return;
    this.start();
    this.res.end('data: [DONE]\n\n');
  }

  private start(): void {
    if (this.started) return;
    this.started = true;
    this.res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache',
      // Proxies (nginx) buffer responses by default; this header asks them to pass events through.
      'X-Accel-Buffering': 'no',
      Connection: 'keep-alive',
    });
    // Each token is a small write; without this Nagle's algorithm can hold it back.
    this.res.socket?.setNoDelay(true);
  }
}
