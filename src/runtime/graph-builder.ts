import {
  encodeModel,
  TensorType,
  type AttributeValue,
  type Dim,
  type ElemType,
  type NodeSpec,
  type TensorValue,
  type ValueInfo,
} from './onnx-proto.js';

/** Attribute constructors, so a node's attributes read like the ONNX operator documentation. */
export const attr = {
  int: (value: number): AttributeValue => ({ kind: 'int', value }),
  float: (value: number): AttributeValue => ({ kind: 'float', value }),
  string: (value: string): AttributeValue => ({ kind: 'string', value }),
};

/** ai.onnx opset 23 brings RMSNormalization, RotaryEmbedding and Attention; ORT 1.30 supports up to 26 and IR 13. */
const OPSET = 23;
const IR_VERSION = 10;

/**
 * Builds one ONNX graph. Each method adds a node and returns the name of its output, so a forward pass
 * reads as a sequence of named steps: `const q = g.gemmT(x, 'wq')`.
 */
export class GraphBuilder {
  private nodes: NodeSpec[] = [];
  private initializers: TensorValue[] = [];
  private inputs: ValueInfo[] = [];
  private outputs: ValueInfo[] = [];
  private counter = 0;

  constructor(private readonly name: string) {}

  input(name: string, type: ElemType, dims: Dim[]): string {
    this.inputs.push({ name, type, dims });
    return name;
  }

  /** Marks `value` as a graph output under `name` (an Identity keeps internal names free). */
  output(value: string, name: string, type: ElemType, dims: Dim[]): void {
    this.node('Identity', [value], {}, name);
    this.outputs.push({ name, type, dims });
  }

  fresh(prefix: string): string {
    return `${prefix}_${this.counter++}`;
  }

  node(op: string, inputs: string[], attributes: Record<string, AttributeValue> = {}, output?: string, domain = ''): string {
    const out = output ?? this.fresh(op);
    this.nodes.push({ op, domain, inputs, outputs: [out], attributes });
    return out;
  }

  /** A node with several outputs; returns their names in order. */
  multiNode(op: string, inputs: string[], outputCount: number, attributes: Record<string, AttributeValue> = {}, domain = ''): string[] {
    const outputs = Array.from({ length: outputCount }, () => this.fresh(op));
    this.nodes.push({ op, domain, inputs, outputs, attributes });
    return outputs;
  }

  int64s(values: number[]): string {
    const name = this.fresh('const_i64');
    const raw = new Uint8Array(new BigInt64Array(values.map(BigInt)).buffer);
    this.initializers.push({ name, type: TensorType.int64, dims: [values.length], raw });
    return name;
  }

  /** An fp32 initializer (a constant weight stored in the model). */
  constant(name: string, type: typeof TensorType.float, dims: number[], values: Float32Array): string {
    this.initializers.push({ name, type, dims, raw: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) });
    return name;
  }

  constantBool(value: boolean): string {
    const name = this.fresh('const_bool');
    this.initializers.push({ name, type: TensorType.bool, dims: [], raw: Uint8Array.of(value ? 1 : 0) });
    return name;
  }

  scalar(value: number): string {
    const name = this.fresh('const_f32');
    this.initializers.push({ name, type: TensorType.float, dims: [], raw: new Uint8Array(new Float32Array([value]).buffer) });
    return name;
  }

  // Operators used by the model graphs, named as in ONNX.

  /** x [M, in] times W [out, in] transposed, plus an optional bias [out]: the Hugging Face Linear layout without a copy. */
  gemmT(x: string, w: string, bias?: string): string {
    return this.node('Gemm', bias ? [x, w, bias] : [x, w], { transB: attr.int(1) });
  }

  add(a: string, b: string): string {
    return this.node('Add', [a, b]);
  }

  mul(a: string, b: string): string {
    return this.node('Mul', [a, b]);
  }

  reshape(x: string, shape: number[]): string {
    return this.node('Reshape', [x, this.int64s(shape)]);
  }

  silu(x: string): string {
    return this.mul(x, this.node('Sigmoid', [x]));
  }

  rmsNorm(x: string, weight: string, epsilon: number): string {
    return this.node('RMSNormalization', [x, weight], { axis: attr.int(-1), epsilon: attr.float(epsilon) });
  }

  reduceSum(x: string, axes: number[], keepdims: boolean): string {
    return this.node('ReduceSum', [x, this.int64s(axes)], { keepdims: attr.int(keepdims ? 1 : 0) });
  }

  build(): Uint8Array {
    return encodeModel({
      irVersion: IR_VERSION,
      opsets: [
        { domain: '', version: OPSET },
        { domain: 'com.microsoft', version: 1 },
      ],
      graphName: this.name,
      nodes: this.nodes,
      initializers: this.initializers,
      inputs: this.inputs,
      outputs: this.outputs,
    });
  }
}
