// Minimal GGUF files for the extension's checks (src/modelFolder.ts) and the model picker: a real
// header (magic, version, tensor count 0, metadata) and no tensors. What the runtime loads is made
// by scripts/bench/gguf.ts convertToGguf instead.

/** A metadata value: a string, a u32, or an array of u32. */
export type GgufMetaValue = string | number | number[];

function str(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(b.length));
  return Buffer.concat([len, b]);
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

function value(v: GgufMetaValue): Buffer {
  if (typeof v === 'string') return Buffer.concat([u32(8), str(v)]);
  if (typeof v === 'number') return Buffer.concat([u32(4), u32(v)]);
  return Buffer.concat([u32(9), u32(4), u64(v.length), ...v.map(u32)]);
}

/** A GGUF header with `metadata` in order (default: general.architecture = `arch`). */
export function ggufHeader(opts: { arch?: string; version?: number; metadata?: [string, GgufMetaValue][] } = {}): Buffer {
  const metadata = opts.metadata ?? [['general.architecture', opts.arch ?? 'llama']];
  const kvs = metadata.map(([k, v]) => Buffer.concat([str(k), value(v)]));
  return Buffer.concat([Buffer.from('GGUF'), u32(opts.version ?? 3), u64(0), u64(metadata.length), ...kvs]);
}
