// A GGUF file's own tokenizer as the Hugging Face tokenizer.json it stands for, so the one
// Tokenizer (tokenizer.ts) serves GGUF models with no tokenizer.json on disk. The GGUF side is
// llama.cpp's (src/llama-vocab.cpp); what follows are the facts this conversion relies on.
//
// tokenizer.ggml.model 'gpt2' (byte-level BPE: Llama 3, Qwen2/2.5/3, SmolLM2): tokens are the
// byte-level strings of the vocabulary (id = index), merges are "left right" strings ranked by
// position (split at the first space after the first character). Text is pre-split by a list of
// regexes chosen by tokenizer.ggml.pre, each applied in turn to the pieces the previous one left
// (unmatched stretches stay pieces of their own): here a Sequence of Split(Isolated) pre-tokenizers,
// then ByteLevel without its own regex. The Llama 3 group also sets ignore_merges (a whole
// pre-token in the vocabulary is taken as is) and adds BOS by default.
//
// tokenizer.ggml.model 'llama' (sentencepiece BPE: Llama 2, Mistral, TinyLlama, llama2.c): tokens
// with scores; llama.cpp merges the adjacent pair whose concatenation is the highest-scoring
// vocabulary piece. As transformers' LlamaConverter does, that becomes a BPE with one merge (a, b)
// for every piece t = a + b with a and b in the vocabulary, ranked by t's score (highest first;
// equal scores keep piece order, and a piece's own splits are ordered by the ids of a, then b),
// byte fallback to the `<0xNN>` tokens, and the legacy normalizer: '▁' prepended (unless
// tokenizer.ggml.add_space_prefix is false) and spaces replaced by '▁'.
//
// Token types (tokenizer.ggml.token_type): 1 normal, 2 unknown, 3 control, 4 user-defined,
// 5 unused, 6 byte. Unknown and control tokens become special added tokens (matched in text,
// left out by skipSpecial), user-defined ones plain added tokens; the rest stay vocabulary only.
import { ModelError } from '../model/errors';
import type { GgufFile, GgufValue } from '../model/gguf/file';
import type { TemplateSource } from './tokenizer';

const TOKEN_UNKNOWN = 2;
const TOKEN_CONTROL = 3;
const TOKEN_USER_DEFINED = 4;

/** What Tokenizer.fromSources needs, built from the GGUF's metadata. */
export interface GgufTokenizerSources {
  tokenizerJson: Record<string, unknown>;
  /** tokenizer_config.json's equivalent: bos_token, eos_token, unk_token, add_bos_token. */
  config: Record<string, unknown>;
  /** config.json's equivalent: the further end-of-generation ids (eot, eom). */
  modelConfig: Record<string, unknown>;
  template: TemplateSource | null;
}

