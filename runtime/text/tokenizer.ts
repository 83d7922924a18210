// The model's tokenizer: tokenizer.json (Hugging Face "fast" format) for encoding, its decoder
// section reinterpreted as per-token bytes so streaming and whole decoding share one definition,
// tokenizer_config.json for BOS/EOS and the chat template (rendered with @huggingface/jinja).
// A GGUF model's tokenizer comes from its metadata, turned into the same sources (ggufTokenizer.ts).
//
// Decoding deliberately does not apply `clean_up_tokenization_spaces` (it rewrites " ." to "."
// and similar, which corrupts code and cannot be streamed exactly); for the tokenizers this
// runtime targets (Llama, Mistral, Qwen2, SmolLM) the result equals Hugging Face's decode.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
// Both packages ship CommonJS builds but ESM-only typings; types come in with resolution-mode,
// the code is loaded with import() inside the (async) load.
import type { Template } from '@huggingface/jinja' with { 'resolution-mode': 'import' };
import type { Tokenizer as HfTokenizer } from '@huggingface/tokenizers' with { 'resolution-mode': 'import' };
import type { ChatMessage } from '../../core/protocol/rpc';
import { ModelError } from '../model/errors';
import type { GgufFile } from '../model/gguf/file';
import { ggufTokenizerJson } from './ggufTokenizer';

export type { ChatMessage };

export interface TokenizerLoadOptions {
  /** Extra end-of-sequence ids (besides config.json, generation_config.json and tokenizer_config.json). */
  extraEos?: number[];
}

export interface DecodeOptions {
  /** Leave out special tokens (BOS, EOS, chat markers). Default false, as in Hugging Face. */
  skipSpecial?: boolean;
  /**
   * The ids continue earlier text (generated tokens after a prompt). Sentencepiece decoders strip
   * the space of the very first '▁' of a sequence; a continuation keeps it, so that
   * decode(prompt) + decode(generated, { continuation: true }) reads like decode(prompt + generated).
   */
  continuation?: boolean;
}

/** How the token strings of tokenizer.json's decoder turn into bytes. */
interface DecoderPlan {
  /** `<0xNN>` tokens stand for the byte NN (sentencepiece byte fallback). */
  byteFallback: boolean;
  /** Token characters are GPT-2 byte-level symbols (each char one byte). */
  byteLevel: boolean;
  /** Literal replacements applied to token text, in order (e.g. '▁' -> ' '). */
  replacements: Array<[string, string]>;
  /** Up to this many `stripChar` are removed from the start of the decoded sequence. */
  leadingStrip: number;
  stripChar: string;
}

/** A chat template and where it comes from (for error messages). */
export interface TemplateSource {
  file: string;
  text: string;
}

/** What a tokenizer is built from, already in memory. */
export interface TokenizerSources {
  /** A Hugging Face tokenizer.json, parsed. */
  tokenizerJson: unknown;
  /** Where it comes from, for error messages. */
  tokenizerPath: string;
  /** tokenizer_config.json's object (bos_token, eos_token, add_bos_token, ...); may be empty. */
  config: Record<string, unknown>;
  /** Where `config` comes from, for error messages (default `tokenizerPath`). */
  configPath?: string;
  /** config.json's object (bos_token_id, eos_token_id), if any. */
  modelConfig?: Record<string, unknown>;
  /** generation_config.json's object (eos_token_id), if any. */
  generationConfig?: Record<string, unknown>;
  template: TemplateSource | null;
}

const PLAIN_ROLE_LABEL: Record<ChatMessage['role'], string> = { system: 'System', user: 'User', assistant: 'Assistant' };

export class Tokenizer {
  readonly vocabSize: number;
  readonly bosId: number | null;
  readonly eosIds: ReadonlySet<number>;
  readonly hasChatTemplate: boolean;
  readonly addBos: boolean;
  readonly bosToken: string | null;
  readonly eosToken: string | null;

  private readonly bytesCache: Array<Uint8Array | undefined>;
  private readonly utf8 = new TextEncoder();

