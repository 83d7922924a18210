// A GGUF's own tokenizer (Tokenizer.fromGguf): GGUFs written by our writer from the real SmolLM2
// (byte-level BPE, 'gpt2') and stories260k (sentencepiece, 'llama') tokenizers must encode, decode
// and render chats exactly as the tokenizer.json they came from, and tokenize as llama.cpp itself
// does on the same file (node-llama-cpp, vocabulary only) for each pre-tokenizer we map;
// malformed tokenizer metadata is one line naming the file and the key.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test, type TestContext } from 'node:test';
import { ModelError } from '../../../runtime/model/errors';
import { readGguf, type GgufFile, type GgufValue } from '../../../runtime/model/gguf/file';
import { makeRandomModel } from '../../../runtime/model/makeRandom';
import { ggufTokenizerJson, sentencepieceMerges } from '../../../runtime/text/ggufTokenizer';
import { Tokenizer, type ChatMessage } from '../../../runtime/text/tokenizer';
import { convertToGguf } from '../../../scripts/bench/gguf';
import { SMOLLM2, STORIES } from '../../support/models';
import { tinyConfigWithVocab } from '../../support/tinyModels';

const scratch = mkdtempSync(join(tmpdir(), 'gguf-tokenizer-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** Varied text: prose, code, digits, unicode, emoji, whitespace runs, newlines, CR. */
const TEXTS = [
  'Once upon a time, Lily saw a cat.',
  ' leading space and  double  spaces ',
  'line one\nline two\n\n\tindented\r\n  x\n\n\n',
  'héllo wörld — “quotes” 1234567 12.50 3.14159',
  'emoji 😀👍🏽 and CJK 日本語のテキスト 한국어',
  "code: for (let i = 0; i < n; i++) { sum += a[i]; } // it's they're I'LL WE'D",
  'trailing spaces   \n\n   ',
  '$$$ +++ <=> ^~| ```py\nx = 1```\ta\u00a0b',
  'ﬁ Ǆ µ 𝔘𝔫𝔦 ...!!! ¿¡ «»',
  '',
];

/** The SmolLM2 chat markers inside text (matched as special tokens). */
const SMOL_SPECIAL_TEXT = '<|im_start|>user\nhi there<|im_end|>\n<|im_start|>assistant\nHello!<|endoftext|>';

/**
 * Numerals outside ASCII. llama.cpp's SmolLM pre-tokenizer isolates every \p{N}, and so does ours
 * (and Hugging Face's Rust Digits, char::is_numeric); @huggingface/tokenizers' JS Digits splits
 * only ASCII digits, so tokenizer.json through it differs here: these are checked against llama.cpp.
 */
const NON_ASCII_NUMERALS = 'half ½ and ٣٤ and Ⅻ²';

const CHAT: ChatMessage[] = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'Sum 2 + 2?\nAnswer in `code`.' },
  { role: 'assistant', content: '4' },
  { role: 'user', content: 'Thanks 🙏' },
];

function haveModel(t: TestContext, dir: string): boolean {
  if (existsSync(join(dir, 'tokenizer.json'))) return true;
  t.skip(`real tokenizer not found: ${dir}`);
  return false;
}

/** A tiny random Llama that carries SmolLM2's tokenizer (vocab_size 49152), written once. */
let smolModel: Promise<string> | null = null;
function smolModelDir(): Promise<string> {
  smolModel ??= (async () => {
    const dir = join(scratch, 'smol');
    await makeRandomModel({ config: tinyConfigWithVocab(49152), outDir: dir, dtype: 'F32', seed: 1, tokenizerDir: SMOLLM2 });
    return dir;
  })();
  return smolModel;
}

/** The SmolLM2-tokenizer GGUF with tokenizer.ggml.pre `pre`, written once per pre. */
const smolGgufs = new Map<string, Promise<string>>();
function smolGguf(pre: string): Promise<string> {
  let p = smolGgufs.get(pre);
  if (!p) {
    p = smolModelDir().then((dir) => {
      const path = join(scratch, `smol-${pre}.gguf`);
      convertToGguf(dir, path, { fileType: 'F32', preTokenizer: pre });
      return path;
    });
    smolGgufs.set(pre, p);
  }
  return p;
}

let storiesPath: string | null = null;
function storiesGguf(): string {
  if (!storiesPath) {
    storiesPath = join(scratch, 'stories260k.gguf');
    convertToGguf(STORIES, storiesPath, { fileType: 'F32' });
  }
  return storiesPath;
}

