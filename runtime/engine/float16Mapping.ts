// onnxruntime-common maps 'float16' tensors to Float16Array when the JavaScript runtime has one
// (Node 24, recent Electron): a Uint16Array handed to it is rewrapped as a Float16Array, which
// onnxruntime-node's binding cannot read, and a Float16Array copied into the cache with
// Uint16Array.set converts values instead of copying bits. The cache keeps float16 as raw bits in
// Uint16Arrays. The mapping is chosen once, at the first Tensor onnxruntime-common builds, so one is
// built here, at load, with Float16Array hidden: every float16 tensor then holds a Uint16Array.
import { Tensor } from 'onnxruntime-node';

const descriptor = Object.getOwnPropertyDescriptor(globalThis, 'Float16Array');
if (descriptor) {
  Reflect.deleteProperty(globalThis, 'Float16Array');
  try {
    void new Tensor('float16', new Uint16Array(1), [1]);
  } finally {
    Object.defineProperty(globalThis, 'Float16Array', descriptor);
  }
}

/** A float16 tensor's data as its raw bits (a Float16Array, if a runtime still hands one out, reinterpreted). */
export function float16Bits(data: ArrayBufferView): Uint16Array {
  return data instanceof Uint16Array && data.constructor === Uint16Array ? data : new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2);
}
