// The Answer panel's DOM: the transcript (question, streamed markdown answer, status per turn),
// a toolbar with the Stop button, the follow-up box, and a sidebar with what went into the prompt,
// the live cache size, the pruning ratio and a compact per-head mask view.

import type { CacheStats, ThinkMasks } from '../../core/protocol/rpc';
import type { ContextSummary } from '../../core/protocol/webview';
import { byId, el, replaceChildren, setStat, stat } from '../shared/element';
import { renderMaskHeatmap } from '../shared/maskHeatmap';
import { morphChildren } from '../shared/morph';
import { formatBytes, formatCount, formatDuration, formatPercent, formatRate } from '../../core/numberFormat';
import { renderMarkdown } from './markdown';
import { type AnswerState, isRunning, type Turn } from './model';

export interface AnswerViewHandlers {
  stop(): void;
  ask(question: string): void;
  openCitation(path: string, line: number): void;
}

interface TurnNodes {
  notice: HTMLElement;
  answer: HTMLElement;
  footer: HTMLElement;
  rendered?: Turn;
}

export class AnswerView {
  private readonly transcript: HTMLElement;
  private readonly status: HTMLElement;
  private readonly stopButton: HTMLButtonElement;
  private readonly askButton: HTMLButtonElement;
  private readonly input: HTMLTextAreaElement;
  private readonly turnNodes: TurnNodes[] = [];
  private shownMasks: ThinkMasks | undefined;
  private conversation = 0;

  constructor(root: HTMLElement, private readonly handlers: AnswerViewHandlers) {
    this.status = el('span', { className: 'status', attrs: { id: 'status', role: 'status', 'aria-live': 'polite' } }, 'Waiting for a question…');
    this.stopButton = el('button', { className: 'stop', attrs: { id: 'stop', type: 'button', disabled: true, title: 'Stop generating' } }, 'Stop');
    this.transcript = el('main', { className: 'transcript', attrs: { id: 'transcript' } });
    this.input = el('textarea', { attrs: { id: 'followup', rows: 2, placeholder: 'Ask a follow-up question (Enter to send, Shift+Enter for a new line)', 'aria-label': 'Follow-up question' } });
    this.askButton = el('button', { attrs: { id: 'ask', type: 'submit' } }, 'Ask');
    const form = el('form', { className: 'composer', attrs: { id: 'composer' } }, this.input, this.askButton);

    replaceChildren(
      root,
      el(
        'div',
        { className: 'answer-layout' },
        el('header', { className: 'toolbar' }, this.status, this.stopButton),
        this.transcript,
        el(
          'aside',
          { className: 'sidebar', attrs: { 'aria-label': 'Prompt and cache' } },
          section('What went in', el('p', { attrs: { 'data-stat': 'context' } }, 'No context yet.'), el('p', { className: 'muted', attrs: { 'data-stat': 'skipped' } })),
          section(
            'Cache',
            el(
              'dl',
              { className: 'stats' },
              ...stat('Tokens', 'cache-tokens'),
              ...stat('Size', 'cache-size'),
              ...stat('Keys', 'cache-keys'),
              ...stat('Pruning ratio', 'prune-ratio'),
            ),
          ),
          section('Kept key channels', el('div', { attrs: { id: 'mask-view' } }, el('p', { className: 'muted' }, 'No masks yet.'))),
        ),
        form,
      ),
    );

    this.stopButton.addEventListener('click', () => {
      this.stopButton.disabled = true; // one request is enough; the host answers with 'done'
      this.handlers.stop();
    });
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.submit();
    });
    this.input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.submit();
      }
    });
    this.transcript.addEventListener('click', (e) => {
      const link = (e.target as Element | null)?.closest?.('a.citation');
      if (!link) return;
      e.preventDefault();
      const path = link.getAttribute('data-path');
      const line = Number(link.getAttribute('data-line'));
      if (path && Number.isInteger(line) && line > 0) this.handlers.openCitation(path, line);
    });
  }

  render(state: AnswerState): void {
    const running = isRunning(state);
    this.stopButton.disabled = !running;
    this.askButton.disabled = running;
    if (state.conversation !== this.conversation) {
      this.conversation = state.conversation;
      this.turnNodes.length = 0;
      this.transcript.replaceChildren();
    }
    // Follow the stream while the reader is at the bottom; leave them alone once they scroll up.
    const root = document.scrollingElement ?? document.documentElement;
    const pinned = root.scrollTop + root.clientHeight >= root.scrollHeight - 48;
    state.turns.forEach((turn, i) => this.renderTurn(turn, i));
    if (pinned && running) root.scrollTop = root.scrollHeight;
    this.status.textContent = statusLine(state);
    this.renderContext(state.context);
    this.renderCache(state.cache);
    if (state.masks !== this.shownMasks) {
      this.shownMasks = state.masks;
      const m = state.masks;
      if (m) {
        const heads = m.layers[0]?.length ?? 0;
        replaceChildren(
          byId('mask-view'),
          renderMaskHeatmap(m, { compact: true }),
          el('p', { className: 'muted caption' }, `${m.layers.length} layers x ${heads} KV heads, head_dim ${m.headDim}; darker keeps more channels`),
        );
      }
    }
  }

  private submit(): void {
    const question = this.input.value.trim();
    if (!question || this.askButton.disabled) return;
    this.input.value = '';
    this.handlers.ask(question);
  }

  private renderTurn(turn: Turn, index: number): void {
    let nodes = this.turnNodes[index];
    if (!nodes) {
      const notice = el('p', { className: 'notice muted', attrs: { role: 'note', hidden: true } });
      const answer = el('div', { className: 'answer markdown', attrs: { 'data-turn': turn.turn } });
      const footer = el('div', { className: 'turn-footer' });
      const heading = el('h2', { className: 'question' }, turn.question || 'Answer');
      this.transcript.append(el('section', { className: 'turn' }, heading, notice, answer, footer));
      nodes = this.turnNodes[index] = { notice, answer, footer };
    }
    if (nodes.rendered === turn) return;
    if (nodes.rendered?.notice !== turn.notice) {
      nodes.notice.textContent = turn.notice ?? '';
      nodes.notice.hidden = !turn.notice;
    }
    if (nodes.rendered?.answer !== turn.answer) {
      const next = document.createElement('div');
      next.append(renderMarkdown(turn.answer));
      morphChildren(nodes.answer, next);
    }
    nodes.answer.setAttribute('aria-busy', String(turn.status === 'waiting' || turn.status === 'prefill' || turn.status === 'decode'));
    replaceChildren(nodes.footer, turnFooter(turn));
    nodes.rendered = turn;
  }

  private renderContext(context: ContextSummary | undefined): void {
    if (!context) return;
    setStat(
      'context',
      `${formatCount(context.filesIncluded)} of ${formatCount(context.filesConsidered)} files, ${formatCount(context.tokens)} tokens, budget ${formatCount(context.budgetTokens)}`,
    );
    setStat('skipped', context.filesSkipped > 0 ? `${formatCount(context.filesSkipped)} files skipped (binary, too large, generated or excluded)` : '');
  }

  private renderCache(cache: CacheStats | undefined): void {
    if (!cache) return;
    const stored = cache.keyBytes + cache.valueBytes;
    const unpruned = cache.fullKeyBytes + cache.valueBytes;
    setStat('cache-tokens', `${formatCount(cache.tokens)} (${formatCount(cache.prunedTokens)} pruned, ${formatCount(cache.fullTokens)} full)`);
    setStat('cache-size', `${formatBytes(stored)} of ${formatBytes(unpruned)} unpruned`);
    setStat('cache-keys', `${formatBytes(cache.keyBytes)} of ${formatBytes(cache.fullKeyBytes)} unpruned`);
    setStat('prune-ratio', formatPercent(cache.pruneRatio));
  }
}