/** Each tokenizer built once for the file (SmolLM2's takes a noticeable moment). */
const built = new Map<string, Promise<Tokenizer>>();
function once(key: string, make: () => Promise<Tokenizer>): Promise<Tokenizer> {
  let p = built.get(key);
  if (!p) built.set(key, (p = make()));
  return p;
}

type LlamaCpp = { loadModel(o: { modelPath: string; vocabOnly: boolean }): Promise<{ tokenize(text: string, special: boolean): readonly unknown[]; dispose(): Promise<void> }>; dispose(): Promise<void> };
let llamaCpp: Promise<LlamaCpp | string> | null = null;
/** llama.cpp through node-llama-cpp's prebuilt CPU binary (never downloaded or built), or why not. */
function loadLlamaCpp(): Promise<LlamaCpp | string> {
  llamaCpp ??= (async () => {
    process.env.NODE_LLAMA_CPP_SKIP_DOWNLOAD = 'true';
    try {
      const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
      return (await getLlama({ gpu: false, build: 'never', skipDownload: true, usePrebuiltBinaries: true, logLevel: LlamaLogLevel.error })) as unknown as LlamaCpp;
    } catch (e) {
      return `node-llama-cpp cannot run here: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`;
    }
  })();
  return llamaCpp;
}
after(async () => {
  const l = await llamaCpp;
  if (l && typeof l !== 'string') await l.dispose();
});

/** llama.cpp's ids for each text (special tokens parsed, no BOS), on the GGUF at `path`. */
async function llamaCppIds(llama: LlamaCpp, path: string, texts: string[]): Promise<number[][]> {
  const model = await llama.loadModel({ modelPath: path, vocabOnly: true });
  try {
    return texts.map((t) => Array.from(model.tokenize(t, true), Number));
  } finally {
    await model.dispose();
  }
}

describe("SmolLM2 as a GGUF ('gpt2', pre 'smollm')", () => {
  test('encodes, decodes and renders chats exactly as its tokenizer.json', async (t) => {
    if (!haveModel(t, SMOLLM2)) return;
    const ref = await once('smol-ref', () => Tokenizer.load(SMOLLM2));
    const ours = await once('smol-gguf', async () => Tokenizer.fromGguf(readGguf(await smolGguf('smollm'))));
    assert.equal(ours.vocabSize, ref.vocabSize);
    assert.equal(ours.bosId, ref.bosId);
    assert.equal(ours.bosToken, ref.bosToken);
    assert.equal(ours.eosToken, ref.eosToken);
    assert.deepEqual([...ours.eosIds], [...ref.eosIds]);
    assert.equal(ours.addBos, ref.addBos);
    assert.equal(ours.hasChatTemplate, true);
    for (const text of [...TEXTS, SMOL_SPECIAL_TEXT]) {
      const ids = ours.encode(text);
      assert.deepEqual(ids, ref.encode(text), `encode ${JSON.stringify(text)}`);
      assert.equal(ours.decode(ids), ref.decode(ids), `decode ${JSON.stringify(text)}`);
      assert.equal(ours.decode(ids), text, `round trip ${JSON.stringify(text)}`);
      assert.equal(ours.decode(ids, { skipSpecial: true }), ref.decode(ids, { skipSpecial: true }));
    }
    for (const id of [0, 1, 2, 17, 1000, 49151]) assert.equal(ours.isSpecial(id), ref.isSpecial(id), `isSpecial(${id})`);
    assert.equal(ours.renderChat(CHAT), ref.renderChat(CHAT));
    assert.equal(ours.renderChat(CHAT.slice(1), false), ref.renderChat(CHAT.slice(1), false));
    assert.deepEqual(ours.encodeChat(CHAT), ref.encodeChat(CHAT));
  });

  test('the GGUF tokenizer.json: byte-level BPE, chat markers as special added tokens, smollm regexes', async (t) => {
    if (!haveModel(t, SMOLLM2)) return;
    const file = readGguf(await smolGguf('smollm'));
    const { tokenizerJson, config, template } = ggufTokenizerJson(file);
    const model = tokenizerJson.model as { type: string; byte_fallback: boolean; ignore_merges: boolean; merges: unknown[] };
    const original = JSON.parse(readFileSync(join(SMOLLM2, 'tokenizer.json'), 'utf8')) as { model: { merges: unknown[] }; added_tokens: { id: number; content: string; special: boolean }[] };
    assert.equal(model.type, 'BPE');
    assert.equal(model.byte_fallback, false);
    assert.equal(model.ignore_merges, false);
    assert.equal(model.merges.length, original.model.merges.length);
    const added = tokenizerJson.added_tokens as { id: number; content: string; special: boolean }[];
    assert.deepEqual(
      added.map((a) => [a.id, a.content, a.special]),
      original.added_tokens.map((a) => [a.id, a.content, a.special]),
    );
    const pre = tokenizerJson.pre_tokenizer as { pretokenizers: Array<{ type: string; pattern?: { Regex: string } }> };
    assert.deepEqual(
      pre.pretokenizers.map((p) => p.pattern?.Regex ?? p.type),
      [String.raw`\p{N}`, String.raw`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)`, 'ByteLevel'],
    );
    assert.deepEqual(config, { bos_token: '<|im_start|>', eos_token: '<|im_end|>', add_bos_token: false });
    assert.equal(template?.file, `${file.path}:tokenizer.chat_template`);
    assert.equal(template?.text, JSON.parse(readFileSync(join(SMOLLM2, 'tokenizer_config.json'), 'utf8')).chat_template);
  });

  test('tokenizes as llama.cpp does on the same GGUF, for each pre-tokenizer we map', async (t) => {
    if (!haveModel(t, SMOLLM2)) return;
    const llama = await loadLlamaCpp();
    if (typeof llama === 'string') return t.skip(llama);
    const texts = [...TEXTS.filter((x) => x), SMOL_SPECIAL_TEXT, NON_ASCII_NUMERALS];
    // One file per pre: the SmolLM2 vocabulary under each group's regexes (llama-bpe also ignore_merges).
    for (const pre of ['smollm', 'llama-bpe', 'qwen2', 'gpt-2', 'default', 'falcon']) {
      const path = await smolGguf(pre);
      const ours = await Tokenizer.fromGguf(readGguf(path));
      const theirs = await llamaCppIds(llama, path, texts);
      texts.forEach((text, i) => assert.deepEqual(ours.encode(text, { addBos: false }), theirs[i], `pre ${pre}: ${JSON.stringify(text)}`));
    }
  });
});

