// Errors the runtime reports to users. Bad model input is always one line naming the file at
// fault and what is wrong with it, so the CLI and the extension can show it as-is (no stack).

/** A model folder, config or weight file the runtime cannot use. Message: `${file}: ${fault}`. */
export class ModelError extends Error {
  readonly file: string;
  readonly fault: string;

  constructor(file: string, fault: string) {
    super(`${file}: ${fault}`);
    this.name = 'ModelError';
    this.file = file;
    this.fault = fault;
  }
}

/** The prompt (plus what generation needs) does not fit in the model's context. */
export class ContextOverflowError extends Error {
  constructor(
    readonly promptTokens: number,
    readonly contextLength: number,
  ) {
    super(
      `the prompt has ${promptTokens} tokens but the model's context holds ${contextLength}; ` +
        `shorten the input or select less text`,
    );
    this.name = 'ContextOverflowError';
  }
}
