// A small typed builder over onnx-proto: enough to write a whole decoder graph in TypeScript
// and hand it to onnxruntime as bytes. Weights never pass through JS: initializers point at
// byte ranges of the model's own .safetensors files (external data), resolved by onnxruntime
// relative to the model folder.
import { onnx } from 'onnx-proto';

export type Elem = 'float' | 'int64' | 'float16' | 'bfloat16' | 'uint8';

const ELEM: Record<Elem, number> = {
  float: onnx.TensorProto.DataType.FLOAT,
  int64: onnx.TensorProto.DataType.INT64,
  float16: onnx.TensorProto.DataType.FLOAT16,
  bfloat16: onnx.TensorProto.DataType.BFLOAT16,
  uint8: onnx.TensorProto.DataType.UINT8,
};

/** A dimension: a fixed size or a symbolic name. */
export type Dim = number | string;

export type Attr = number | number[] | string | { floats: number[] } | { float: number };

/** Bytes inside a file beside the model, as onnxruntime's external data wants them. */
export interface ExternalBytes {
  /** Path relative to the model folder. */
  file: string;
  offset: number;
  length: number;
}

export class GraphBuilder {
  private readonly nodes: onnx.INodeProto[] = [];
  private readonly initializers: onnx.ITensorProto[] = [];
  private readonly inputs: onnx.IValueInfoProto[] = [];
  private readonly outputs: onnx.IValueInfoProto[] = [];
  private counter = 0;

  /** A fresh value name with a readable stem. */
  name(stem: string): string {
    return `${stem}_${this.counter++}`;
  }

  input(name: string, elem: Elem, dims: Dim[]): string {
    this.inputs.push(valueInfo(name, elem, dims));
    return name;
  }

  /** Marks `value` as a graph output called `name` (an Identity when the names differ). */
  output(name: string, value: string, elem: Elem, dims: Dim[]): void {
    if (value !== name) this.nodes.push({ opType: 'Identity', input: [value], output: [name], name: `out_${name}` });
    this.outputs.push(valueInfo(name, elem, dims));
  }

  /** One node with one output; returns the output's name. */
  op(opType: string, inputs: string[], attrs: Record<string, Attr> = {}, domain = ''): string {
    return this.opN(opType, inputs, 1, attrs, domain)[0];
  }

  /** One node with `n` outputs. An empty input name means "absent optional input". */
  opN(opType: string, inputs: string[], n: number, attrs: Record<string, Attr> = {}, domain = ''): string[] {
    const out = Array.from({ length: n }, () => this.name(opType));
    this.nodes.push({
      opType,
      domain,
      input: inputs,
      output: out,
      name: `${opType}_${this.counter++}`,
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return out;
  }

  constI64(values: number[], dims: number[] = [values.length]): string {
    const name = this.name('c');
    this.initializers.push({ name, dataType: ELEM.int64, dims, int64Data: values });
    return name;
  }

  constF32(values: number[], dims: number[] = [values.length]): string {
    const name = this.name('c');
    this.initializers.push({ name, dataType: ELEM.float, dims, floatData: values });
    return name;
  }

  /** An initializer whose bytes stay in the model's file (loaded by onnxruntime, not by JS). */
  external(name: string, elem: Elem, dims: number[], bytes: ExternalBytes): string {
    this.initializers.push({
      name,
      dataType: ELEM[elem],
      dims,
      dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [
        { key: 'location', value: bytes.file },
        { key: 'offset', value: String(bytes.offset) },
        { key: 'length', value: String(bytes.length) },
      ],
    });
    return name;
  }

  toBytes(graphName: string): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: 9,
      producerName: 'think-lens',
      opsetImport: [
        { domain: '', version: 21 },
        { domain: 'com.microsoft', version: 1 },
      ],
      graph: {
        name: graphName,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

function valueInfo(name: string, elem: Elem, dims: Dim[]): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: ELEM[elem],
        shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  };
}

function attribute(name: string, v: Attr): onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  // Plain numbers are INT attributes; floats are spelled { float: x } so that 1.0 stays a float.
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new Error(`attribute ${name}: ${v} is not an integer; use { float }`);
    return { name, type: T.INT, i: v };
  }
  if (typeof v === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: T.INTS, ints: v };
  if ('floats' in v) return { name, type: T.FLOATS, floats: v.floats };
  return { name, type: T.FLOAT, f: v.float };
}
