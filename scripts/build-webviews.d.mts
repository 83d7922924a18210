// Types for scripts/build-webviews.mjs, so TypeScript tests and the main build can import it.
export declare const WEBVIEW_ENTRIES: Readonly<{ answer: string; inspector: string }>;
export interface BuildWebviewsOptions {
  /** Repository root (default: the folder above scripts/). */
  root?: string;
  /** Output folder (default: <root>/dist/media). */
  outdir?: string;
  /** Same as outdir (the spelling scripts/build.mjs uses). */
  outDir?: string;
  /** Called with one line per bundle written. */
  log?: (message: string) => void;
  minify?: boolean;
  sourcemap?: boolean;
}
export declare function buildWebviews(opts?: BuildWebviewsOptions): Promise<{ outdir: string; files: string[] }>;
