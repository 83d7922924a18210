// Streaming detokenization: tokens arrive one at a time, and a character may be split across
// tokens (byte-fallback <0xNN> pieces, GPT-2 byte-level pieces that cut a UTF-8 sequence).
// The bytes go through one streaming TextDecoder, which holds back an incomplete sequence until
// it completes; by the WHATWG Encoding spec, streamed output equals decoding all bytes at once,
// so push()... + flush() equals Tokenizer.decode of the same ids.

import type { Tokenizer } from './tokenizer';

export interface StreamDecoderOptions {
  /** Leave out special tokens, as Tokenizer.decode's skipSpecial. */
  skipSpecial?: boolean;
  /** The ids continue earlier text: keep the first token's leading space (see Tokenizer.decode). */
  continuation?: boolean;
}

export class StreamDecoder {
  private decoder = new TextDecoder('utf-8');
  /** Leading strip characters removed so far; the strip applies only before any other text. */
  private stripped = 0;
  private atStart = true;

  constructor(
    private readonly tok: Tokenizer,
    private readonly opts: StreamDecoderOptions = {},
  ) {}

  /** The text completed by token `id`; '' while a multi-byte character is still incomplete. */
  push(id: number): string {
    if (this.opts.skipSpecial && this.tok.isSpecial(id)) return '';
    return this.afterStrip(this.decoder.decode(this.tok.tokenBytes(id), { stream: true }));
  }

  /** At the end: bytes still held back (an unfinished character comes out as U+FFFD). Starts a new sequence. */
  flush(): string {
    const rest = this.afterStrip(this.decoder.decode());
    this.decoder = new TextDecoder('utf-8');
    this.stripped = 0;
    this.atStart = true;
    return rest;
  }

  private afterStrip(text: string): string {
    if (!this.atStart || text === '') return text;
    if (this.opts.continuation) {
      this.atStart = false;
      return text;
    }
    const { text: rest, stripped } = this.tok.stripLeading(text, this.stripped);
    this.stripped = stripped;
    if (rest !== '') this.atStart = false;
    return rest;
  }
}