describe("stories260k as a GGUF ('llama', sentencepiece)", () => {
  test('the writer stores a sentencepiece vocabulary: scores that rank the merges, token types, BOS, UNK', (t) => {
    if (!haveModel(t, STORIES)) return;
    const file = readGguf(storiesGguf());
    const meta = file.metadata;
    assert.equal(meta.get('tokenizer.ggml.model'), 'llama');
    assert.equal(meta.has('tokenizer.ggml.merges'), false);
    const tokens = meta.get('tokenizer.ggml.tokens') as string[];
    const types = meta.get('tokenizer.ggml.token_type') as Int32Array;
    const scores = meta.get('tokenizer.ggml.scores') as Float32Array;
    assert.equal(tokens.length, 512);
    assert.equal(scores.length, 512);
    assert.deepEqual([tokens[0], types[0]], ['<unk>', 2]);
    assert.deepEqual([tokens[1], types[1], tokens[2], types[2]], ['<s>', 3, '</s>', 3]);
    assert.deepEqual([tokens[3], types[3], tokens[258], types[258]], ['<0x00>', 6, '<0xFF>', 6]);
    assert.equal(types[300], 1);
    assert.equal(meta.get('tokenizer.ggml.unknown_token_id'), 0);
    assert.equal(meta.get('tokenizer.ggml.bos_token_id'), 1);
    assert.equal(meta.get('tokenizer.ggml.eos_token_id'), 2);
    assert.equal(meta.get('tokenizer.ggml.add_bos_token'), true);
    // tokenizer.json's first merge is ('▁', 't'): its product scores highest of all pieces.
    const first = tokens.indexOf('▁t');
    assert.equal(scores[first], -1);
    assert.ok(tokens.every((_, id) => types[id] !== 1 || id === first || scores[id] < -1));
  });

  test('the merges derived from the scores are exactly tokenizer.json\'s', (t) => {
    if (!haveModel(t, STORIES)) return;
    const { tokenizerJson } = ggufTokenizerJson(readGguf(storiesGguf()));
    const original = JSON.parse(readFileSync(join(STORIES, 'tokenizer.json'), 'utf8'));
    const model = tokenizerJson.model as Record<string, unknown>;
    assert.deepEqual(model.merges, original.model.merges);
    for (const key of ['type', 'unk_token', 'fuse_unk', 'byte_fallback', 'ignore_merges']) assert.deepEqual(model[key], original.model[key], key);
    assert.deepEqual(tokenizerJson.normalizer, original.normalizer);
    assert.deepEqual(tokenizerJson.decoder, original.decoder);
    assert.deepEqual(tokenizerJson.post_processor, original.post_processor);
    assert.equal(tokenizerJson.pre_tokenizer, null);
    assert.deepEqual(tokenizerJson.added_tokens, original.added_tokens);
  });

  test('encodes and decodes exactly as its tokenizer.json (BOS, byte fallback, special tokens in text)', async (t) => {
    if (!haveModel(t, STORIES)) return;
    const ref = await once('stories-ref', () => Tokenizer.load(STORIES));
    const ours = await once('stories-gguf', () => Tokenizer.fromGguf(readGguf(storiesGguf())));
    assert.equal(ours.vocabSize, 512);
    assert.equal(ours.bosId, 1);
    assert.deepEqual([...ours.eosIds], [2]);
    assert.equal(ours.addBos, true);
    assert.equal(ours.hasChatTemplate, false);
    for (const text of [...TEXTS, '<s>Hello</s> <unk> world', NON_ASCII_NUMERALS]) {
      const ids = ours.encode(text);
      assert.deepEqual(ids, ref.encode(text), `encode ${JSON.stringify(text)}`);
      assert.equal(ids[0], 1, 'BOS first');
      assert.equal(ours.decode(ids), ref.decode(ids), `decode ${JSON.stringify(text)}`);
      assert.equal(ours.decode(ids, { skipSpecial: true }), ref.decode(ids, { skipSpecial: true }));
      assert.deepEqual(ours.encode(text, { addBos: false }), ref.encode(text, { addBos: false }));
    }
    assert.equal(ours.decode(ours.encode('Once upon a time, 日本 😀'), { skipSpecial: true }), 'Once upon a time, 日本 😀');
    assert.equal(ours.renderChat(CHAT), ref.renderChat(CHAT));
  });

  test('tokenizes as llama.cpp does on the same GGUF', async (t) => {
    if (!haveModel(t, STORIES)) return;
    const llama = await loadLlamaCpp();
    if (typeof llama === 'string') return t.skip(llama);
    const ours = await once('stories-gguf', () => Tokenizer.fromGguf(readGguf(storiesGguf())));
    const texts = [...TEXTS.filter((x) => x), '<s>Hello</s> <unk> world', NON_ASCII_NUMERALS];
    const theirs = await llamaCppIds(llama, storiesGguf(), texts);
    texts.forEach((text, i) => assert.deepEqual(ours.encode(text, { addBos: false }), theirs[i], JSON.stringify(text)));
  });
});

