/**
 * A minimal writer of the ONNX protobuf format: just the messages and fields moe-inspect's graphs use.
 * Hand-written because the model bytes here are tiny (weights are fed as inputs, not stored in the model),
 * and the npm protobuf packages either carry an old ONNX schema or cost seconds per large message.
 * Field numbers are those of onnx/onnx.proto (IR version 10).
 */

/** The element types the graphs use (onnx.proto TensorProto.DataType). */
export const TensorType = {
  float: 1,
  int32: 6,
  int64: 7,
  bool: 9,
} as const;
export type ElemType = (typeof TensorType)[keyof typeof TensorType];

export type Dim = number | string;

export interface TensorValue {
  name: string;
  type: ElemType;
  dims: number[];
  /** Little-endian raw bytes of the values. */
  raw: Uint8Array;
}

export type AttributeValue =
  | { kind: 'float'; value: number }
  | { kind: 'int'; value: number }
  | { kind: 'string'; value: string };

export interface NodeSpec {
  op: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attributes: Record<string, AttributeValue>;
}

export interface ValueInfo {
  name: string;
  type: ElemType;
  dims: Dim[];
}

export interface ModelSpec {
  irVersion: number;
  opsets: Array<{ domain: string; version: number }>;
  graphName: string;
  nodes: NodeSpec[];
  initializers: TensorValue[];
  inputs: ValueInfo[];
  outputs: ValueInfo[];
}

/** Protobuf wire-format writer: varints, length-delimited fields, fixed 32-bit floats. */
class ProtoWriter {
  private chunks: Uint8Array[] = [];
  private length = 0;

  private push(bytes: Uint8Array): void {
    this.chunks.push(bytes);
    this.length += bytes.length;
  }

  private varint(value: bigint): void {
    // Negative int64 values are written as their 64-bit two's complement, as protobuf requires.
    let v = BigInt.asUintN(64, value);
    const bytes: number[] = [];
    while (v >= 0x80n) {
      bytes.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    bytes.push(Number(v));
    this.push(Uint8Array.from(bytes));
  }

  private tag(field: number, wireType: number): void {
    this.varint(BigInt((field << 3) | wireType));
  }

  int(field: number, value: number | bigint): void {
    this.tag(field, 0);
    this.varint(BigInt(value));
  }

  float(field: number, value: number): void {
    this.tag(field, 5);
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setFloat32(0, value, true);
    this.push(bytes);
  }

  bytes(field: number, value: Uint8Array): void {
    this.tag(field, 2);
    this.varint(BigInt(value.length));
    this.push(value);
  }

  string(field: number, value: string): void {
    this.bytes(field, new TextEncoder().encode(value));
  }

  message(field: number, write: (w: ProtoWriter) => void): void {
    const inner = new ProtoWriter();
    write(inner);
    this.bytes(field, inner.finish());
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.length);
    let offset = 0;
    for (const chunk of this.chunks) {
      out.set(chunk, offset);
      offset += chunk.length;
    }
    return out;
  }
}

function writeTensor(w: ProtoWriter, tensor: TensorValue): void {
  for (const dim of tensor.dims) w.int(1, dim);
  w.int(2, tensor.type);
  w.string(8, tensor.name);
  w.bytes(9, tensor.raw);
}

function writeAttribute(w: ProtoWriter, name: string, attribute: AttributeValue): void {
  w.string(1, name);
  switch (attribute.kind) {
    case 'float':
      w.float(2, attribute.value);
      w.int(20, 1);
      break;
    case 'int':
      w.int(3, attribute.value);
      w.int(20, 2);
      break;
    case 'string':
      w.string(4, attribute.value);
      w.int(20, 3);
      break;
  }
}

function writeValueInfo(w: ProtoWriter, info: ValueInfo): void {
  w.string(1, info.name);
  w.message(2, (type) =>
    type.message(1, (tensorType) => {
      tensorType.int(1, info.type);
      tensorType.message(2, (shape) => {
        for (const dim of info.dims) {
          shape.message(1, (d) => (typeof dim === 'number' ? d.int(1, dim) : d.string(2, dim)));
        }
      });
    }),
  );
}

function writeNode(w: ProtoWriter, node: NodeSpec): void {
  for (const input of node.inputs) w.string(1, input);
  for (const output of node.outputs) w.string(2, output);
  w.string(4, node.op);
  for (const [name, attribute] of Object.entries(node.attributes)) w.message(5, (a) => writeAttribute(a, name, attribute));
  if (node.domain) w.string(7, node.domain);
}

/** Serialises a ModelProto. */
export function encodeModel(model: ModelSpec): Uint8Array {
  const w = new ProtoWriter();
  w.int(1, model.irVersion);
  w.string(2, 'moe-inspect');
  w.message(7, (graph) => {
    for (const node of model.nodes) graph.message(1, (n) => writeNode(n, node));
    graph.string(2, model.graphName);
    for (const init of model.initializers) graph.message(5, (t) => writeTensor(t, init));
    for (const input of model.inputs) graph.message(11, (v) => writeValueInfo(v, input));
    for (const output of model.outputs) graph.message(12, (v) => writeValueInfo(v, output));
  });
  for (const opset of model.opsets) {
    w.message(8, (o) => {
      if (opset.domain) o.string(1, opset.domain);
      o.int(2, opset.version);
    });
  }
  return w.finish();
}