// The pre-tokenizer regexes of llama.cpp's llm_tokenizer_bpe (src/llama-vocab.cpp), by pre type.
const GPT2 = String.raw`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)`;
/** Llama 3's tokenizer.json regex with its (?i:...) contractions spelled out, as llama.cpp has it. */
const LLAMA3 = String.raw`(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;
/** Qwen2's: Llama 3's with single digits. */
const QWEN2 = String.raw`(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;

interface PreTokenizer {
  regexes: string[];
  /** llama.cpp's ignore_merges: a pre-token that is itself in the vocabulary is not merged up. */
  ignoreMerges: boolean;
  /** add_bos when tokenizer.ggml.add_bos_token is absent. */
  addBos: boolean;
}

const PRE_GROUPS: Array<{ names: string[] } & PreTokenizer> = [
  // LLAMA_VOCAB_PRE_TYPE_DEFAULT
  { names: ['default'], regexes: [String.raw`[\p{P}\$\+<=>\^~\|]+`, GPT2, String.raw`\p{N}+`, '[0-9][0-9][0-9]'], ignoreMerges: false, addBos: false },
  // LLAMA_VOCAB_PRE_TYPE_LLAMA3
  { names: ['llama3', 'llama-v3', 'llama-bpe', 'falcon3', 'falcon-h1', 'pixtral', 'midm-2.0', 'lfm2'], regexes: [LLAMA3], ignoreMerges: true, addBos: true },
  // LLAMA_VOCAB_PRE_TYPE_DBRX, _SMAUG: Llama 3's regex without its other settings
  { names: ['dbrx', 'smaug-bpe'], regexes: [LLAMA3], ignoreMerges: false, addBos: false },
  // LLAMA_VOCAB_PRE_TYPE_QWEN2 (and STABLELM2, which shares its regex)
  { names: ['qwen2', 'deepseek-r1-qwen', 'kormo', 'megrez', 'stablelm2'], regexes: [QWEN2], ignoreMerges: false, addBos: false },
  // LLAMA_VOCAB_PRE_TYPE_GPT2 (and MPT, OLMO, JAIS, TRILLION, GRANITE_DOCLING, which share its regex)
  {
    names: ['gpt-2', 'phi-2', 'jina-es', 'jina-de', 'gigachat', 'jina-v2-es', 'jina-v2-de', 'a.x-4.0', 'mellum', 'exaone4', 'mpt', 'olmo', 'jais', 'trillion', 'granite-docling'],
    regexes: [GPT2],
    ignoreMerges: false,
    addBos: false,
  },
  // LLAMA_VOCAB_PRE_TYPE_STARCODER (and REFACT, COMMAND_R, SMOLLM, CODESHELL, EXAONE, MINERVA): digits one by one, then GPT-2's
  { names: ['starcoder', 'refact', 'command-r', 'smollm', 'codeshell', 'exaone', 'minerva-7b'], regexes: [String.raw`\p{N}`, GPT2], ignoreMerges: false, addBos: false },
  // LLAMA_VOCAB_PRE_TYPE_FALCON
  { names: ['falcon'], regexes: [String.raw`[\p{P}\$\+<=>\^~\|` + '`]+', GPT2, '[0-9][0-9][0-9]'], ignoreMerges: false, addBos: false },
];

const PRE_TOKENIZERS: ReadonlyMap<string, PreTokenizer> = new Map(PRE_GROUPS.flatMap((g) => g.names.map((n) => [n, g] as const)));

/** The pre-tokenizer names this conversion knows (llama.cpp's tokenizer.ggml.pre values). */
export const GGUF_PRE_TOKENIZERS: readonly string[] = [...PRE_TOKENIZERS.keys()];

/** Typed reads of the tokenizer.ggml.* keys, each fault one line naming the file and the key. */
class Meta {
  constructor(private readonly file: GgufFile) {}

  fail(fault: string): never {
    throw new ModelError(this.file.path, fault);
  }

  has(key: string): boolean {
    return this.file.metadata.has(key);
  }

  get(key: string): GgufValue | undefined {
    return this.file.metadata.get(key);
  }

  string(key: string): string | null {
    const v = this.get(key);
    if (v === undefined) return null;
    if (typeof v !== 'string') this.fail(`metadata "${key}" must be a string`);
    return v;
  }

  bool(key: string): boolean | null {
    const v = this.get(key);
    if (v === undefined) return null;
    if (typeof v !== 'boolean') this.fail(`metadata "${key}" must be true or false`);
    return v;
  }

  strings(key: string, what: string): string[] {
    const v = this.get(key);
    if (v === undefined) this.fail(`missing metadata "${key}" (${what})`);
    if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) this.fail(`metadata "${key}" must be an array of strings (${what})`);
    return v as string[];
  }

  /** A numeric array of exactly `length` entries, or null when absent. */
  numbers(key: string, length: number, what: string): ArrayLike<number> | null {
    const v = this.get(key);
    if (v === undefined) return null;
    const ok = typeof v === 'object' && v !== null && typeof (v as ArrayLike<number>).length === 'number' && (!Array.isArray(v) || v.every((x) => typeof x === 'number'));
    if (!ok) this.fail(`metadata "${key}" must be an array of numbers (${what})`);
    const a = v as ArrayLike<number>;
    if (a.length !== length) this.fail(`metadata "${key}" has ${a.length} entries but tokenizer.ggml.tokens has ${length}`);
    return a;
  }

  /** A token id that must name a token, or null when absent. */
  tokenId(key: string, count: number): number | null {
    const v = this.get(key);
    if (v === undefined) return null;
    if (typeof v !== 'number' || !Number.isInteger(v)) this.fail(`metadata "${key}" must be a token id, got ${String(v)}`);
    if (v < 0 || v >= count) this.fail(`metadata "${key}" is ${v}, outside the vocabulary of ${count} tokens`);
    return v;
  }
}