  private constructor(
    private readonly hf: HfTokenizer,
    private readonly plan: DecoderPlan,
    /** Text of every vocabulary and added token, by id (undefined for holes). */
    private readonly pieces: Array<string | undefined>,
    /** Ids of added tokens: decoded as their literal text, never through the decoder. */
    private readonly addedIds: ReadonlySet<number>,
    private readonly specialIds: ReadonlySet<number>,
    private readonly template: Template | null,
    init: { bosId: number | null; bosToken: string | null; eosToken: string | null; eosIds: Set<number>; addBos: boolean },
  ) {
    this.vocabSize = pieces.length;
    this.bosId = init.bosId;
    this.bosToken = init.bosToken;
    this.eosToken = init.eosToken;
    this.eosIds = init.eosIds;
    this.addBos = init.addBos;
    this.hasChatTemplate = template !== null;
    this.bytesCache = new Array(pieces.length);
  }

  /**
   * Loads `dir/tokenizer.json` (required), `dir/tokenizer_config.json`, `dir/config.json` and
   * `dir/generation_config.json` (optional; the last two only for EOS ids), and a chat template
   * from `chat_template.jinja`, `chat_template.json` or tokenizer_config's `chat_template`.
   */
  static async load(dir: string, opts: TokenizerLoadOptions = {}): Promise<Tokenizer> {
    const tokenizerPath = join(dir, 'tokenizer.json');
    const tokenizerJson = readJson(tokenizerPath, true);
    const configPath = join(dir, 'tokenizer_config.json');
    const config = (readJson(configPath, false) ?? {}) as Record<string, unknown>;
    const modelConfig = (readJson(join(dir, 'config.json'), false) ?? {}) as Record<string, unknown>;
    const generationConfig = (readJson(join(dir, 'generation_config.json'), false) ?? {}) as Record<string, unknown>;
    const template = chatTemplateSource(dir, configPath, config);
    return Tokenizer.fromSources({ tokenizerJson, tokenizerPath, config, configPath, modelConfig, generationConfig, template }, opts);
  }

  /**
   * A GGUF file's own tokenizer (tokenizer.ggml.* metadata and tokenizer.chat_template), as the
   * tokenizer.json it stands for (see ggufTokenizer.ts); no file besides the GGUF is read.
   */
  static async fromGguf(file: GgufFile, opts: TokenizerLoadOptions = {}): Promise<Tokenizer> {
    const { tokenizerJson, config, modelConfig, template } = ggufTokenizerJson(file);
    return Tokenizer.fromSources({ tokenizerJson, tokenizerPath: file.path, config, modelConfig, template }, opts);
  }

