/**
 * The folder beside a trace that holds a run's finished chunks until the trace is assembled
 * (`TRACE.safetensors.partial/`). A killed run leaves it behind; `--resume` picks up the finished chunks,
 * after checking that the run's inputs and options are the same as when they were made.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileError } from '../errors.js';
import { SafetensorsFile } from '../loaders/safetensors.js';
import { writeSafetensors, type TensorSpec } from '../loaders/safetensors-writer.js';

/** Everything that determines a chunk's content; a resume with any difference would mix two runs. */
export type RunFingerprint = Record<string, string | number | boolean | null>;

export interface ChunkRecord {
  /** (T, L, K) */
  topkIds: Int32Array;
  /** (T, L, K) */
  topkWeights: Float32Array;
  /** (L, E) */
  scoreSum: Float64Array;
  /** (T, L, E) f16 bits, only with --save-probs */
  scores?: Uint16Array;
  /** (T, L, K), only with --speculate */
  specTopkIds?: Int32Array;
  /** (T, L, K) the choice without e_score_correction_bias, for models with it */
  unbiasedTopkIds?: Int32Array;
}

export class WorkDir {
  private constructor(readonly dir: string) {}

  static pathFor(tracePath: string): string {
    return `${tracePath}.partial`;
  }

  /**
   * Opens the work folder of a run. Without `resume`, an existing folder from an earlier run is refused
   * (so finished work is not thrown away silently); with it, the folder must have been made by the same run.
   */
  static open(tracePath: string, fingerprint: RunFingerprint, resume: boolean): WorkDir {
    const dir = WorkDir.pathFor(tracePath);
    const manifestPath = path.join(dir, 'manifest.json');
    if (fs.existsSync(dir)) {
      if (!resume) {
        throw fileError(dir, 'partial-exists', 'an earlier run of this trace was interrupted; add --resume to continue it, or delete the folder to start over');
      }
      const previous = readManifest(manifestPath);
      for (const key of new Set([...Object.keys(previous), ...Object.keys(fingerprint)])) {
        if (previous[key] !== fingerprint[key]) {
          throw fileError(dir, 'resume-mismatch', `cannot resume: ${key} was ${JSON.stringify(previous[key])} and is now ${JSON.stringify(fingerprint[key])} (delete this folder to start over)`);
        }
      }
      return new WorkDir(dir);
    }
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(manifestPath, `${JSON.stringify(fingerprint, null, 2)}\n`);
    return new WorkDir(dir);
  }

  private chunkPath(index: number): string {
    return path.join(this.dir, `chunk-${String(index).padStart(6, '0')}.safetensors`);
  }

  isDone(index: number): boolean {
    return fs.existsSync(this.chunkPath(index));
  }

  /** Written atomically: a chunk file exists only once it is complete. */
  save(index: number, tokens: number, layers: number, k: number, experts: number, record: ChunkRecord): void {
    const tensors: Array<TensorSpec & { data: ArrayBufferView }> = [
      { name: 'topk_ids', dtype: 'I32', shape: [tokens, layers, k], data: record.topkIds },
      { name: 'topk_weights', dtype: 'F32', shape: [tokens, layers, k], data: record.topkWeights },
      { name: 'score_sum', dtype: 'F64', shape: [layers, experts], data: record.scoreSum },
    ];
    if (record.unbiasedTopkIds) tensors.push({ name: 'unbiased_topk_ids', dtype: 'I32', shape: [tokens, layers, k], data: record.unbiasedTopkIds });
    if (record.scores) tensors.push({ name: 'router_probs', dtype: 'F16', shape: [tokens, layers, experts], data: record.scores });
    if (record.specTopkIds) tensors.push({ name: 'spec_topk_ids', dtype: 'I32', shape: [tokens, layers, k], data: record.specTopkIds });
    writeSafetensors(this.chunkPath(index), tensors);
  }

  /** Reads one tensor of a finished chunk; assembling a trace takes each tensor in turn, so only it is read. */
  read(index: number, name: 'topk_ids' | 'spec_topk_ids' | 'unbiased_topk_ids'): Int32Array;
  read(index: number, name: 'topk_weights'): Float32Array;
  read(index: number, name: 'score_sum'): Float64Array;
  read(index: number, name: 'router_probs'): Uint16Array;
  read(index: number, name: string): Int32Array | Float32Array | Float64Array | Uint16Array {
    const file = SafetensorsFile.open(this.chunkPath(index));
    try {
      const raw = file.read(name);
      // A copy into a fresh buffer, so the view is aligned whatever the tensor's offset in the file.
      const bytes = raw.slice().buffer;
      const views = { topk_ids: Int32Array, topk_weights: Float32Array, score_sum: Float64Array, router_probs: Uint16Array, spec_topk_ids: Int32Array, unbiased_topk_ids: Int32Array };
      return new views[name as keyof typeof views](bytes);
    } finally {
      file.close();
    }
  }


  remove(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

function readManifest(file: string): RunFingerprint {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    throw fileError(file, 'partial-manifest', `cannot read the manifest of the interrupted run (${(error as Error).message}); delete the folder to start over`);
  }
}
