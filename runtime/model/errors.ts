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

/**
 * A follow-up named a cache handle (GenerateParams.cache `{ extend }`) that is not the cache the
 * runtime holds, or named none: another request replaced the cache, a Stop while the prompt was
 * read left nothing reusable, or the model was loaded again. Never taken as a reset: appending to
 * the wrong cache (or to none) would answer from a context the caller does not know about.
 */
export class StaleCacheError extends Error {
  constructor(
    /** The handle the request named; null when it named none. */
    readonly asked: string | null,
    /** The handle of the cache the runtime holds; null when it holds nothing reusable. */
    readonly held: string | null,
  ) {
    const what = asked === null ? "the follow-up names no cache handle (cache: { extend: <the last result's cacheId> })" : `cache ${asked} is not held`;
    const holds = held === null ? 'the runtime holds no reusable cache' : `the runtime holds cache ${held}`;
    super(`${what}: ${holds}; send the whole prompt again with cache 'reset'`);
    this.name = 'StaleCacheError';
  }
}
