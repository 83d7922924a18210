// Command-line argument helpers shared by the think-lens commands: one-line usage errors.
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { CachePrecision, Device } from '../../core/protocol/settings';

type Out = { write(s: string): unknown };
export interface CliIo {
  stdout: Out;
  stderr: Out;
}

/** Wrong flags or values: exit code 2, with a pointer to the usage text. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** node:util parseArgs, with its multi-sentence errors turned into one line of ours. */
export function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T, positionals = false) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: positionals });
  } catch (e) {
    const err = e as { code?: string; message: string };
    const flag = /'([^']+)'/.exec(err.message)?.[1];
    if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new UsageError(`unknown option ${flag ?? ''}`.trim());
    if (err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') throw new UsageError(`option ${flag?.split(' ')[0] ?? ''} needs a value`);
    if (err.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') throw new UsageError(`unexpected argument ${flag ?? ''}`.trim());
    throw new UsageError(err.message.split('.')[0]);
  }
}

export function num(flag: string, value: string | undefined, check: { int?: boolean; min?: number; max?: number } = {}): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  const bad = value.trim() === '' || !Number.isFinite(n) || (check.int && !Number.isInteger(n)) || (check.min !== undefined && n < check.min) || (check.max !== undefined && n > check.max);
  if (bad) {
    const kind = check.int ? 'an integer' : 'a number';
    const range = check.min !== undefined && check.max !== undefined ? ` in [${check.min}, ${check.max}]` : check.min !== undefined ? ` >= ${check.min}` : '';
    throw new UsageError(`--${flag} must be ${kind}${range} (got "${value}")`);
  }
  return n;
}

/** --device: cpu, webgpu or cuda (undefined when not given). */
export function deviceFlag(value: string | undefined): Device | undefined {
  if (value !== undefined && value !== 'cpu' && value !== 'webgpu' && value !== 'cuda') throw new UsageError(`--device must be cpu, webgpu or cuda (got "${value}")`);
  return value;
}

export function quantizeFlag(value: string | undefined): 'int8' | 'int4' | undefined {
  if (value !== undefined && value !== 'int8' && value !== 'int4') throw new UsageError(`--quantize must be int8 or int4 (got "${value}")`);
  return value;
}

/** --cache-precision: how the KV cache stores keys and values (undefined: the default, float16). */
export function cachePrecisionFlag(value: string | undefined): CachePrecision | undefined {
  if (value !== undefined && value !== 'float16' && value !== 'float32') throw new UsageError(`--cache-precision must be float16 or float32 (got "${value}")`);
  return value;
}

/** --model: an existing model folder or .gguf file, as an absolute path. */
export function modelFlag(value: string | undefined, command: string): string {
  if (!value) throw new UsageError(`${command} needs --model DIR|FILE.gguf`);
  const path = resolve(value);
  if (!existsSync(path)) throw new Error(`${path}: model not found (--model takes a model folder or a .gguf file)`);
  if (!statSync(path).isDirectory() && !path.toLowerCase().endsWith('.gguf'))
    throw new Error(`${path}: neither a folder nor a .gguf file (--model takes a model folder or a .gguf file)`);
  return path;
}
