/**
 * The state of a layer-streamed pass between two layers, kept in the work folder as `pass.safetensors` so a
 * killed run loses at most the layer in progress: each chunk's hidden states after the last finished layer and
 * the routing its MoE layers recorded so far (with --speculate also that layer's FFN input, which the next MoE
 * layer's speculative gate reads). It is written under a temporary name and renamed, so the file is
 * always the state after some finished layer: a kill during the save leaves the previous state as it was.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileError } from '../errors.js';
import { SafetensorsFile } from '../loaders/safetensors.js';
import { SafetensorsWriter, type TensorSpec } from '../loaders/safetensors-writer.js';
import { killDuringSaveForTest } from './test-interrupt.js';
import type { ChunkRecord } from './work-dir.js';

export interface PassState {
  /** 1-based number of the pass among the run's passes, and their count (for messages). */
  pass: number;
  passes: number;
  /** Indices of the pass's chunks. */
  chunks: number[];
  /** Model index of the last layer every chunk has been through. */
  afterLayer: number;
  /** Per chunk: hidden states (T, H) after that layer. */
  hidden: Float32Array[];
  /** Per chunk, with --speculate: that layer's FFN input (T, H). */
  ffnInput?: Float32Array[];
  /** Per chunk: the routing of the MoE layers up to that layer (later layers' entries still zero). */
  records: ChunkRecord[];
}

/** Widths of the saved tensors: hidden size, recorded MoE layers, experts per token, routed experts. */
export interface PassDims {
  H: number;
  L: number;
  K: number;
  E: number;
}

const fileName = 'pass.safetensors';

export function passStatePath(workDir: string): string {
  return path.join(workDir, fileName);
}

export function savePassState(workDir: string, state: PassState, { H, L, K, E }: PassDims): void {
  const tensors: Array<TensorSpec & { data: ArrayBufferView }> = state.chunks.flatMap((chunk, c) => {
    const T = state.hidden[c].length / H;
    const record = state.records[c];
    const chunkTensors: Array<TensorSpec & { data: ArrayBufferView }> = [
      { name: `${chunk}.hidden`, dtype: 'F32', shape: [T, H], data: state.hidden[c] },
      { name: `${chunk}.topk_ids`, dtype: 'I32', shape: [T, L, K], data: record.topkIds },
      { name: `${chunk}.topk_weights`, dtype: 'F32', shape: [T, L, K], data: record.topkWeights },
      { name: `${chunk}.score_sum`, dtype: 'F64', shape: [L, E], data: record.scoreSum },
    ];
    if (record.scores) chunkTensors.push({ name: `${chunk}.router_probs`, dtype: 'F16', shape: [T, L, E], data: record.scores });
    if (state.ffnInput) chunkTensors.push({ name: `${chunk}.ffn_input`, dtype: 'F32', shape: [T, H], data: state.ffnInput[c] });
    if (record.specTopkIds) chunkTensors.push({ name: `${chunk}.spec_topk_ids`, dtype: 'I32', shape: [T, L, K], data: record.specTopkIds });
    if (record.unbiasedTopkIds) chunkTensors.push({ name: `${chunk}.unbiased_topk_ids`, dtype: 'I32', shape: [T, L, K], data: record.unbiasedTopkIds });
    return chunkTensors;
  });
  const metadata = { pass: String(state.pass), passes: String(state.passes), chunks: JSON.stringify(state.chunks), after_layer: String(state.afterLayer) };
  const writer = SafetensorsWriter.create(passStatePath(workDir), tensors, metadata);
  try {
    tensors.forEach((tensor, i) => {
      if (i === Math.floor(tensors.length / 2)) killDuringSaveForTest(state.afterLayer);
      writer.write(tensor.name, tensor.data);
    });
    writer.finish();
  } catch (error) {
    writer.abort();
    throw error;
  }
}

/** The saved state, or undefined when there is none. */
export function readPassState(workDir: string): PassState | undefined {
  const file = passStatePath(workDir);
  if (!fs.existsSync(file)) return undefined;
  const saved = SafetensorsFile.open(file);
  try {
    const { pass, passes, chunks: chunkList, after_layer: afterLayer } = saved.metadata;
    const chunks = JSON.parse(chunkList ?? 'null') as unknown;
    if (!Array.isArray(chunks) || !chunks.every(Number.isInteger) || [pass, passes, afterLayer].some((v) => !/^\d+$/.test(v ?? ''))) {
      throw fileError(file, 'pass-state', 'the saved pass state has no readable pass, chunks or layer in its metadata; delete the work folder to start over');
    }
    // Copies into fresh buffers, so each view is aligned whatever the tensor's offset in the file.
    const read = (name: string) => saved.read(name).slice().buffer;
    const scoresSaved = saved.tensors.has(`${chunks[0]}.router_probs`);
    const speculated = saved.tensors.has(`${chunks[0]}.spec_topk_ids`);
    const unbiasedSaved = saved.tensors.has(`${chunks[0]}.unbiased_topk_ids`);
    return {
      pass: Number(pass),
      passes: Number(passes),
      chunks,
      afterLayer: Number(afterLayer),
      hidden: chunks.map((chunk) => new Float32Array(read(`${chunk}.hidden`))),
      ffnInput: speculated ? chunks.map((chunk) => new Float32Array(read(`${chunk}.ffn_input`))) : undefined,
      records: chunks.map((chunk) => ({
        topkIds: new Int32Array(read(`${chunk}.topk_ids`)),
        topkWeights: new Float32Array(read(`${chunk}.topk_weights`)),
        scoreSum: new Float64Array(read(`${chunk}.score_sum`)),
        scores: scoresSaved ? new Uint16Array(read(`${chunk}.router_probs`)) : undefined,
        specTopkIds: speculated ? new Int32Array(read(`${chunk}.spec_topk_ids`)) : undefined,
        unbiasedTopkIds: unbiasedSaved ? new Int32Array(read(`${chunk}.unbiased_topk_ids`)) : undefined,
      })),
    };
  } finally {
    saved.close();
  }
}

export function removePassState(workDir: string): void {
  fs.rmSync(passStatePath(workDir), { force: true });
}
