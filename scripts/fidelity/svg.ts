// Just enough SVG building for the fidelity figure: elements as strings, every attribute value and
// text escaped, coordinates rounded so the file stays small and diffs stay readable.

export type Attrs = Record<string, string | number | undefined>;

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

/** Escapes text and attribute values; drops the control characters XML 1.0 cannot hold at all. */
export function escapeXml(s: string): string {
  return s.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '').replace(/[&<>"']/g, (c) => ENTITIES[c]);
}

/** A coordinate or size with at most two decimals (no float noise, no "-0"). */
export function num(v: number): string {
  if (!Number.isFinite(v)) throw new Error(`svg: non-finite number ${v}`);
  const r = Math.round(v * 100) / 100;
  return String(r === 0 ? 0 : r);
}

function attrs(a: Attrs): string {
  let out = '';
  for (const [k, v] of Object.entries(a)) if (v !== undefined) out += ` ${k}="${typeof v === 'number' ? num(v) : escapeXml(v)}"`;
  return out;
}

/** `<tag attrs>children</tag>`, or self-closed without children. Children are already SVG. */
export function el(tag: string, a: Attrs, ...children: string[]): string {
  return children.length ? `<${tag}${attrs(a)}>${children.join('')}</${tag}>` : `<${tag}${attrs(a)}/>`;
}

/** A `<text>` element holding `content` as escaped text. */
export function text(content: string, a: Attrs): string {
  return `<text${attrs(a)}>${escapeXml(content)}</text>`;
}

/** A whole SVG document of the given pixel size. */
export function svgDocument(width: number, height: number, body: string[], a: Attrs = {}): string {
  return el('svg', { xmlns: 'http://www.w3.org/2000/svg', width, height, viewBox: `0 0 ${num(width)} ${num(height)}`, ...a }, '\n', ...body.map((b) => b + '\n')) + '\n';
}
