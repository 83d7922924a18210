// The prompt for questions about a codebase, shared by the extension's Ask About Codebase and the
// CLI's `think-lens ask`: a system message, then the packed files (paths, numbered lines) and the
// question in one user message. Pure: no vscode, no node.
import type { ChatMessage } from '../protocol/rpc';

export const SYSTEM_PROMPT =
  'You answer questions about a codebase. The files below are numbered by line. Answer from them, ' +
  'and cite the lines you rely on as path:line (for example src/a.ts:12). If the files do not contain ' +
  'the answer, say so.';

/**
 * Chat-template markup (role headers, BOS/EOS, separators) around the system and user messages:
 * countTokens counts raw text, so this is reserved on top of the counted system prompt and question.
 */
export const TEMPLATE_OVERHEAD_TOKENS = 64;

/** The text whose token count is the prompt's overhead besides the files. */
export function overheadText(question: string): string {
  return `${SYSTEM_PROMPT}\n\nQuestion: ${question}`;
}

export function firstTurnMessages(context: string, question: string): ChatMessage[] {
  return [
    { role: 'system', content: SYSTEM_PROMPT },
    { role: 'user', content: `${context}\n\nQuestion: ${question}` },
  ];
}
