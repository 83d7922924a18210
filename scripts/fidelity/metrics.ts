// Agreement and KL divergence between the unpruned cache's next-token distributions and a
// compressed cache's, position by position, accumulated over documents.

/** log softmax of float32 logits, in float64. */
export function logSoftmax(logits: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max);
  const lse = max + Math.log(sum);
  return Float64Array.from(logits, (x) => x - lse);
}

/** KL(p || q) in nats, p and q given as logits over the same vocabulary. */
export function klDivergence(pLogits: ArrayLike<number>, qLogits: ArrayLike<number>): number {
  if (pLogits.length !== qLogits.length) throw new Error(`klDivergence: vocabularies differ (${pLogits.length} vs ${qLogits.length})`);
  const lp = logSoftmax(pLogits);
  const lq = logSoftmax(qLogits);
  let kl = 0;
  for (let i = 0; i < lp.length; i++) {
    const p = Math.exp(lp[i]);
    if (p > 0) kl += p * (lp[i] - lq[i]);
  }
  // Rounding can leave a tiny negative value for identical distributions.
  return Math.max(0, kl);
}

/** Index of the largest value; ties go to the lowest index. */
export function argmax(x: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}

/** Running totals for one method over every compared position. */
export class FidelityTally {
  positions = 0;
  /** Positions where the method's top token equals the unpruned cache's. */
  agree = 0;
  klSum = 0;
  klMax = 0;
  /** Positions where the method's top token is the text's actual next token. */
  correct = 0;
  bytesPerTokenSum = 0;
  bytesPerContextTokenSum = 0;
  documents = 0;

  /**
   * Adds one document: logits[i] of both caches predict next[i]. `bytes`: the method's cache at
   * the end, per cached token and per token of context read (evicted tokens count in the latter).
   */
  add(full: readonly ArrayLike<number>[], method: readonly ArrayLike<number>[], next: readonly number[], bytes: { perToken: number; perContextToken: number }): void {
    if (full.length !== method.length || full.length !== next.length)
      throw new Error(`FidelityTally: ${full.length} unpruned rows, ${method.length} method rows, ${next.length} targets`);
    for (let i = 0; i < full.length; i++) {
      const top = argmax(method[i]);
      if (top === argmax(full[i])) this.agree++;
      if (top === next[i]) this.correct++;
      const kl = klDivergence(full[i], method[i]);
      this.klSum += kl;
      if (kl > this.klMax) this.klMax = kl;
    }
    this.positions += full.length;
    this.bytesPerTokenSum += bytes.perToken;
    this.bytesPerContextTokenSum += bytes.perContextToken;
    this.documents++;
  }

  get agreement(): number {
    return this.positions ? this.agree / this.positions : NaN;
  }

  get meanKl(): number {
    return this.positions ? this.klSum / this.positions : NaN;
  }

  get accuracy(): number {
    return this.positions ? this.correct / this.positions : NaN;
  }

  get bytesPerToken(): number {
    return this.documents ? this.bytesPerTokenSum / this.documents : NaN;
  }

  get bytesPerContextToken(): number {
    return this.documents ? this.bytesPerContextTokenSum / this.documents : NaN;
  }
}