  /** The tokenizer from in-memory sources: what `load` reads from a folder, or what a GGUF holds. */
  static async fromSources(sources: TokenizerSources, opts: TokenizerLoadOptions = {}): Promise<Tokenizer> {
    const { tokenizerPath } = sources;
    const tokenizerJson = sources.tokenizerJson as Record<string, unknown>;
    const config = sources.config;
    const configPath = sources.configPath ?? tokenizerPath;
    const modelConfig = sources.modelConfig ?? {};
    const generationConfig = sources.generationConfig ?? {};

    if (typeof tokenizerJson !== 'object' || tokenizerJson === null || typeof tokenizerJson.model !== 'object') {
      throw new ModelError(tokenizerPath, 'has no "model" section; expected a Hugging Face tokenizer.json');
    }
    const plan = decoderPlan(tokenizerPath, tokenizerJson.decoder);

    const [{ Tokenizer: HfTokenizerClass }, { Template: TemplateClass }] = await Promise.all([
      import('@huggingface/tokenizers'),
      import('@huggingface/jinja'),
    ]);
    let hf: HfTokenizer;
    try {
      hf = new HfTokenizerClass(tokenizerJson, config);
    } catch (e) {
      throw new ModelError(tokenizerPath, `cannot be used: ${errorText(e)}`);
    }

    const pieces: Array<string | undefined> = [];
    for (const [piece, id] of hf.get_vocab(true)) pieces[id] = piece;
    const addedIds = new Set<number>();
    const specialIds = new Set<number>();
    for (const [id, added] of hf.get_added_tokens_decoder()) {
      pieces[id] = added.content;
      addedIds.add(id);
      if (added.special) specialIds.add(id);
    }

    const tokenId = (field: string): { token: string | null; id: number | null } => {
      const token = tokenText(config[field]);
      if (token === null) return { token: null, id: null };
      const id = hf.token_to_id(token);
      if (id === undefined) throw new ModelError(configPath, `${field} "${token}" is not in the vocabulary of tokenizer.json`);
      return { token, id };
    };

    const bos = tokenId('bos_token');
    let bosId = bos.id;
    let bosToken = bos.token;
    // config.json's bos_token_id only when tokenizer_config does not mention BOS at all: an
    // explicit `"bos_token": null` (Qwen2) means the tokenizer has none.
    const bosFromModel = modelConfig.bos_token_id;
    if (!('bos_token' in config) && typeof bosFromModel === 'number' && pieces[bosFromModel] !== undefined) {
      bosId = bosFromModel;
      bosToken = pieces[bosFromModel] ?? null;
    }

    const eos = tokenId('eos_token');
    const eosIds = new Set<number>();
    if (eos.id !== null) eosIds.add(eos.id);
    for (const source of [modelConfig.eos_token_id, generationConfig.eos_token_id]) {
      const ids: unknown[] = Array.isArray(source) ? source : [source];
      for (const id of ids) if (typeof id === 'number' && Number.isInteger(id)) eosIds.add(id);
    }
    for (const id of opts.extraEos ?? []) eosIds.add(id);

    // add_bos_token when the config says so; otherwise whatever the post-processor does
    // (Llama 3's config omits the flag and adds <|begin_of_text|> in its TemplateProcessing).
    let addBos: boolean;
    if (typeof config.add_bos_token === 'boolean') addBos = config.add_bos_token;
    else {
      const withSpecial = hf.encode('a', { add_special_tokens: true }).ids;
      addBos = bosId !== null && withSpecial[0] === bosId && hf.encode('a', { add_special_tokens: false }).ids[0] !== bosId;
    }
    if (bosId === null) addBos = false;

    const source = sources.template;
    let template: Template | null = null;
    if (source) {
      try {
        template = new TemplateClass(source.text);
      } catch (e) {
        throw new ModelError(source.file, `chat template does not parse: ${errorText(e)}`);
      }
    }

    return new Tokenizer(hf, plan, pieces, addedIds, specialIds, template, {
      bosId,
      bosToken,
      eosToken: eos.token ?? (eosIds.size ? (pieces[[...eosIds][0]] ?? null) : null),
      eosIds,
      addBos,
    });
  }

  /** Token ids of `text`; BOS first when the tokenizer adds one (or `addBos` says so); never EOS. */
  encode(text: string, opts: { addBos?: boolean } = {}): number[] {
    const ids: number[] = Array.from(this.hf.encode(text, { add_special_tokens: false }).ids, Number);
    const addBos = opts.addBos ?? this.addBos;
    if (addBos && this.bosId !== null) ids.unshift(this.bosId);
    return ids;
  }

  /** Text of `ids`. Ids with no token (padding rows of a larger embedding) decode to nothing. */
  decode(ids: readonly number[], opts: DecodeOptions = {}): string {
    const parts: Uint8Array[] = [];
    let length = 0;
    for (const id of ids) {
      if (opts.skipSpecial && this.isSpecial(id)) continue;
      const bytes = this.tokenBytes(id);
      parts.push(bytes);
      length += bytes.length;
    }
    const all = new Uint8Array(length);
    let at = 0;
    for (const p of parts) {
      all.set(p, at);
      at += p.length;
    }
    const text = new TextDecoder('utf-8').decode(all);
    return opts.continuation ? text : this.stripLeading(text, 0).text;
  }

  /** True for special added tokens (BOS, EOS, chat markers): what `skipSpecial` leaves out. */
  isSpecial(id: number): boolean {
    return this.specialIds.has(id);
  }

