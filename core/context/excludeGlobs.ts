// VS Code's files.exclude / search.exclude settings as a matcher over '/'-separated paths relative
// to the scanned folder. The globs are compiled by picomatch, configured to VS Code's syntax
// (https://code.visualstudio.com/docs/editor/glob-patterns): `*` and `?` within a segment, `**`
// any number of segments including none, `{a,b}` alternatives, `[0-9]` / `[!0-9]` classes, and
// dotfiles matched like any other name.
import picomatch from 'picomatch';

/** VS Code's `files.exclude` / `search.exclude` value: glob -> true, or a sibling condition. */
export type ExcludeSettings = Record<string, boolean | { when: string } | null | undefined>;

const VSCODE_GLOB: picomatch.PicomatchOptions = {
  // VS Code's `*` and `**` match names starting with a dot (`**/*.tmp` reaches `.cache/x.tmp`).
  dot: true,
  // VS Code has no extglobs (`@(a|b)`) and no leading-`!` negation: both are literal text there.
  noextglob: true,
  nonegate: true,
  // `posix` turns `[!a]` into a negated class (picomatch otherwise reads `!` as a literal), and
  // `literalBrackets: false` stops it also accepting the brackets as literal text.
  posix: true,
  literalBrackets: false,
  // Paths are always '/'-separated here, on every platform.
  windows: false,
};

/**
 * Compiles one VS Code glob to an anchored RegExp over a '/'-separated relative path. Settings
 * written as `./out/` or with backslashes mean the same as `out`, so they are normalised first.
 */
export function globToRegExp(glob: string): RegExp {
  let g = glob.trim().replace(/\\/g, '/');
  if (g.startsWith('./')) g = g.slice(2);
  if (g.endsWith('/') && g.length > 1) g = g.slice(0, -1);
  // picomatch passes parentheses and `|` through as regex groups even without extglobs; in VS Code
  // they are ordinary characters (`file(1).txt`), so they are escaped.
  g = g.replace(/[()|]/g, '\\$&');
  return picomatch.makeRe(g, VSCODE_GLOB);
}

interface ExcludeRule {
  re: RegExp;
  /** `{ when: "$(basename).ts" }`: only when such a sibling exists. */
  when?: string;
}

export class ExcludeMatcher {
  private readonly rules: ExcludeRule[] = [];

  constructor(settings: ExcludeSettings = {}) {
    for (const [glob, value] of Object.entries(settings)) {
      if (!glob.trim()) continue;
      if (value === true) this.rules.push({ re: globToRegExp(glob) });
      else if (value && typeof value === 'object') {
        if (typeof value.when !== 'string') throw new Error(`exclude setting ${JSON.stringify(glob)}: expected true, false or { "when": "..." }, got ${JSON.stringify(value)}`);
        this.rules.push({ re: globToRegExp(glob), when: value.when });
      }
      // false / null: switched off (VS Code uses false to override an inherited pattern).
    }
  }

  get empty(): boolean {
    return this.rules.length === 0;
  }

  /** `rel` is '/'-separated; `siblings` are the names in the same directory (for `when`). */
  matches(rel: string, siblings: ReadonlySet<string>): boolean {
    for (const r of this.rules) {
      if (!r.re.test(rel)) continue;
      if (r.when === undefined) return true;
      const name = rel.slice(rel.lastIndexOf('/') + 1);
      const dot = name.lastIndexOf('.');
      const base = dot > 0 ? name.slice(0, dot) : name;
      if (siblings.has(r.when.replace(/\$\(basename\)/g, base))) return true;
    }
    return false;
  }
}
