// The Answer panel's state transitions (media/answer/model.ts), replaying the recorded session.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyAnswerMessage, type AnswerState, EMPTY_ANSWER_STATE, isRunning } from '../../media/answer/model';
import type { AnswerInMessage } from '../../core/protocol/webview';
import { loadFixture } from '../support/webviewHarness';

const fixture = loadFixture<AnswerInMessage>('answer-session');
const replay = (msgs: AnswerInMessage[], from: AnswerState = EMPTY_ANSWER_STATE) => msgs.reduce(applyAnswerMessage, from);

test('answerModel: a recorded session goes waiting -> prefill -> decode -> done with the whole answer', () => {
  const statuses: string[] = [];
  let s = EMPTY_ANSWER_STATE;
  for (const m of fixture.messages) {
    s = applyAnswerMessage(s, m);
    const st = s.turns[0].status;
    if (statuses[statuses.length - 1] !== st) statuses.push(st);
  }
  assert.deepEqual(statuses, ['waiting', 'prefill', 'decode', 'done']);
  assert.equal(s.turns[0].answer, fixture.answer);
  assert.equal(s.turns[0].finishReason, 'length');
  assert.equal(isRunning(s), false);
  assert.ok(s.masks && s.context && s.cache);
  assert.equal(EMPTY_ANSWER_STATE.turns.length, 0, 'the initial state is never mutated');
});

test('answerModel: cancelled reads stopped, errors end the turn, late tokens do not reopen it', () => {
  let s = replay([{ type: 'question', question: 'q', turn: 1 }, { type: 'token', text: 'a' }]);
  assert.equal(isRunning(s), true);
  const done = fixture.messages[fixture.messages.length - 1] as Extract<AnswerInMessage, { type: 'done' }>;
  s = applyAnswerMessage(s, { type: 'done', result: { ...done.result, finishReason: 'cancelled' } });
  assert.equal(s.turns[0].status, 'stopped');
  s = applyAnswerMessage(s, { type: 'token', text: 'b' });
  assert.equal(s.turns[0].status, 'stopped');
  s = replay([{ type: 'question', question: 'again', turn: 2 }, { type: 'error', message: 'boom' }], s);
  assert.deepEqual([s.turns.length, s.turns[1].status, s.turns[1].error, isRunning(s)], [2, 'error', 'boom', false]);
});

test('answerModel: output before any question opens an untitled turn', () => {
  const s = replay([{ type: 'token', text: 'hi' }]);
  assert.deepEqual(s.turns, [{ turn: 1, question: '', answer: 'hi', status: 'decode' }]);
});

test('answerModel: a follow-up appends a turn; a new turn-1 question starts a new conversation', () => {
  const first = replay(fixture.messages);
  const follow = replay([{ type: 'question', question: 'and then?', turn: 2 }], first);
  assert.deepEqual([follow.conversation, follow.turns.length, follow.context, follow.masks], [first.conversation, 2, first.context, first.masks]);
  const fresh = applyAnswerMessage(follow, { type: 'question', question: 'new topic', turn: 1 });
  assert.deepEqual(fresh, { conversation: first.conversation + 1, turns: [{ turn: 1, question: 'new topic', answer: '', status: 'waiting' }] });
});

test('answerModel: a notice belongs to the turn it arrived in and does not end it', () => {
  const s = replay([
    { type: 'question', question: 'first', turn: 1 },
    { type: 'token', text: 'a' },
    { type: 'question', question: 'follow-up', turn: 2 },
    { type: 'notice', text: 'Files changed: re-reading the workspace for this question.' },
  ]);
  assert.equal(s.turns[0].notice, undefined);
  assert.equal(s.turns[1].notice, 'Files changed: re-reading the workspace for this question.');
  assert.equal(s.turns[1].status, 'waiting');
  assert.equal(isRunning(s), true);
});