/** The GGUF's tokenizer as tokenizer.json + tokenizer_config (+ EOS ids and the chat template). */
export function ggufTokenizerJson(file: GgufFile): GgufTokenizerSources {
  const m: Meta = new Meta(file);
  const model = m.string('tokenizer.ggml.model');
  if (model === null) m.fail('missing metadata "tokenizer.ggml.model" (this GGUF carries no tokenizer)');
  if (model !== 'gpt2' && model !== 'llama') m.fail(`tokenizer.ggml.model "${model}" is not supported (supported: gpt2, llama)`);

  // llama.cpp names empty tokens "[EMPTY_<id>]" (an empty string cannot be looked up).
  const tokens = m.strings('tokenizer.ggml.tokens', 'the vocabulary').map((t, i) => (t === '' ? `[EMPTY_${i}]` : t));
  if (tokens.length === 0) m.fail('metadata "tokenizer.ggml.tokens" is empty');
  const n = tokens.length;
  const types = m.numbers('tokenizer.ggml.token_type', n, 'one type per token');

  const vocab: Record<string, number> = Object.create(null);
  tokens.forEach((t, id) => (vocab[t] = id));
  const addedTokens: Record<string, unknown>[] = [];
  if (types) {
    for (let id = 0; id < n; id++) {
      const type = types[id];
      if (type !== TOKEN_UNKNOWN && type !== TOKEN_CONTROL && type !== TOKEN_USER_DEFINED) continue;
      addedTokens.push({ id, content: tokens[id], single_word: false, lstrip: false, rstrip: false, normalized: false, special: type !== TOKEN_USER_DEFINED });
    }
  }

  // llama.cpp's defaults: 'llama' has BOS 1, EOS 2, UNK 0; 'gpt2' none we would trust (its 11 is GPT-2's own).
  const spm = model === 'llama';
  const inRange = (id: number) => (id < n ? id : null);
  const bos = m.has('tokenizer.ggml.bos_token_id') ? m.tokenId('tokenizer.ggml.bos_token_id', n) : spm ? inRange(1) : null;
  const eos = m.has('tokenizer.ggml.eos_token_id') ? m.tokenId('tokenizer.ggml.eos_token_id', n) : spm ? inRange(2) : null;
  const unk = m.has('tokenizer.ggml.unknown_token_id') ? m.tokenId('tokenizer.ggml.unknown_token_id', n) : spm ? inRange(0) : null;
  const extraEos = [m.tokenId('tokenizer.ggml.eot_token_id', n), m.tokenId('tokenizer.ggml.eom_token_id', n)].filter((id): id is number => id !== null);

  let tokenizerJson: Record<string, unknown>;
  let defaultAddBos: boolean;
  if (spm) {
    const scores = m.numbers('tokenizer.ggml.scores', n, "a 'llama' vocabulary ranks its merges by these scores");
    if (!scores) m.fail('missing metadata "tokenizer.ggml.scores" (a \'llama\' vocabulary ranks its merges by these scores)');
    const addSpacePrefix = m.bool('tokenizer.ggml.add_space_prefix') ?? true;
    defaultAddBos = true;
    tokenizerJson = sentencepieceJson(tokens, scores, vocab, addedTokens, unk === null ? null : tokens[unk], addSpacePrefix);
  } else {
    const mergeStrings = m.strings('tokenizer.ggml.merges', "a 'gpt2' vocabulary needs its BPE merges");
    const merges = mergeStrings.map((s, i): [string, string] => {
      const at = s.indexOf(' ', 1);
      if (at < 0) m.fail(`metadata "tokenizer.ggml.merges" entry ${i} ${JSON.stringify(s)} is not two tokens separated by a space`);
      return [s.slice(0, at), s.slice(at + 1)];
    });
    // Absent: llama.cpp falls back to 'default' (with a warning); an unknown name is refused.
    const preName = m.string('tokenizer.ggml.pre') ?? 'default';
    const pre = PRE_TOKENIZERS.get(preName);
    if (!pre) m.fail(`tokenizer.ggml.pre "${preName}" is not supported (supported: ${GGUF_PRE_TOKENIZERS.join(', ')})`);
    defaultAddBos = pre.addBos;
    tokenizerJson = byteLevelJson(vocab, merges, addedTokens, pre);
  }

  const addBos = m.bool('tokenizer.ggml.add_bos_token') ?? defaultAddBos;
  const config: Record<string, unknown> = {
    bos_token: bos === null ? null : tokens[bos],
    eos_token: eos === null ? null : tokens[eos],
    add_bos_token: addBos && bos !== null,
  };
  if (unk !== null) config.unk_token = tokens[unk];
  if (spm && config.add_bos_token && bos !== null) tokenizerJson.post_processor = bosTemplate(tokens[bos], bos);

  const templateKey = 'tokenizer.chat_template';
  const text = m.string(templateKey);
  return {
    tokenizerJson,
    config,
    modelConfig: { eos_token_id: extraEos },
    template: text === null ? null : { file: `${file.path}:${templateKey}`, text },
  };
}

