// ggml tensor types as GGUF files name them: id, block size (values sharing one scale) and bytes
// per block (ggml's type traits). Only the types this runtime decodes are `readable`; the others
// are named so that a file holding them is refused with the type's name.

export interface GgmlType {
  id: number;
  name: string;
  /** Values per block (1 for plain floats and ints). */
  blockSize: number;
  /** Bytes per block. */
  blockBytes: number;
  /** Whether dequantize.ts decodes it. */
  readable: boolean;
}

const table: [number, string, number, number, boolean][] = [
  [0, 'F32', 1, 4, true],
  [1, 'F16', 1, 2, true],
  [2, 'Q4_0', 32, 18, true],
  [3, 'Q4_1', 32, 20, false],
  [6, 'Q5_0', 32, 22, false],
  [7, 'Q5_1', 32, 24, false],
  [8, 'Q8_0', 32, 34, true],
  [9, 'Q8_1', 32, 36, false],
  [10, 'Q2_K', 256, 84, false],
  [11, 'Q3_K', 256, 110, false],
  [12, 'Q4_K', 256, 144, true],
  [13, 'Q5_K', 256, 176, true],
  [14, 'Q6_K', 256, 210, true],
  [15, 'Q8_K', 256, 292, false],
  [24, 'I8', 1, 1, false],
  [25, 'I16', 1, 2, false],
  [26, 'I32', 1, 4, false],
  [27, 'I64', 1, 8, false],
  [28, 'F64', 1, 8, false],
  [30, 'BF16', 1, 2, true],
];

/** The i-quants and ternary types: named so the error can say which, but their sizes are not ours to check. */
const UNREAD_NAMES: [number, string][] = [
  [16, 'IQ2_XXS'],
  [17, 'IQ2_XS'],
  [18, 'IQ3_XXS'],
  [19, 'IQ1_S'],
  [20, 'IQ4_NL'],
  [21, 'IQ3_S'],
  [22, 'IQ2_S'],
  [23, 'IQ4_XS'],
  [29, 'IQ1_M'],
  [34, 'TQ1_0'],
  [35, 'TQ2_0'],
  [39, 'MXFP4'],
];

export const GGML_TYPES = new Map<number, GgmlType>(table.map(([id, name, blockSize, blockBytes, readable]) => [id, { id, name, blockSize, blockBytes, readable }]));

/** Names of types whose layout this runtime does not know (for error messages). */
export const UNREAD_TYPE_NAMES = new Map<number, string>(UNREAD_NAMES);

export const READABLE_TYPES = table.filter((t) => t[4]).map((t) => t[1]);

export function ggmlType(name: string): GgmlType {
  for (const t of GGML_TYPES.values()) if (t.name === name) return t;
  throw new Error(`unknown ggml type ${name}`);
}

/** Bytes of `n` values (n a multiple of the block size). */
export function tensorBytes(type: GgmlType, n: number): number {
  return (n / type.blockSize) * type.blockBytes;
}
