import os from 'node:os';
import ort from 'onnxruntime-node';
import { GraphBuilder } from '../src/runtime/graph-builder.js';
import { TensorType } from '../src/runtime/onnx-proto.js';

/** Median GFLOP/s of an f32 MatMul [2048x2048]x[2048x1408] with the weight as an initializer, as onnxruntime runs it here. */
export async function matmulCeiling(): Promise<number> {
  const [M, K, N] = [2048, 2048, 1408];
  const g = new GraphBuilder('matmul_ceiling');
  const a = g.input('a', TensorType.float, [M, K]);
  const b = g.constant('b', TensorType.float, [K, N], new Float32Array(K * N).map((_, i) => ((i * 7919) % 1000) / 1000 - 0.5));
  g.output(g.node('MatMul', [a, b]), 'y', TensorType.float, [M, N]);
  const session = await ort.InferenceSession.create(g.build(), { executionProviders: ['cpu'], intraOpNumThreads: os.availableParallelism(), graphOptimizationLevel: 'all' });
  const input = { a: new ort.Tensor('float32', new Float32Array(M * K).fill(0.5), [M, K]) };
  const times: number[] = [];
  for (let i = 0; i < 12; i++) {
    const started = performance.now();
    await session.run(input);
    if (i >= 2) times.push((performance.now() - started) / 1000);
  }
  await session.release();
  times.sort((x, y) => x - y);
  return (2 * M * K * N) / times[Math.floor(times.length / 2)] / 1e9;
}

