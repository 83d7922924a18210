// Whether onnxruntime's WebGPU provider finds an adapter here (a GPU, or Mesa's lavapipe, which
// .ci/run installs): tests of the WebGPU path skip with the reason when it does not.
import { InferenceSession } from 'onnxruntime-node';
import { GraphBuilder } from '../../runtime/graph/onnx';

/** Why WebGPU cannot run here, or null when it can. */
export async function webgpuUnavailable(): Promise<string | null> {
  const g = new GraphBuilder();
  g.output('y', g.op('Identity', [g.input('x', 'float', [1])]), 'float', [1]);
  try {
    await (await InferenceSession.create(g.toBytes('probe'), { executionProviders: ['webgpu'], logSeverityLevel: 3 })).release();
    return null;
  } catch (e) {
    return `no WebGPU adapter here (${String(e).split('\n')[0].slice(0, 160)}); .ci/run installs Mesa's lavapipe`;
  }
}
