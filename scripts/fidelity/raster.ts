// A small RGB rasterizer for the fidelity plots: rectangles, thick line segments, discs, filled
// polygons and 5 x 7 bitmap text. Shapes are drawn on a supersampled canvas (ss x ss samples per
// output pixel) and box-filtered down, which anti-aliases lines and markers for free.
import { GLYPH_H, GLYPH_W, glyph } from './font';
import { encodePng } from './png';

export type Rgb = readonly [number, number, number];

export type Align = 'left' | 'center' | 'right';

export class Canvas {
  private readonly W: number;
  private readonly H: number;
  private readonly px: Uint8Array;

  constructor(
    readonly width: number,
    readonly height: number,
    background: Rgb = [255, 255, 255],
    private readonly ss = 3,
  ) {
    if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) throw new Error(`Canvas: bad size ${width} x ${height}`);
    this.W = width * ss;
    this.H = height * ss;
    this.px = new Uint8Array(this.W * this.H * 3);
    for (let i = 0; i < this.W * this.H; i++) this.px.set(background, i * 3);
  }

  /** Sets one supersample (hi-res coordinates), ignoring anything off the canvas. */
  private set(x: number, y: number, c: Rgb): void {
    if (x < 0 || y < 0 || x >= this.W || y >= this.H) return;
    this.px.set(c, (y * this.W + x) * 3);
  }

  fillRect(x: number, y: number, w: number, h: number, c: Rgb): void {
    const s = this.ss;
    const x0 = Math.round(x * s);
    const y0 = Math.round(y * s);
    const x1 = Math.round((x + w) * s);
    const y1 = Math.round((y + h) * s);
    for (let yy = Math.max(0, y0); yy < Math.min(this.H, y1); yy++) for (let xx = Math.max(0, x0); xx < Math.min(this.W, x1); xx++) this.set(xx, yy, c);
  }

  /** A segment of the given thickness with round caps (every sample within thickness / 2 of it). */
  line(x0: number, y0: number, x1: number, y1: number, c: Rgb, thickness = 1): void {
    const s = this.ss;
    const ax = x0 * s;
    const ay = y0 * s;
    const bx = x1 * s;
    const by = y1 * s;
    const r = (thickness * s) / 2;
    const dx = bx - ax;
    const dy = by - ay;
    const len2 = dx * dx + dy * dy;
    const minX = Math.floor(Math.min(ax, bx) - r);
    const maxX = Math.ceil(Math.max(ax, bx) + r);
    const minY = Math.floor(Math.min(ay, by) - r);
    const maxY = Math.ceil(Math.max(ay, by) + r);
    for (let y = Math.max(0, minY); y <= Math.min(this.H - 1, maxY); y++)
      for (let x = Math.max(0, minX); x <= Math.min(this.W - 1, maxX); x++) {
        // Distance from the sample's centre to the segment.
        const px = x + 0.5 - ax;
        const py = y + 0.5 - ay;
        const t = len2 === 0 ? 0 : Math.max(0, Math.min(1, (px * dx + py * dy) / len2));
        const ex = px - t * dx;
        const ey = py - t * dy;
        if (ex * ex + ey * ey <= r * r) this.set(x, y, c);
      }
  }

  /** A dashed segment: `dash` pixels on, `dash` off. */
  dashedLine(x0: number, y0: number, x1: number, y1: number, c: Rgb, thickness = 1, dash = 4): void {
    const len = Math.hypot(x1 - x0, y1 - y0);
    for (let d = 0; d < len; d += 2 * dash) {
      const e = Math.min(len, d + dash);
      this.line(x0 + ((x1 - x0) * d) / len, y0 + ((y1 - y0) * d) / len, x0 + ((x1 - x0) * e) / len, y0 + ((y1 - y0) * e) / len, c, thickness);
    }
  }

  disc(cx: number, cy: number, radius: number, c: Rgb): void {
    this.line(cx, cy, cx, cy, c, 2 * radius);
  }

  /** Fills a polygon (even-odd rule), vertices in output pixels. */
  polygon(points: readonly (readonly [number, number])[], c: Rgb): void {
    const s = this.ss;
    const p = points.map(([x, y]) => [x * s, y * s] as const);
    const minY = Math.max(0, Math.floor(Math.min(...p.map((q) => q[1]))));
    const maxY = Math.min(this.H - 1, Math.ceil(Math.max(...p.map((q) => q[1]))));
    const minX = Math.max(0, Math.floor(Math.min(...p.map((q) => q[0]))));
    const maxX = Math.min(this.W - 1, Math.ceil(Math.max(...p.map((q) => q[0]))));
    for (let y = minY; y <= maxY; y++)
      for (let x = minX; x <= maxX; x++) {
        const sx = x + 0.5;
        const sy = y + 0.5;
        let inside = false;
        for (let i = 0, j = p.length - 1; i < p.length; j = i++) {
          const [xi, yi] = p[i];
          const [xj, yj] = p[j];
          if (yi > sy !== yj > sy && sx < ((xj - xi) * (sy - yi)) / (yj - yi) + xi) inside = !inside;
        }
        if (inside) this.set(x, y, c);
      }
  }

  /** Width in output pixels of `text` at `scale` (glyph 5 wide plus 1 of spacing, none after the last). */
  static textWidth(text: string, scale = 1): number {
    return text.length === 0 ? 0 : (text.length * (GLYPH_W + 1) - 1) * scale;
  }

  static textHeight(scale = 1): number {
    return GLYPH_H * scale;
  }

  /** Draws `text` with its top at y; x is its left edge, centre or right edge per `align`. */
  text(text: string, x: number, y: number, c: Rgb, scale = 1, align: Align = 'left'): void {
    const w = Canvas.textWidth(text, scale);
    let left = align === 'left' ? x : align === 'center' ? x - w / 2 : x - w;
    left = Math.round(left);
    for (const ch of text) {
      const g = glyph(ch);
      for (let r = 0; r < g.length; r++) for (let col = 0; col < GLYPH_W; col++) if (g[r][col]) this.fillRect(left + col * scale, Math.round(y) + r * scale, scale, scale, c);
      left += (GLYPH_W + 1) * scale;
    }
  }

  /** Text turned 90 degrees counter-clockwise (reads bottom to top), centred on (cx, cy). */
  textVertical(text: string, cx: number, cy: number, c: Rgb, scale = 1): void {
    const w = Canvas.textWidth(text, scale);
    let bottom = Math.round(cy + w / 2);
    const left = Math.round(cx - (GLYPH_H * scale) / 2);
    for (const ch of text) {
      const g = glyph(ch);
      // Glyph row r becomes column r; glyph column col rises from the baseline.
      for (let r = 0; r < g.length; r++) for (let col = 0; col < GLYPH_W; col++) if (g[r][col]) this.fillRect(left + r * scale, bottom - (col + 1) * scale, scale, scale, c);
      bottom -= (GLYPH_W + 1) * scale;
    }
  }

  /** The picture at output resolution: each pixel the mean of its ss x ss samples. */
  toRgb(): Uint8Array {
    const { ss, W } = this;
    const out = new Uint8Array(this.width * this.height * 3);
    const n = ss * ss;
    for (let y = 0; y < this.height; y++)
      for (let x = 0; x < this.width; x++)
        for (let ch = 0; ch < 3; ch++) {
          let sum = 0;
          for (let dy = 0; dy < ss; dy++) for (let dx = 0; dx < ss; dx++) sum += this.px[((y * ss + dy) * W + x * ss + dx) * 3 + ch];
          out[(y * this.width + x) * 3 + ch] = Math.round(sum / n);
        }
    return out;
  }

  toPng(): Buffer {
    return encodePng(this.width, this.height, this.toRgb());
  }
}