function section(title: string, ...body: Node[]): HTMLElement {
  return el('section', { className: 'panel-section' }, el('h3', {}, title), ...body);
}


function statusLine(state: AnswerState): string {
  const turn = state.turns[state.turns.length - 1];
  if (!turn) return 'Waiting for a question…';
  const p = state.progress;
  switch (turn.status) {
    case 'waiting':
      return 'Reading the workspace…';
    case 'prefill':
      return p ? `Reading the prompt: ${formatCount(p.processed)} of ${formatCount(p.total)} tokens, ${formatRate(p.tokensPerSec)}` : 'Reading the prompt…';
    case 'decode':
      return p && p.phase === 'decode' ? `Answering: ${formatCount(p.generated)} tokens, ${formatRate(p.tokensPerSec)}` : 'Answering…';
    case 'done':
      return 'Done.';
    case 'stopped':
      return 'Stopped.';
    case 'error':
      return 'Failed.';
  }
}

const FINISH_TEXT: Record<string, string> = {
  eos: 'finished',
  length: 'stopped at the token limit',
  stop: 'stopped at a stop sequence',
  cancelled: 'stopped by you',
  context: 'stopped: the context is full',
};

function turnFooter(turn: Turn): Node | null {
  if (turn.status === 'error') return el('p', { className: 'error', attrs: { role: 'alert' } }, turn.error ?? 'The request failed.');
  if (!turn.finishReason) return null;
  const t = turn.timings;
  const timing = t ? ` · prefill ${formatDuration(t.prefillMs)} (${formatRate(t.prefillTokensPerSec)}) · ${formatDuration(t.decodeMsPerToken)}/token` : '';
  return el('p', { className: 'muted' }, `${FINISH_TEXT[turn.finishReason] ?? turn.finishReason}${timing}`);
}
