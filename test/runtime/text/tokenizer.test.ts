// Tokenizer: encoding and decoding against the real stories260k and SmolLM2 tokenizers (and the
// reference implementation, @huggingface/tokenizers), chat templates, BOS/EOS, load errors.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, test, type TestContext } from 'node:test';
import type { Tokenizer as HfTokenizer } from '@huggingface/tokenizers' with { 'resolution-mode': 'import' };
import { ModelError } from '../../../runtime/model/errors';
import { Tokenizer } from '../../../runtime/text/tokenizer';
import { skipWithoutModel } from '../../support/models';

const MODELS = resolve(__dirname, '../../../../shared/models');
const STORIES = join(MODELS, 'stories260k');
const SMOLLM2 = join(MODELS, 'smollm2-135m-instruct');

const scratch = mkdtempSync(join(tmpdir(), 'tokenizer-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

let dirCount = 0;
/** A fresh model folder under the scratch dir with the given files (objects are written as JSON). */
function folder(files: Record<string, unknown>): string {
  const dir = join(scratch, `m${dirCount++}`);
  mkdirSync(dir);
  for (const [name, content] of Object.entries(files)) {
    writeFileSync(join(dir, name), typeof content === 'string' ? content : JSON.stringify(content));
  }
  return dir;
}

/** Loads each real tokenizer once for the whole file (SmolLM2's takes a noticeable moment). */
const loaded = new Map<string, Promise<Tokenizer>>();
function load(dir: string): Promise<Tokenizer> {
  let p = loaded.get(dir);
  if (!p) loaded.set(dir, (p = Tokenizer.load(dir)));
  return p;
}

function haveModel(t: TestContext, dir: string): boolean {
  return !skipWithoutModel(t, join(dir, 'tokenizer.json'), 'real tokenizer');
}

/** The reference implementation, built from the same files, for cross-checks. */
async function reference(json: object, config: object): Promise<HfTokenizer> {
  const { Tokenizer: HfTokenizerClass } = await import('@huggingface/tokenizers');
  return new HfTokenizerClass(json, config);
}

async function referenceFor(dir: string): Promise<HfTokenizer> {
  const read = (f: string) => JSON.parse(readFileSync(join(dir, f), 'utf8'));
  return reference(read('tokenizer.json'), read('tokenizer_config.json'));
}

const SAMPLE_TEXTS = [
  'Once upon a time',
  'Once upon a time, Lily saw a cat.',
  ' leading space and  double  spaces ',
  'line one\nline two\n\n\tindented',
  'héllo wörld — “quotes” ½',
  'emoji 😀👍🏽 and CJK 日本語のテキスト 한국어',
  'code: for (let i = 0; i < n; i++) { sum += a[i]; }',
  '',
];

describe('stories260k (sentencepiece BPE with byte fallback)', () => {
  test('header facts: vocab, BOS, EOS, add_bos, no template', async (t) => {
    if (!haveModel(t, STORIES)) return;
    const tok = await load(STORIES);
    assert.equal(tok.vocabSize, 512);
    assert.equal(tok.bosId, 1);
    assert.deepEqual([...tok.eosIds], [2]);
    assert.equal(tok.addBos, true);
    assert.equal(tok.hasChatTemplate, false);
  });

  test('encode adds BOS and matches the reference prompt ids', async (t) => {
    if (!haveModel(t, STORIES)) return;
    const tok = await load(STORIES);
    const ref = JSON.parse(readFileSync(join(STORIES, 'reference.json'), 'utf8')) as { cases: Array<{ prompt_ids: number[] }> };
    assert.deepEqual(tok.encode('Once upon a time'), [1, 403, 407, 261, 378]);
    assert.deepEqual(tok.encode('Once upon a time', { addBos: false }), [403, 407, 261, 378]);
    // Case 2's prompt is this sentence: encoding it reproduces the ids the references were made from.
    const prompt = ref.cases[1].prompt_ids;
    assert.equal(tok.decode(prompt, { skipSpecial: true }), 'Once upon a time, Lily saw a cat.');
    assert.deepEqual(tok.encode('Once upon a time, Lily saw a cat.'), prompt);
  });

  test('decode of every reference greedy continuation gives its greedy_text', async (t) => {
    if (!haveModel(t, STORIES)) return;
    const tok = await load(STORIES);
    const ref = JSON.parse(readFileSync(join(STORIES, 'reference.json'), 'utf8')) as {
      cases: Array<{ prompt_ids: number[]; greedy_ids: number[]; greedy_text: string }>;
    };
    assert.ok(ref.cases.length >= 3);
    for (const c of ref.cases) {
      // greedy_text is the continuation as text: its leading space is real.
      assert.equal(tok.decode(c.greedy_ids, { continuation: true }), c.greedy_text);
      // As a sequence of its own, sentencepiece (and Hugging Face) drops the first '▁'.
      assert.equal(c.greedy_text[0], ' ');
      assert.equal(tok.decode(c.greedy_ids), c.greedy_text.slice(1));
      // After a prompt with text, the continuation reads as the tail of the whole decoded sequence
      // (after BOS alone, skipping BOS makes the first '▁' the sequence start, as in Hugging Face).
      const whole = tok.decode([...c.prompt_ids, ...c.greedy_ids], { skipSpecial: true });
      const prompt = tok.decode(c.prompt_ids, { skipSpecial: true });
      assert.equal(whole, prompt === '' ? c.greedy_text.slice(1) : prompt + c.greedy_text);
    }
  });

  test('tokenBytes: byte fallback, metaspace, special tokens', async (t) => {
    if (!haveModel(t, STORIES)) return;
    const tok = await load(STORIES);
    const enc = new TextEncoder();
    const byteF0 = tok.encode('😀', { addBos: false }).find((id) => tok.tokenBytes(id)[0] === 0xf0);
    assert.ok(byteF0 !== undefined, 'the emoji is spelled with byte-fallback tokens');
    assert.deepEqual(tok.tokenBytes(byteF0), Uint8Array.of(0xf0));
    assert.deepEqual(tok.tokenBytes(403), enc.encode(' Once'));
    assert.deepEqual(tok.tokenBytes(1), enc.encode('<s>'));
    assert.deepEqual(tok.tokenBytes(2), enc.encode('</s>'));
    assert.deepEqual(tok.tokenBytes(100_000), new Uint8Array(0), 'an id with no token has no bytes');
    assert.equal(tok.decode([1, 403, 2]), '<s> Once</s>');
    assert.equal(tok.decode([1, 403, 2], { skipSpecial: true }), 'Once');
  });

  test('encode and decode agree with @huggingface/tokenizers', async (t) => {
    if (!haveModel(t, STORIES)) return;
    const tok = await load(STORIES);
    const hf = await referenceFor(STORIES);
    for (const text of SAMPLE_TEXTS.filter((s) => s !== '')) {
      const ids = tok.encode(text);
      assert.deepEqual(ids, Array.from(hf.encode(text).ids), `encode ${JSON.stringify(text)}`);
      assert.equal(tok.decode(ids), hf.decode(ids), `decode ${JSON.stringify(text)}`);
      assert.equal(tok.decode(ids, { skipSpecial: true }), hf.decode(ids, { skip_special_tokens: true }));
      assert.equal(tok.decode(ids, { skipSpecial: true }), text, 'round trip');
    }
  });

  test('no chat template: the plain fallback, one BOS', async (t) => {
    if (!haveModel(t, STORIES)) return;
    const tok = await load(STORIES);
    const messages = [
      { role: 'system' as const, content: 'Be brief.' },
      { role: 'user' as const, content: 'Hi' },
    ];
    assert.equal(tok.renderChat(messages), 'System: Be brief.\nUser: Hi\nAssistant:');
    assert.equal(tok.renderChat(messages, false), 'System: Be brief.\nUser: Hi');
    const ids = tok.encodeChat(messages);
    assert.equal(ids[0], 1);
    assert.notEqual(ids[1], 1);
    assert.deepEqual(ids, tok.encode('System: Be brief.\nUser: Hi\nAssistant:'));
  });

  test('a template that writes bos_token does not get a second BOS', async (t) => {
    if (!haveModel(t, STORIES)) return;
    const dir = folder({
      'tokenizer_config.json': {
        bos_token: '<s>',
        eos_token: '</s>',
        add_bos_token: true,
        chat_template: "{{ bos_token }}{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}{% if add_generation_prompt %}[assistant]{% endif %}",
      },
    });
    copyFileSync(join(STORIES, 'tokenizer.json'), join(dir, 'tokenizer.json'));
    const tok = await Tokenizer.load(dir);
    assert.equal(tok.hasChatTemplate, true);
    const messages = [{ role: 'user' as const, content: 'Hi' }];
    assert.equal(tok.renderChat(messages), '<s>[user] Hi\n[assistant]');
    const ids = tok.encodeChat(messages);
    assert.equal(ids.filter((id) => id === 1).length, 1, `one BOS in ${ids}`);
    assert.equal(ids[0], 1);
  });
});

describe('SmolLM2 (byte-level BPE, ChatML)', () => {
  test('header facts', async (t) => {
    if (!haveModel(t, SMOLLM2)) return;
    const tok = await load(SMOLLM2);
    assert.equal(tok.vocabSize, 49152);
    assert.equal(tok.addBos, false);
    assert.equal(tok.hasChatTemplate, true);
    assert.deepEqual([...tok.eosIds].sort((a, b) => a - b), [2]); // <|im_end|>, also config.json's eos_token_id
    assert.deepEqual(tok.encode('Hello world'), tok.encode('Hello world', { addBos: false }));
  });

  test('ChatML rendering of a two-message conversation', async (t) => {
    if (!haveModel(t, SMOLLM2)) return;
    const tok = await load(SMOLLM2);
    const messages = [
      { role: 'user' as const, content: 'What is 2+2?' },
      { role: 'assistant' as const, content: '4.' },
    ];
    assert.equal(
      tok.renderChat(messages, false),
      '<|im_start|>system\nYou are a helpful AI assistant.<|im_end|>\n' +
        '<|im_start|>user\nWhat is 2+2?<|im_end|>\n' +
        '<|im_start|>assistant\n4.<|im_end|>\n',
    );
    const withSystem = [{ role: 'system' as const, content: 'Answer in French.' }, messages[0]];
    assert.equal(
      tok.renderChat(withSystem),
      '<|im_start|>system\nAnswer in French.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n',
    );
    const ids = tok.encodeChat(withSystem);
    assert.equal(ids[0], 1, '<|im_start|> is one special token');
    assert.equal(ids.filter((id) => id === 1).length, 3);
    assert.deepEqual(ids.slice(-4), tok.encode('<|im_start|>assistant\n'));
    assert.equal(tok.decode(ids), tok.renderChat(withSystem));
  });

  test('encode and decode agree with @huggingface/tokenizers', async (t) => {
    if (!haveModel(t, SMOLLM2)) return;
    const tok = await load(SMOLLM2);
    const hf = await referenceFor(SMOLLM2);
    assert.deepEqual(tok.encode(''), []);
    for (const text of [...SAMPLE_TEXTS.filter((s) => s !== ''), '<|im_start|>user\nhi<|im_end|>']) {
      const ids = tok.encode(text);
      assert.deepEqual(ids, Array.from(hf.encode(text).ids), `encode ${JSON.stringify(text)}`);
      assert.equal(tok.decode(ids), hf.decode(ids));
      assert.equal(tok.decode(ids, { skipSpecial: true }), hf.decode(ids, { skip_special_tokens: true }));
    }
    assert.equal(tok.decode(tok.encode('<|im_start|>user\nhi<|im_end|>'), { skipSpecial: true }), 'user\nhi');
  });

  test('tokenBytes undoes the GPT-2 byte mapping', async (t) => {
    if (!haveModel(t, SMOLLM2)) return;
    const tok = await load(SMOLLM2);
    const [space] = tok.encode(' ');
    assert.deepEqual(tok.tokenBytes(space), Uint8Array.of(0x20)); // 'Ġ'
    const [newline] = tok.encode('\n');
    assert.deepEqual(tok.tokenBytes(newline), Uint8Array.of(0x0a)); // 'Ċ'
    assert.deepEqual(tok.tokenBytes(1), new TextEncoder().encode('<|im_start|>'));
    // '語' is three bytes spread over several tokens: each token holds a part of the sequence.
    const ids = tok.encode('語');
    assert.ok(ids.length > 1);
    assert.deepEqual(Buffer.concat(ids.map((id) => tok.tokenBytes(id))), Buffer.from('語'));
  });
});

describe('loading', () => {
  test('missing tokenizer.json: one line naming the file', async () => {
    const dir = folder({ 'config.json': { model_type: 'llama' } });
    const file = join(dir, 'tokenizer.json');
    await assert.rejects(Tokenizer.load(dir), (e: unknown) => {
      assert.ok(e instanceof ModelError);
      assert.equal(e.file, file);
      assert.match(e.message, /^.*tokenizer\.json: not found/);
      assert.ok(!e.message.includes('\n'));
      return true;
    });
  });

  test('corrupt tokenizer.json and tokenizer_config.json are named', async () => {
    const bad = folder({ 'tokenizer.json': '{"model": {"type": "BPE", ' });
    await rejectsWith(Tokenizer.load(bad), `${join(bad, 'tokenizer.json')}: is not valid JSON (`);
    const badConfig = folder({ 'tokenizer.json': TINY_TOKENIZER, 'tokenizer_config.json': 'not json' });
    await rejectsWith(Tokenizer.load(badConfig), `${join(badConfig, 'tokenizer_config.json')}: is not valid JSON (`);
  });

  test('unsupported decoder and broken templates are refused with the reason', async () => {
    const wordPiece = folder({ 'tokenizer.json': { ...TINY_TOKENIZER, decoder: { type: 'WordPiece', prefix: '##' } } });
    await assert.rejects(Tokenizer.load(wordPiece), /tokenizer\.json: decoder type "WordPiece" is not supported/);
    const noModel = folder({ 'tokenizer.json': { decoder: { type: 'ByteLevel' } } });
    await assert.rejects(Tokenizer.load(noModel), /tokenizer\.json: has no "model" section/);
    const badTemplate = folder({ 'tokenizer.json': TINY_TOKENIZER, 'tokenizer_config.json': { chat_template: '{% for m in messages %}' } });
    await assert.rejects(Tokenizer.load(badTemplate), /tokenizer_config\.json: chat template does not parse/);
    const unknownBos = folder({ 'tokenizer.json': TINY_TOKENIZER, 'tokenizer_config.json': { bos_token: '<bos>' } });
    await assert.rejects(Tokenizer.load(unknownBos), /tokenizer_config\.json: bos_token "<bos>" is not in the vocabulary/);
  });

  test('EOS ids: union of tokenizer_config, config.json, generation_config.json and extraEos', async () => {
    const dir = folder({
      'tokenizer.json': TINY_TOKENIZER,
      'tokenizer_config.json': { bos_token: '<s>', eos_token: '</s>' },
      'config.json': { eos_token_id: [2, 5] },
      'generation_config.json': { eos_token_id: 6 },
    });
    const tok = await Tokenizer.load(dir, { extraEos: [7] });
    assert.deepEqual([...tok.eosIds].sort((a, b) => a - b), [2, 5, 6, 7]);
    assert.equal(tok.bosId, 1);
    // No add_bos_token and no post-processor: nothing adds BOS.
    assert.equal(tok.addBos, false);
    // BOS from config.json only when tokenizer_config does not say; an explicit null means none.
    const fromModel = await Tokenizer.load(folder({ 'tokenizer.json': TINY_TOKENIZER, 'config.json': { bos_token_id: 1 } }));
    assert.equal(fromModel.bosId, 1);
    const none = await Tokenizer.load(
      folder({ 'tokenizer.json': TINY_TOKENIZER, 'tokenizer_config.json': { bos_token: null }, 'config.json': { bos_token_id: 1 } }),
    );
    assert.equal(none.bosId, null);
    assert.equal(none.addBos, false);
  });

  test('without add_bos_token, BOS follows the post-processor (Llama 3 style)', async () => {
    const withTemplate = {
      ...TINY_TOKENIZER,
      post_processor: {
        type: 'TemplateProcessing',
        single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
        pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
        special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
      },
    };
    const tok = await Tokenizer.load(folder({ 'tokenizer.json': withTemplate, 'tokenizer_config.json': { bos_token: '<s>' } }));
    assert.equal(tok.addBos, true);
    assert.equal(tok.encode('ab')[0], 1);
    assert.equal(tok.encode('ab').filter((id) => id === 1).length, 1);
    const off = await Tokenizer.load(folder({ 'tokenizer.json': withTemplate, 'tokenizer_config.json': { bos_token: '<s>', add_bos_token: false } }));
    assert.notEqual(off.encode('ab')[0], 1);
  });

  test('chat_template.jinja wins over tokenizer_config and a render error is reported', async () => {
    const dir = folder({
      'tokenizer.json': TINY_TOKENIZER,
      'tokenizer_config.json': { chat_template: 'config template' },
      'chat_template.jinja': "{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('no system role') }}{% endif %}<{{ m['content'] }}>{% endfor %}",
    });
    const tok = await Tokenizer.load(dir);
    assert.equal(tok.renderChat([{ role: 'user', content: 'ab' }]), '<ab>');
    assert.throws(() => tok.renderChat([{ role: 'system', content: 'x' }]), /chat template failed: .*no system role/);
  });

  test('a tiny sentencepiece tokenizer decodes like the reference (no shared models needed)', async () => {
    const dir = folder({ 'tokenizer.json': TINY_TOKENIZER, 'tokenizer_config.json': { bos_token: '<s>', add_bos_token: true } });
    const tok = await Tokenizer.load(dir);
    const hf = await reference(TINY_TOKENIZER, { bos_token: '<s>', add_bos_token: true });
    for (const text of ['ab ba', ' a  b', 'a€b', 'zz']) {
      const ids = tok.encode(text);
      assert.equal(ids[0], 1);
      assert.deepEqual(ids.slice(1), Array.from(hf.encode(text, { add_special_tokens: false }).ids));
      assert.equal(tok.decode(ids, { skipSpecial: true }), text);
      assert.equal(tok.decode(ids), hf.decode(ids));
    }
  });
});

/** Rejects with a ModelError whose one-line message starts with `prefix`. */
async function rejectsWith(p: Promise<unknown>, prefix: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof ModelError, `a ModelError, got ${e}`);
    assert.ok(e.message.startsWith(prefix), `${JSON.stringify(e.message)} starts with ${JSON.stringify(prefix)}`);
    assert.ok(!e.message.includes('\n'));
    return true;
  });
}

/**
 * A minimal sentencepiece-style tokenizer.json: specials, all 256 byte-fallback tokens, a few
 * pieces and one merge, with the decoder sequence Llama and Mistral use.
 */
const TINY_TOKENIZER = (() => {
  const vocab: Record<string, number> = { '<unk>': 0, '<s>': 1, '</s>': 2 };
  for (let b = 0; b < 256; b++) vocab[`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`] = 3 + b;
  for (const piece of ['▁', 'a', 'b', '▁a', '▁b']) vocab[piece] = Object.keys(vocab).length;
  return {
    version: '1.0',
    added_tokens: ['<unk>', '<s>', '</s>'].map((content, id) => ({
      id,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: {
      type: 'Sequence',
      normalizers: [
        { type: 'Prepend', prepend: '▁' },
        { type: 'Replace', pattern: { String: ' ' }, content: '▁' },
      ],
    },
    pre_tokenizer: null,
    post_processor: null,
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: '▁' }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: '<unk>',
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      vocab,
      merges: [['▁', 'a'], ['▁', 'b']],
    },
  };
})();