  /**
   * Removes the decoder's leading strip (sentencepiece: the first '▁' of a sequence) from `text`,
   * given how many strip characters were already removed. For the stream decoder as well.
   */
  stripLeading(text: string, alreadyStripped: number): { text: string; stripped: number } {
    let n = alreadyStripped;
    let i = 0;
    while (n < this.plan.leadingStrip && i < text.length && text[i] === this.plan.stripChar) {
      i++;
      n++;
    }
    return { text: text.slice(i), stripped: n };
  }

  /** The UTF-8 bytes token `id` stands for (see the file header); empty for an id with no token. */
  tokenBytes(id: number): Uint8Array {
    const cached = this.bytesCache[id];
    if (cached) return cached;
    const piece = Number.isInteger(id) && id >= 0 ? this.pieces[id] : undefined;
    if (piece === undefined) return new Uint8Array(0);
    const bytes = this.addedIds.has(id) ? this.utf8.encode(piece) : this.pieceBytes(piece);
    this.bytesCache[id] = bytes;
    return bytes;
  }

  /**
   * Renders `messages` with the model's chat template, or the plain fallback (see plainChat).
   * @huggingface/jinja itself provides raise_exception and strftime_now, as transformers does.
   */
  renderChat(messages: ChatMessage[], addGenerationPrompt = true): string {
    if (!this.template) return plainChat(messages, addGenerationPrompt);
    try {
      return this.template.render({
        messages,
        add_generation_prompt: addGenerationPrompt,
        bos_token: this.bosToken ?? '',
        eos_token: this.eosToken ?? '',
      });
    } catch (e) {
      throw new Error(`chat template failed: ${errorText(e)}`);
    }
  }

  /**
   * Ids of the rendered chat with the generation prompt. With a template no BOS is added (as in
   * Hugging Face's apply_chat_template: a template that wants BOS writes it, and its text encodes
   * to the BOS id); the plain fallback gets BOS as for raw text.
   */
  encodeChat(messages: ChatMessage[]): number[] {
    const text = this.renderChat(messages, true);
    return this.encode(text, { addBos: this.template ? false : this.addBos });
  }

  private pieceBytes(piece: string): Uint8Array {
    const plan = this.plan;
    if (plan.byteFallback) {
      const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(piece);
      if (m) return Uint8Array.of(parseInt(m[1], 16));
    }
    let text = piece;
    for (const [from, to] of plan.replacements) text = text.split(from).join(to);
    if (plan.byteLevel) {
      const out = new Uint8Array(text.length);
      let n = 0;
      for (const ch of text) {
        const b = BYTE_LEVEL_DECODE.get(ch);
        // Like the reference implementation: a token with a non-byte-level character is taken
        // as its literal UTF-8 text.
        if (b === undefined) return this.utf8.encode(text);
        out[n++] = b;
      }
      return out.slice(0, n);
    }
    return this.utf8.encode(text);
  }
}

/** The documented fallback for models without a chat template: one "Role: content" line per message. */
function plainChat(messages: ChatMessage[], addGenerationPrompt: boolean): string {
  const lines = messages.map((m) => `${PLAIN_ROLE_LABEL[m.role]}: ${m.content}`);
  if (addGenerationPrompt) lines.push('Assistant:');
  return lines.join('\n');
}

/** GPT-2's byte-to-symbol table, inverted: printable bytes map to themselves, the rest to U+0100 upward. */
const BYTE_LEVEL_DECODE: ReadonlyMap<string, number> = (() => {
  const map = new Map<string, number>();
  let next = 256;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    map.set(String.fromCodePoint(printable ? b : next++), b);
  }
  return map;
})();

