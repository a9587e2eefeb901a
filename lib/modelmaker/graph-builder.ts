// Helpers that collect ONNX nodes, graph I/O and initializers. Initializer bytes are not held here:
// each initializer is a TensorSpec whose chunks() yields its bytes on demand, so the writer can
// stream gigabytes of weights to disk (or pack small ones inline) without keeping them in memory.

import onnxProto from "onnx-proto";

export const onnx = onnxProto.onnx;
export type NodeProto = onnxProto.onnx.INodeProto;
export type GraphProto = onnxProto.onnx.IGraphProto;
export type AttributeProto = onnxProto.onnx.IAttributeProto;
export type TensorProto = onnxProto.onnx.ITensorProto;
export type ValueInfoProto = onnxProto.onnx.IValueInfoProto;

export const DataType = {
  FLOAT: 1,
  UINT8: 2,
  INT32: 6,
  INT64: 7,
  FLOAT16: 10,
} as const;
export type DataType = (typeof DataType)[keyof typeof DataType];

/** A tensor whose bytes are produced lazily, in order, in bounded chunks. */
export interface TensorSpec {
  name: string;
  dataType: DataType;
  dims: number[];
  byteLength: number;
  chunks(): Iterable<Uint8Array>;
}

/** A graph whose initializers are still lazy TensorSpecs. */
export interface BuiltGraph {
  name: string;
  inputs: ValueInfoProto[];
  outputs: ValueInfoProto[];
  nodes: NodeProto[];
  initializers: TensorSpec[];
}

const AttrType = onnx.AttributeProto.AttributeType;

export const attr = {
  int: (name: string, i: number): AttributeProto => ({ name, type: AttrType.INT, i }),
  float: (name: string, f: number): AttributeProto => ({ name, type: AttrType.FLOAT, f }),
  tensor: (name: string, t: TensorProto): AttributeProto => ({ name, type: AttrType.TENSOR, t }),
  graph: (name: string, g: GraphProto): AttributeProto => ({ name, type: AttrType.GRAPH, g }),
};

/** Graph input/output declaration; string dims are symbolic (dim_param). */
export function valueInfo(name: string, elemType: DataType, dims: (number | string)[]): ValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/** An in-memory tensor (constants, RoPE caches): small enough to embed in the graph itself. */
export function inlineTensor(name: string, dataType: DataType, dims: number[], data: ArrayBufferView): TensorProto {
  return { name, dataType, dims, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

export class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorSpec[] = [];
  readonly inputs: ValueInfoProto[] = [];
  readonly outputs: ValueInfoProto[] = [];
  private readonly constants = new Set<string>();

  /** Appends a node; nodes must be added in topological order. Returns the node's outputs. */
  node(opType: string, name: string, inputs: string[], outputs: string[], attributes: AttributeProto[] = [], domain = ""): string[] {
    this.nodes.push({ opType, name, input: inputs, output: outputs, attribute: attributes, domain });
    return outputs;
  }

  /** One-output node whose output is named `${name}/output_0`, as the genai builder names them. */
  op(opType: string, name: string, inputs: string[], attributes: AttributeProto[] = [], domain = ""): string {
    return this.node(opType, name, inputs, [`${name}/output_0`], attributes, domain)[0];
  }

  initializer(spec: TensorSpec): string {
    this.initializers.push(spec);
    return spec.name;
  }

  /**
   * The builder's shared constants: a Constant node `/model/constant_nodes/INT64/1` producing
   * `/model/constants/INT64/1` (a scalar; `[1]` spells a 1-D tensor), created on first use.
   */
  int64Constant(spelling: string): string {
    const name = `/model/constants/INT64/${spelling}`;
    if (!this.constants.has(name)) {
      this.constants.add(name);
      const values = JSON.parse(spelling) as number | number[];
      const list = Array.isArray(values) ? values : [values];
      const dims = Array.isArray(values) ? [values.length] : [];
      const tensor = inlineTensor(
        name,
        DataType.INT64,
        dims,
        BigInt64Array.from(list, (v) => BigInt(v)),
      );
      this.node("Constant", name.replace("constants", "constant_nodes"), [], [name], [attr.tensor("value", tensor)]);
    }
    return name;
  }

  build(name: string): BuiltGraph {
    return {
      name,
      inputs: this.inputs,
      outputs: this.outputs,
      nodes: this.nodes,
      initializers: this.initializers,
    };
  }
}
