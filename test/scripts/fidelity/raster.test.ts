// The rasterizer: shapes land on the pixels they should, text uses the bitmap font, and
// supersampling blends edges.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GLYPH_W, glyph, hasGlyph } from '../../../scripts/fidelity/font';
import { Canvas, type Rgb } from '../../../scripts/fidelity/raster';

const RED: Rgb = [255, 0, 0];
const BLACK: Rgb = [0, 0, 0];

function at(rgb: Uint8Array, width: number, x: number, y: number): number[] {
  const i = (y * width + x) * 3;
  return [rgb[i], rgb[i + 1], rgb[i + 2]];
}

test('fillRect covers exactly its pixels', () => {
  const c = new Canvas(10, 10);
  c.fillRect(2, 3, 4, 2, RED);
  const rgb = c.toRgb();
  for (let y = 0; y < 10; y++)
    for (let x = 0; x < 10; x++) assert.deepEqual(at(rgb, 10, x, y), x >= 2 && x < 6 && y >= 3 && y < 5 ? [255, 0, 0] : [255, 255, 255], `${x},${y}`);
});

test('a thick horizontal line is solid in the middle and blended at its edges', () => {
  const c = new Canvas(20, 10);
  c.line(2, 5, 17, 5, BLACK, 2);
  const rgb = c.toRgb();
  // Covers y in [4, 6): rows 4 and 5 solid along the middle of the segment.
  assert.deepEqual(at(rgb, 20, 10, 4), [0, 0, 0]);
  assert.deepEqual(at(rgb, 20, 10, 5), [0, 0, 0]);
  assert.deepEqual(at(rgb, 20, 10, 2), [255, 255, 255]);
  assert.deepEqual(at(rgb, 20, 10, 7), [255, 255, 255]);
  // The round cap at x = 1 is partly covered: neither white nor black.
  const cap = at(rgb, 20, 1, 4)[0];
  assert.ok(cap > 0 && cap < 255, `cap pixel ${cap}`);
});

test('polygon fills its inside only', () => {
  const c = new Canvas(12, 12);
  c.polygon([[1, 1], [11, 1], [1, 11]], RED);
  const rgb = c.toRgb();
  assert.deepEqual(at(rgb, 12, 2, 2), [255, 0, 0]);
  assert.deepEqual(at(rgb, 12, 10, 10), [255, 255, 255]);
});

test('text draws the font glyph pixel for pixel; unknown characters get a box', () => {
  const c = new Canvas(20, 10);
  c.text('T', 1, 1, BLACK);
  const rgb = c.toRgb();
  const g = glyph('T');
  for (let r = 0; r < 7; r++) for (let col = 0; col < GLYPH_W; col++) assert.deepEqual(at(rgb, 20, 1 + col, 1 + r), g[r][col] ? [0, 0, 0] : [255, 255, 255], `T ${r},${col}`);
  assert.equal(Canvas.textWidth('ab', 2), 22);
  assert.equal(Canvas.textWidth('', 2), 0);
  assert.ok(hasGlyph('K') && hasGlyph('%') && !hasGlyph('λ'));
  assert.deepEqual(glyph('λ')[0], [true, true, true, true, true]);
  assert.equal(glyph('y').length, 8, 'descender row');
});

test('right-aligned and vertical text end where asked', () => {
  const c = new Canvas(40, 40);
  c.text('1', 30, 2, BLACK, 1, 'right');
  const rgb = c.toRgb();
  // '1' (00100 in its first row) right-aligned at 30 spans x 25..29; its top stroke is at x 27.
  assert.deepEqual(at(rgb, 40, 27, 2), [0, 0, 0]);
  for (let x = 30; x < 40; x++) assert.deepEqual(at(rgb, 40, x, 2), [255, 255, 255]);
  const v = new Canvas(20, 20);
  v.textVertical('-', 10, 10, BLACK);
  const vr = v.toRgb();
  // '-' is row 3 of the glyph, all five columns: vertically it becomes a column of 5 pixels.
  let dark = 0;
  for (let y = 0; y < 20; y++) if (at(vr, 20, 10, y)[0] === 0) dark++;
  assert.equal(dark, 5);
});
