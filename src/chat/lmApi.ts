// The two chat APIs ThinK Lens uses, found at run time. `engines.vscode` stays ^1.100.0 so that
// older VS Code keeps today's commands, which is also why @types/vscode stays 1.100: vsce refuses a
// package whose @types/vscode is newer than its engine range. So the Language Model Chat Provider API,
// finalized in VS Code 1.104 (`vscode.lm.registerLanguageModelChatProvider`), is typed here, with
// the shapes of @types/vscode 1.104's declarations (only the members we use). The Chat Participant
// API (`vscode.chat.createChatParticipant`, final since 1.90) is in the 1.100 types already.
//
// Absent APIs register nothing: `lm.registerLanguageModelChatProvider` does not exist before 1.104,
// and hosts without chat (some forks) may lack `vscode.chat` altogether.

import * as vscode from 'vscode';

/** A model as the chat model picker lists it (`LanguageModelChatInformation`, VS Code 1.104). */
export interface LanguageModelChatInformation {
  readonly id: string;
  readonly name: string;
  readonly family: string;
  readonly version: string;
  readonly tooltip?: string;
  readonly detail?: string;
  readonly maxInputTokens: number;
  readonly maxOutputTokens: number;
  readonly capabilities: { readonly imageInput?: boolean; readonly toolCalling?: boolean | number };
}

/** A message as a provider receives it (`LanguageModelChatRequestMessage`, VS Code 1.104). */
export interface LanguageModelChatRequestMessage {
  readonly role: vscode.LanguageModelChatMessageRole;
  readonly content: ReadonlyArray<unknown>;
  readonly name: string | undefined;
}

/** `ProvideLanguageModelChatResponseOptions` (VS Code 1.104); tools are not offered (toolCalling: false). */
export interface ProvideLanguageModelChatResponseOptions {
  readonly modelOptions?: { readonly [name: string]: unknown };
  readonly tools?: readonly unknown[];
  readonly toolMode?: unknown;
}

/** `LanguageModelChatProvider` (VS Code 1.104). */
export interface LanguageModelChatProvider<T extends LanguageModelChatInformation = LanguageModelChatInformation> {
  readonly onDidChangeLanguageModelChatInformation?: vscode.Event<void>;
  provideLanguageModelChatInformation(options: { readonly silent: boolean }, token: vscode.CancellationToken): vscode.ProviderResult<T[]>;
  provideLanguageModelChatResponse(
    model: T,
    messages: readonly LanguageModelChatRequestMessage[],
    options: ProvideLanguageModelChatResponseOptions,
    progress: vscode.Progress<vscode.LanguageModelTextPart>,
    token: vscode.CancellationToken,
  ): Thenable<void>;
  provideTokenCount(model: T, text: string | LanguageModelChatRequestMessage, token: vscode.CancellationToken): Thenable<number>;
}

type RegisterProvider = (vendor: string, provider: LanguageModelChatProvider) => vscode.Disposable;

/** `vscode.lm.registerLanguageModelChatProvider` where this VS Code has it (1.104+), else undefined. */
export function languageModelProviderApi(): RegisterProvider | undefined {
  const lm = (vscode as { lm?: { registerLanguageModelChatProvider?: unknown } }).lm;
  const register = lm?.registerLanguageModelChatProvider;
  return typeof register === 'function' ? (register.bind(lm) as RegisterProvider) : undefined;
}

/** `vscode.chat.createChatParticipant` where this host has it, else undefined. */
export function chatParticipantApi(): typeof vscode.chat.createChatParticipant | undefined {
  const chat = (vscode as { chat?: { createChatParticipant?: unknown } }).chat;
  const create = chat?.createChatParticipant;
  return typeof create === 'function' ? (create.bind(chat) as typeof vscode.chat.createChatParticipant) : undefined;
}

/** The text of a message's parts (text parts; tool results' text parts); other parts are dropped. */
export function messageText(content: ReadonlyArray<unknown>): string {
  const texts: string[] = [];
  for (const part of content) {
    if (typeof part === 'string') texts.push(part);
    else if (part && typeof part === 'object') {
      const value = (part as { value?: unknown }).value;
      const inner = (part as { content?: unknown }).content;
      if (typeof value === 'string') texts.push(value);
      else if (Array.isArray(inner)) texts.push(messageText(inner));
    }
  }
  return texts.join('');
}