test('sentencepiece merges: every split into two pieces, ranked by the whole piece\'s score', () => {
  const tokens = ['a', 'b', 'c', 'ab', 'bc', 'abc', 'ca'];
  const vocab: Record<string, number> = Object.fromEntries(tokens.map((t, i) => [t, i]));
  // 'abc' scores highest: its splits (a, bc) and (ab, c) come first, ordered by the left piece's id.
  const merges = sentencepieceMerges(tokens, [0, 0, 0, -2, -3, -1, -2], vocab);
  assert.deepEqual(merges, [['a', 'bc'], ['ab', 'c'], ['a', 'b'], ['c', 'a'], ['b', 'c']]);
});

describe('malformed tokenizer metadata: one line naming the file and what is wrong', () => {
  const PATH = '/models/broken.gguf';
  const BASE: Record<string, GgufValue> = {
    'tokenizer.ggml.model': 'gpt2',
    'tokenizer.ggml.pre': 'gpt-2',
    'tokenizer.ggml.tokens': ['a', 'b', 'ab', '<|end|>'],
    'tokenizer.ggml.token_type': Int32Array.from([1, 1, 1, 3]),
    'tokenizer.ggml.merges': ['a b'],
    'tokenizer.ggml.eos_token_id': 3,
  };
  const gguf = (meta: Record<string, GgufValue | undefined>): GgufFile => {
    const metadata = new Map<string, GgufValue>();
    for (const [k, v] of Object.entries(meta)) if (v !== undefined) metadata.set(k, v);
    return { path: PATH, version: 3, metadata, tensors: new Map(), dataStart: 0, fileSize: 0 };
  };

  test('the well-formed base case works (merges, special tokens, EOS)', async () => {
    const tok = await Tokenizer.fromGguf(gguf(BASE));
    assert.deepEqual(tok.encode('ab<|end|>ba'), [2, 3, 1, 0]);
    assert.deepEqual([...tok.eosIds], [3]);
    assert.equal(tok.bosId, null);
    assert.equal(tok.decode([2, 3, 1, 0], { skipSpecial: true }), 'abba');
  });

  const cases: Array<[string, Record<string, GgufValue | undefined>, RegExp]> = [
    ['no tokenizer at all', { 'tokenizer.ggml.model': undefined }, /missing metadata "tokenizer\.ggml\.model" \(this GGUF carries no tokenizer\)/],
    ['an unsupported tokenizer model', { 'tokenizer.ggml.model': 'bert' }, /tokenizer\.ggml\.model "bert" is not supported \(supported: gpt2, llama\)/],
    ['a model name of the wrong type', { 'tokenizer.ggml.model': 7 }, /metadata "tokenizer\.ggml\.model" must be a string/],
    ['no tokens', { 'tokenizer.ggml.tokens': undefined }, /missing metadata "tokenizer\.ggml\.tokens" \(the vocabulary\)/],
    ['tokens that are not strings', { 'tokenizer.ggml.tokens': Int32Array.from([1, 2]) }, /"tokenizer\.ggml\.tokens" must be an array of strings/],
    ['no merges for gpt2', { 'tokenizer.ggml.merges': undefined }, /missing metadata "tokenizer\.ggml\.merges" \(a 'gpt2' vocabulary needs its BPE merges\)/],
    ['a merge without a space', { 'tokenizer.ggml.merges': ['ab'] }, /"tokenizer\.ggml\.merges" entry 0 "ab" is not two tokens separated by a space/],
    ['an unknown pre-tokenizer', { 'tokenizer.ggml.pre': 'tekken' }, /tokenizer\.ggml\.pre "tekken" is not supported \(supported: default, llama3, .*smollm/],
    ['token types of the wrong length', { 'tokenizer.ggml.token_type': Int32Array.from([1, 1, 1]) }, /"tokenizer\.ggml\.token_type" has 3 entries but tokenizer\.ggml\.tokens has 4/],
    ['token types that are not numbers', { 'tokenizer.ggml.token_type': ['1', '1', '1', '3'] }, /"tokenizer\.ggml\.token_type" must be an array of numbers/],
    ['an EOS id outside the vocabulary', { 'tokenizer.ggml.eos_token_id': 99 }, /"tokenizer\.ggml\.eos_token_id" is 99, outside the vocabulary of 4 tokens/],
    ['a BOS id that is not an integer', { 'tokenizer.ggml.bos_token_id': 1.5 }, /"tokenizer\.ggml\.bos_token_id" must be a token id, got 1\.5/],
    ['a llama vocabulary without scores', { 'tokenizer.ggml.model': 'llama' }, /missing metadata "tokenizer\.ggml\.scores"/],
    ['scores of the wrong length', { 'tokenizer.ggml.model': 'llama', 'tokenizer.ggml.scores': Float32Array.from([0, 0]) }, /"tokenizer\.ggml\.scores" has 2 entries but tokenizer\.ggml\.tokens has 4/],
    ['a chat template that is not a string', { 'tokenizer.chat_template': 3 }, /metadata "tokenizer\.chat_template" must be a string/],
    ['an add_bos_token that is not a bool', { 'tokenizer.ggml.add_bos_token': 1 }, /metadata "tokenizer\.ggml\.add_bos_token" must be true or false/],
  ];
  for (const [name, change, message] of cases) {
    test(name, async () => {
      await assert.rejects(Tokenizer.fromGguf(gguf({ ...BASE, ...change })), (e: unknown) => {
        assert.ok(e instanceof ModelError, String(e));
        assert.equal(e.file, PATH);
        assert.match(e.message, message);
        assert.ok(!e.message.includes('\n'), 'one line');
        return true;
      });
    });
  }

  test('a chat template that does not parse names the GGUF key', async () => {
    await assert.rejects(Tokenizer.fromGguf(gguf({ ...BASE, 'tokenizer.chat_template': '{% for m in messages %}' })), (e: unknown) => {
      assert.ok(e instanceof ModelError);
      assert.equal(e.file, `${PATH}:tokenizer.chat_template`);
      assert.match(e.message, /chat template does not parse/);
      return true;
    });
  });
});
