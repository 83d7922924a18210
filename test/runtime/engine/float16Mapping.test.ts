// On a JavaScript runtime with Float16Array (Node 24, recent Electron) onnxruntime-common maps
// 'float16' tensors to it and rewraps a Uint16Array as one, which onnxruntime-node's binding cannot
// read. A stand-in Float16Array (what onnxruntime-common checks for: a global with `from`) is
// installed before onnxruntime loads: the runtime's float16 tensors must still hold raw bits in
// Uint16Arrays, and the global must be left as it was. (This file runs in a process of its own.)
import assert from 'node:assert/strict';
import { test } from 'node:test';

class StandInFloat16Array extends Uint16Array {}
Object.defineProperty(globalThis, 'Float16Array', { value: StandInFloat16Array, writable: true, configurable: true });

test('with Float16Array present, float16 tensors keep their Uint16Array; outputs are read as bits', async () => {
  const { KvCache } = await import('../../../runtime/cache/kvcache.js');
  const { float16Bits } = await import('../../../runtime/engine/float16Mapping.js');
  const { Tensor } = await import('onnxruntime-node');
  assert.equal((globalThis as { Float16Array?: unknown }).Float16Array, StandInFloat16Array, 'the global is restored');
  const bits = Uint16Array.of(0x3c00, 0xc000);
  assert.equal(new Tensor('float16', bits, [2]).data, bits, 'the same Uint16Array, not rewrapped');
  const cache = new KvCache(1, 1, 2, 4, { compressed: false, bits: null, precision: 'float16' });
  cache.append(0, bits, bits, 1);
  cache.commit(1);
  const fed = cache.feeds()['kf.0'].data;
  assert.equal(fed.constructor, Uint16Array);
  assert.deepEqual(Array.from(fed as Uint16Array), [0x3c00, 0xc000]);
  // A Float16Array output (as a runtime could hand one out) is reinterpreted, not converted.
  const out = float16Bits(new StandInFloat16Array(bits.buffer));
  assert.equal(out.constructor, Uint16Array);
  assert.deepEqual(Array.from(out), [0x3c00, 0xc000]);
});
