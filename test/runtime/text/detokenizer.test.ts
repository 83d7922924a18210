// Streaming detokenization: pieces pushed one token at a time concatenate to Tokenizer.decode of
// the same ids, and a character split across tokens never comes out as U+FFFD.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { StreamDecoder, type StreamDecoderOptions } from '../../../runtime/text/detokenizer';
import { Tokenizer } from '../../../runtime/text/tokenizer';
import { skipWithoutModel } from '../../support/models';

const MODELS = resolve(__dirname, '../../../../shared/models');
const STORIES = join(MODELS, 'stories260k');
const SMOLLM2 = join(MODELS, 'smollm2-135m-instruct');

const loaded = new Map<string, Promise<Tokenizer>>();
async function real(t: TestContext, dir: string): Promise<Tokenizer | null> {
  if (skipWithoutModel(t, join(dir, 'tokenizer.json'), 'real tokenizer')) return null;
  let p = loaded.get(dir);
  if (!p) loaded.set(dir, (p = Tokenizer.load(dir)));
  return p;
}

/** Every push's output, then the flush. */
function stream(tok: Tokenizer, ids: readonly number[], opts?: StreamDecoderOptions): { pieces: string[]; text: string } {
  const dec = new StreamDecoder(tok, opts);
  const pieces = ids.map((id) => dec.push(id));
  pieces.push(dec.flush());
  return { pieces, text: pieces.join('') };
}

const SPLIT_TEXTS = ['emoji 😀 then 👍🏽 done', '日本語のテキスト、中文，한국어', 'mixed é😀日 x', '🙂🙃'];

/** Deterministic ids in [0, n). */
function randomIds(count: number, n: number, seed: number): number[] {
  let x = seed >>> 0;
  return Array.from({ length: count }, () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x % n;
  });
}

for (const [name, dir] of [
  ['stories260k', STORIES],
  ['SmolLM2', SMOLLM2],
] as const) {
  describe(`${name} streaming`, () => {
    test('emoji and CJK split across tokens: no U+FFFD, same text as decode', async (t) => {
      const tok = await real(t, dir);
      if (!tok) return;
      let sawHeldBack = false;
      for (const text of SPLIT_TEXTS) {
        const ids = tok.encode(text);
        const { pieces, text: streamed } = stream(tok, ids, { skipSpecial: true });
        assert.equal(streamed, tok.decode(ids, { skipSpecial: true }));
        assert.equal(streamed, text);
        for (const p of pieces) assert.ok(!p.includes('\uFFFD'), `piece ${JSON.stringify(p)} of ${JSON.stringify(text)}`);
        // A token that carries only part of a character yields nothing until the character completes.
        if (ids.some((id, i) => pieces[i] === '' && !tok.isSpecial(id) && tok.tokenBytes(id).length > 0)) sawHeldBack = true;
      }
      assert.ok(sawHeldBack, 'some character was split across tokens (otherwise this test proves nothing)');
    });

    test('random id sequences stream to exactly what decode gives (invalid bytes included)', async (t) => {
      const tok = await real(t, dir);
      if (!tok) return;
      for (let seed = 1; seed <= 200; seed++) {
        const ids = randomIds(1 + (seed % 17), tok.vocabSize, seed);
        for (const opts of [{ skipSpecial: true }, { skipSpecial: false }, { skipSpecial: true, continuation: true }]) {
          assert.equal(stream(tok, ids, opts).text, tok.decode(ids, opts), `ids ${ids} ${JSON.stringify(opts)}`);
        }
      }
    });

    test('special tokens: kept or skipped as asked', async (t) => {
      const tok = await real(t, dir);
      if (!tok) return;
      const special = [...tok.eosIds][0];
      const ids = [...tok.encode('Hi there', { addBos: false }), special];
      const eosText = new TextDecoder().decode(tok.tokenBytes(special));
      assert.ok(eosText.length > 0);
      assert.equal(stream(tok, ids).text, tok.decode(ids));
      assert.ok(stream(tok, ids).text.endsWith(eosText));
      assert.equal(stream(tok, ids, { skipSpecial: true }).text, 'Hi there');
    });
  });
}

describe('stories260k leading space', () => {
  test('the first token behaves as in decode; a continuation keeps its space', async (t) => {
    const tok = await real(t, STORIES);
    if (!tok) return;
    const ref = JSON.parse(readFileSync(join(STORIES, 'reference.json'), 'utf8')) as { cases: Array<{ greedy_ids: number[]; greedy_text: string }> };
    for (const c of ref.cases) {
      const plain = stream(tok, c.greedy_ids, { skipSpecial: true });
      assert.equal(plain.text, tok.decode(c.greedy_ids, { skipSpecial: true }));
      assert.equal(plain.text, c.greedy_text.slice(1));
      assert.equal(plain.pieces[0], c.greedy_text.slice(1, 1 + plain.pieces[0].length));
      assert.equal(stream(tok, c.greedy_ids, { skipSpecial: true, continuation: true }).text, c.greedy_text);
    }
    // With BOS kept, "<s>" comes first and nothing is stripped: as decode does.
    assert.deepEqual(stream(tok, [1, 403, 407]).pieces, ['<s>', ' Once', ' upon', '']);
    // BOS skipped: the first visible token loses its '▁'.
    assert.deepEqual(stream(tok, [1, 403, 407], { skipSpecial: true }).pieces, ['', 'Once', ' upon', '']);
  });

  test('flush emits an unfinished character as U+FFFD and starts a new sequence', async (t) => {
    const tok = await real(t, STORIES);
    if (!tok) return;
    const byteId = (b: number) => tok.encode('日', { addBos: false }).find((id) => tok.tokenBytes(id)[0] === b);
    const e6 = byteId(0xe6);
    const x97 = byteId(0x97);
    assert.ok(e6 !== undefined && x97 !== undefined);
    const dec = new StreamDecoder(tok, { skipSpecial: true });
    assert.equal(dec.push(e6), '');
    assert.equal(dec.push(x97), '');
    assert.equal(dec.flush(), '\uFFFD');
    assert.equal(tok.decode([e6, x97]), '\uFFFD');
    // Fresh sequence after flush: the leading '▁' is stripped again, nothing left over.
    assert.equal(dec.push(403), 'Once');
    assert.equal(dec.flush(), '');
  });
});
