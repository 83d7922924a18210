// Stop strings over streamed chunks: held back while they could still match, never emitted,
// released when they cannot match.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { StopMatcher } from '../../../runtime/text/stopStrings';

/** Pushes the chunks; returns what was emitted (plus the flush unless stopped) and whether it stopped. */
function run(stops: string[], chunks: string[]): { text: string; stopped: boolean; emits: string[] } {
  const m = new StopMatcher(stops);
  const emits: string[] = [];
  let stopped = false;
  for (const c of chunks) {
    const r = m.push(c);
    emits.push(r.emit);
    if (r.stopped) {
      stopped = true;
      break;
    }
  }
  const text = emits.join('') + m.flush();
  return { text, stopped, emits };
}

describe('StopMatcher', () => {
  test('no stop strings: text passes straight through', () => {
    const m = new StopMatcher([]);
    assert.deepEqual(m.push('abc'), { emit: 'abc', stopped: false });
    assert.deepEqual(m.push('<|end|>'), { emit: '<|end|>', stopped: false });
    assert.equal(m.flush(), '');
  });

  test('a stop split across chunks is held back and never emitted', () => {
    const m = new StopMatcher(['<|end|>']);
    assert.deepEqual(m.push('Hello <|e'), { emit: 'Hello ', stopped: false });
    assert.deepEqual(m.push('nd'), { emit: '', stopped: false });
    assert.deepEqual(m.push('|> trailing'), { emit: '', stopped: true });
    // After the stop nothing more comes out.
    assert.deepEqual(m.push('more'), { emit: '', stopped: true });
    assert.equal(m.flush(), '');
  });

  test('held text is released as soon as it cannot be a stop', () => {
    const m = new StopMatcher(['<|end|>']);
    assert.deepEqual(m.push('a <|'), { emit: 'a ', stopped: false });
    assert.deepEqual(m.push('x'), { emit: '<|x', stopped: false });
    assert.deepEqual(m.push('<'), { emit: '', stopped: false });
    assert.equal(m.flush(), '<', 'an unfinished prefix at the end is ordinary text');
  });

  test('a stop inside one chunk emits only what precedes it', () => {
    assert.deepEqual(run(['\n\n'], ['line one\n\nline two']), { text: 'line one', stopped: true, emits: ['line one'] });
    assert.deepEqual(run(['STOP'], ['STOP now']), { text: '', stopped: true, emits: [''] });
  });

  test('the earliest stop wins; at the same place the longer one', () => {
    assert.equal(run(['abcd', 'bc'], ['xabc']).text, 'xa');
    assert.equal(run(['world', 'o'], ['hello world']).text, 'hell');
    const tie = new StopMatcher(['<', '</s>']);
    assert.deepEqual(tie.push('a</s>'), { emit: 'a', stopped: true });
  });

  test('a held prefix of one stop can complete another', () => {
    // "ab" could start "abc"; then "x" completes "abx".
    assert.deepEqual(run(['abc', 'abx'], ['1ab', 'x2']), { text: '1', stopped: true, emits: ['1', ''] });
    // Overlapping self-prefix: "aab" ending a run of a's.
    assert.deepEqual(run(['aab'], ['a', 'a', 'a', 'b']), { text: 'a', stopped: true, emits: ['', '', 'a', ''] });
  });

  test('any chunking of a text gives the same result as one chunk', () => {
    const text = 'The answer is 42.\nUser: and then? <|im_end|> ignored tail';
    const stops = ['<|im_end|>', '\nUser:'];
    const whole = run(stops, [text]);
    assert.deepEqual([whole.text, whole.stopped], ['The answer is 42.', true]);
    let x = 7;
    for (let trial = 0; trial < 200; trial++) {
      const chunks: string[] = [];
      for (let i = 0; i < text.length; ) {
        x = (Math.imul(x, 1103515245) + 12345) >>> 0;
        const n = 1 + (x % 6);
        chunks.push(text.slice(i, i + n));
        i += n;
      }
      const r = run(stops, chunks);
      assert.equal(r.text, whole.text, `chunks ${JSON.stringify(chunks)}`);
      assert.equal(r.stopped, true);
    }
    // Character by character, without any stop in the text: everything comes out.
    const clean = 'no stops here <|im_en but close\nUse';
    assert.deepEqual([run(stops, [...clean]).text, run(stops, [...clean]).stopped], [clean, false]);
  });

  test('non-ASCII stops and empty stop strings', () => {
    assert.equal(run(['。終'], ['これは', '。', '終わり']).text, 'これは');
    assert.equal(run(['🛑'], ['go 🛑 stop']).text, 'go ');
    // An empty stop would match everywhere: it is ignored.
    assert.deepEqual(run([''], ['abc']), { text: 'abc', stopped: false, emits: ['abc'] });
  });
});
