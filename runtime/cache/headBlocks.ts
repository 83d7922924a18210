// A cache tier of one layer is a head-major block [H, T, c] at the start of a growable buffer:
// KV head h's T rows of c elements are elements [h T c, (h + 1) T c). The graph reads the tier as
// one zero-copy [H, 1, T, c] view, so attention runs one batched product per layer and tier.
// Keeping the view contiguous means a change of T moves each head's rows. The tiers that grow every
// step, the full ones, hold at most `flush` tokens once the prompt is compressed, so that move is
// small; with flush off (0) they grow with the answer and each step moves them (a cost linear in
// the answer's length). The big compact tier moves only when a flush adds to it.

export type Block = Float32Array | Uint16Array | Uint8Array;

/** The live [H, T, c] prefix of `a`. */
export function blockView<B extends Block>(a: B, H: number, T: number, c: number): B {
  return a.subarray(0, H * T * c) as B;
}

/**
 * Room for `add` more rows per head: returns a buffer (the same one when it is big enough) whose
 * head blocks are [H, T + add, c], each head's old rows first; rows [T, T + add) are for the caller
 * to fill. A new buffer has room for `spare` further rows per head too, or grows by half, so appends
 * one token at a time do not reallocate every step.
 */
export function growRows<B extends Block>(a: B, H: number, T: number, add: number, c: number, spare = 0): B {
  const need = H * (T + add) * c;
  if (a.length >= need) {
    // The last head first: each block moves up, never onto a block that has not moved yet.
    for (let h = H - 1; h > 0; h--) a.copyWithin(h * (T + add) * c, h * T * c, (h + 1) * T * c);
    return a;
  }
  const out = new (a.constructor as new (n: number) => B)(Math.max(need + H * spare * c, Math.ceil(a.length * 1.5)));
  for (let h = 0; h < H; h++) out.set(a.subarray(h * T * c, (h + 1) * T * c) as never, h * (T + add) * c);
  return out;
}

/** Drops each head's oldest `count` of T rows; the blocks become [H, T - count, c]. */
export function dropOldest(a: Block, H: number, T: number, count: number, c: number): void {
  // The first head first: every move goes down, onto rows already moved or dropped.
  for (let h = 0; h < H; h++) a.copyWithin(h * (T - count) * c, (h * T + count) * c, (h + 1) * T * c);
}

/** Keeps rows[h] (ascending, K of them for every head) of each head's T rows: [H, K, c]. */
export function keepRows(a: Block, H: number, T: number, rows: readonly Int32Array[], c: number): void {
  const K = rows[0].length;
  if (rows.some((r) => r.length !== K)) throw new Error('KvCache: every KV head of a layer must keep as many tokens');
  // Destination (h K + i) c never passes source (h T + row) c, since K <= T and i <= row.
  for (let h = 0; h < H; h++) rows[h].forEach((row, i) => a.copyWithin((h * K + i) * c, (h * T + row) * c, (h * T + row + 1) * c));
}

/** Drops a prompt-sized buffer once what remains fits a much smaller one. */
export function shrink<B extends Block>(a: B, keep: number): B {
  const n = Math.max(keep, 1);
  return a.length > 4 * n ? (a.slice(0, n) as B) : a;
}