/** Reads tokenizer.json's decoder into a byte plan; decoders other models use are refused clearly. */
function decoderPlan(file: string, decoder: unknown): DecoderPlan {
  const plan: DecoderPlan = { byteFallback: false, byteLevel: false, replacements: [], leadingStrip: 0, stripChar: ' ' };
  const visit = (d: unknown): void => {
    if (typeof d !== 'object' || d === null) throw new ModelError(file, 'has no decoder section (needed to turn tokens back into text)');
    const spec = d as Record<string, unknown>;
    switch (spec.type) {
      case 'Sequence':
        if (!Array.isArray(spec.decoders)) throw new ModelError(file, 'decoder Sequence has no "decoders" list');
        spec.decoders.forEach(visit);
        return;
      case 'ByteLevel':
        plan.byteLevel = true;
        return;
      case 'ByteFallback':
        plan.byteFallback = true;
        return;
      case 'Fuse':
        return; // tokens are joined as bytes anyway
      case 'Replace': {
        const pattern = spec.pattern as Record<string, unknown> | undefined;
        if (typeof pattern?.String !== 'string' || typeof spec.content !== 'string') {
          throw new ModelError(file, 'decoder Replace with a regex pattern is not supported (only literal strings)');
        }
        plan.replacements.push([pattern.String, spec.content]);
        return;
      }
      case 'Metaspace': {
        const replacement = typeof spec.replacement === 'string' ? spec.replacement : '▁';
        plan.replacements.push([replacement, ' ']);
        const scheme = spec.prepend_scheme ?? (spec.add_prefix_space === false ? 'never' : 'always');
        if (scheme !== 'never') plan.leadingStrip = Math.max(plan.leadingStrip, 1);
        return;
      }
      case 'Strip': {
        const start = Number(spec.start ?? 0);
        const stop = Number(spec.stop ?? 0);
        if (stop !== 0) throw new ModelError(file, 'decoder Strip with stop > 0 is not supported');
        if (typeof spec.content !== 'string' || [...spec.content].length !== 1) {
          throw new ModelError(file, 'decoder Strip needs a one-character "content"');
        }
        plan.leadingStrip = Math.max(plan.leadingStrip, start);
        plan.stripChar = spec.content;
        return;
      }
      default:
        throw new ModelError(
          file,
          `decoder type ${JSON.stringify(spec.type)} is not supported (supported: ByteLevel, Metaspace, ByteFallback, Replace, Fuse, Strip)`,
        );
    }
  };
  visit(decoder);
  return plan;
}

/** The chat template, from the places transformers saves it (newest convention first). */
function chatTemplateSource(dir: string, configPath: string, config: Record<string, unknown>): TemplateSource | null {
  const jinjaPath = join(dir, 'chat_template.jinja');
  try {
    return { file: jinjaPath, text: readFileSync(jinjaPath, 'utf8') };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new ModelError(jinjaPath, `cannot be read: ${errorText(e)}`);
  }
  const jsonPath = join(dir, 'chat_template.json');
  const json = readJson(jsonPath, false) as Record<string, unknown> | null;
  const fromJson = json ? pickTemplate(jsonPath, json.chat_template) : null;
  if (fromJson) return { file: jsonPath, text: fromJson };
  const fromConfig = pickTemplate(configPath, config.chat_template);
  return fromConfig ? { file: configPath, text: fromConfig } : null;
}

/** chat_template is a string, or a list of named templates of which "default" is the chat one. */
function pickTemplate(file: string, value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) {
    const named = value as Array<{ name?: unknown; template?: unknown }>;
    const chosen = named.find((t) => t.name === 'default') ?? named[0];
    if (chosen && typeof chosen.template === 'string') return chosen.template;
  }
  throw new ModelError(file, 'chat_template must be a string or a list of {name, template}');
}

/** A special token in tokenizer_config: a string or an AddedToken-like object with content. */
function tokenText(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null && typeof (value as { content?: unknown }).content === 'string') {
    return (value as { content: string }).content;
  }
  return null;
}

function readJson(path: string, required: boolean): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      if (!required) return null;
      throw new ModelError(path, 'not found (the model folder needs a Hugging Face tokenizer.json)');
    }
    throw new ModelError(path, `cannot be read: ${errorText(e)}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ModelError(path, `is not valid JSON (${errorText(e)})`);
  }
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