function byteLevelJson(vocab: Record<string, number>, merges: Array<[string, string]>, addedTokens: Record<string, unknown>[], pre: PreTokenizer): Record<string, unknown> {
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer: null,
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        ...pre.regexes.map((regex) => ({ type: 'Split', pattern: { Regex: regex }, behavior: 'Isolated', invert: false })),
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: pre.ignoreMerges,
      vocab,
      merges,
    },
  };
}

function sentencepieceJson(
  tokens: string[],
  scores: ArrayLike<number>,
  vocab: Record<string, number>,
  addedTokens: Record<string, unknown>[],
  unkToken: string | null,
  addSpacePrefix: boolean,
): Record<string, unknown> {
  const replaceSpaces = { type: 'Replace', pattern: { String: ' ' }, content: '▁' };
  const decoders: Record<string, unknown>[] = [{ type: 'Replace', pattern: { String: '▁' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }];
  if (addSpacePrefix) decoders.push({ type: 'Strip', content: ' ', start: 1, stop: 0 });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer: addSpacePrefix ? { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '▁' }, replaceSpaces] } : replaceSpaces,
    pre_tokenizer: null,
    post_processor: null,
    decoder: { type: 'Sequence', decoders },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: unkToken,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      vocab,
      merges: sentencepieceMerges(tokens, scores, vocab),
    },
  };
}

/**
 * The merges a sentencepiece vocabulary implies (transformers' SentencePieceExtractor): for each
 * piece, every split into two vocabulary pieces (ordered by their ids), then all of them ranked
 * by the piece's score, highest first, ties in piece order. Splits are by code point.
 */
export function sentencepieceMerges(tokens: readonly string[], scores: ArrayLike<number>, vocab: Record<string, number>): Array<[string, string]> {
  const found: Array<{ left: string; right: string; score: number; order: number }> = [];
  tokens.forEach((piece, id) => {
    if (vocab[piece] !== id) return; // a duplicate: the vocabulary keeps the last one
    const chars = Array.from(piece);
    const local: Array<{ left: string; right: string; l: number; r: number }> = [];
    for (let i = 1; i < chars.length; i++) {
      const left = chars.slice(0, i).join('');
      const right = chars.slice(i).join('');
      const l = vocab[left];
      const r = vocab[right];
      if (l !== undefined && r !== undefined) local.push({ left, right, l, r });
    }
    local.sort((a, b) => a.l - b.l || a.r - b.r);
    for (const x of local) found.push({ left: x.left, right: x.right, score: scores[id], order: found.length });
  });
  found.sort((a, b) => b.score - a.score || a.order - b.order);
  return found.map((x) => [x.left, x.right]);
}

/** Llama's TemplateProcessing that puts BOS first (as LlamaConverter writes it; encode adds BOS itself). */
function bosTemplate(bos: string, id: number): Record<string, unknown> {
  const special = (typeId: number) => ({ SpecialToken: { id: bos, type_id: typeId } });
  const seq = (name: string, typeId: number) => ({ Sequence: { id: name, type_id: typeId } });
  return {
    type: 'TemplateProcessing',
    single: [special(0), seq('A', 0)],
    pair: [special(0), seq('A', 0), special(1), seq('B', 1)],
    special_tokens: { [bos]: { id: bos, ids: [id], tokens: [bos] } },
  };
}
