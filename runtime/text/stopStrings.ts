// Stop strings over streamed text. A stop string may arrive split across chunks ("<|e" + "nd|>"),
// so text that could still become the start of a stop string is held back until it either
// completes a stop (nothing of the stop is emitted) or cannot (it is released).

export interface StopResult {
  /** Text that is safe to show now. */
  emit: string;
  /** A stop string matched; `emit` is everything before it and later pushes emit nothing. */
  stopped: boolean;
}

export class StopMatcher {
  private readonly stops: string[];
  /** Text received but not emitted: a suffix that is a proper prefix of some stop string. */
  private held = '';
  private done = false;

  constructor(stops: string[]) {
    for (const s of stops) {
      if (typeof s !== 'string') throw new TypeError(`stop strings must be strings, got ${typeof s}`);
    }
    // An empty stop string would match immediately everywhere; it is meaningless, so ignore it.
    this.stops = [...new Set(stops.filter((s) => s.length > 0))];
  }

  push(text: string): StopResult {
    if (this.done) return { emit: '', stopped: true };
    const buffer = this.held + text;
    if (this.stops.length === 0) return { emit: buffer, stopped: false };

    // The earliest occurrence of any stop wins (a longer stop starting at the same place wins
    // the tie, so "</s>" beats "<" when both are stops and both match).
    let cut = -1;
    let cutLength = 0;
    for (const stop of this.stops) {
      const at = buffer.indexOf(stop);
      if (at >= 0 && (cut < 0 || at < cut || (at === cut && stop.length > cutLength))) {
        cut = at;
        cutLength = stop.length;
      }
    }
    if (cut >= 0) {
      this.done = true;
      this.held = '';
      return { emit: buffer.slice(0, cut), stopped: true };
    }

    const keep = this.partialSuffix(buffer);
    this.held = buffer.slice(buffer.length - keep);
    return { emit: buffer.slice(0, buffer.length - keep), stopped: false };
  }

  /** At the end of generation: release held text (it never became a stop). */
  flush(): string {
    const rest = this.done ? '' : this.held;
    this.held = '';
    return rest;
  }

  /** Length of the longest suffix of `text` that is a proper prefix of some stop string. */
  private partialSuffix(text: string): number {
    let best = 0;
    for (const stop of this.stops) {
      const max = Math.min(stop.length - 1, text.length);
      for (let n = max; n > best; n--) {
        if (text.endsWith(stop.slice(0, n))) {
          best = n;
          break;
        }
      }
    }
    return best;
  }
}
