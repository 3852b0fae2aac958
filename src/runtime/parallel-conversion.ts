/**
 * Converts a layer's weights on two threads. onnxruntime-node takes only tensors over plain ArrayBuffers (a
 * SharedArrayBuffer is refused), so the threads cannot write into one buffer: the target buffers are split
 * between this thread and one worker by size, the worker's are transferred to it (moved, not copied), each
 * thread fills its own, and the worker's come back. On a machine with one core everything runs here.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { InputError } from '../errors.js';
import type { ConversionReply, ConversionRequest } from './conversion-worker.js';
import { JobRunner, jobValues, type ConversionJob } from './weight-conversion.js';

export class ParallelConversion {
  private readonly here = new JobRunner();
  private worker: Worker | undefined;

  constructor(private readonly threads = os.availableParallelism()) {}

  /**
   * Runs `jobs` into `buffers` (name -> fp32 buffer). Buffers handed to the worker come back as new objects,
   * so the map is updated in place and callers must take their arrays from it afterwards.
   */
  async convert(buffers: Map<string, Float32Array>, jobs: ConversionJob[]): Promise<void> {
    const byTarget = new Map<string, ConversionJob[]>();
    for (const job of jobs) byTarget.set(job.target, [...(byTarget.get(job.target) ?? []), job]);
    const share = this.split(byTarget);
    let reply: Promise<ConversionReply> | undefined;
    if (share.worker.length > 0) {
      const request: ConversionRequest = { jobs: share.worker.flatMap((t) => byTarget.get(t)!), buffers: {} };
      for (const target of share.worker) {
        const array = buffers.get(target)!;
        if (array.byteOffset !== 0 || array.byteLength !== array.buffer.byteLength) throw new Error(`buffer ${target} is a view: only whole buffers can move to the worker`);
        request.buffers[target] = array.buffer as ArrayBuffer;
      }
      reply = this.post(request);
    }
    let failure: unknown;
    try {
      for (const target of share.here) for (const job of byTarget.get(target)!) this.here.run(job, buffers.get(target)!);
    } catch (error) {
      failure = error;
    }
    if (reply) {
      const { buffers: returned, error } = await reply;
      for (const [target, buffer] of Object.entries(returned)) buffers.set(target, new Float32Array(buffer));
      failure ??= error && (error.code ? new InputError(error.message, error.code) : new Error(error.message));
    }
    if (failure) throw failure;
  }

  async close(): Promise<void> {
    this.here.close();
    await this.worker?.terminate();
    this.worker = undefined;
  }

  /** Targets for each thread, largest first to whichever has less work so far (the worker gets none on one core). */
  private split(byTarget: Map<string, ConversionJob[]>): { here: string[]; worker: string[] } {
    const sizes = [...byTarget].map(([target, jobs]) => ({ target, values: jobs.reduce((sum, job) => sum + jobValues(job), 0) }));
    sizes.sort((a, b) => b.values - a.values);
    const share = { here: [] as string[], worker: [] as string[] };
    const load = { here: 0, worker: 0 };
    for (const { target, values } of sizes) {
      const side = this.threads > 1 && load.worker < load.here ? 'worker' : 'here';
      share[side].push(target);
      load[side] += values;
    }
    return share;
  }

  private post(request: ConversionRequest): Promise<ConversionReply> {
    if (!this.worker) {
      this.worker = new Worker(new URL('./conversion-worker.js', import.meta.url));
    }
    const worker = this.worker;
    // Referenced only while it works, so an idle worker never keeps the process alive.
    worker.ref();
    return new Promise((resolve, reject) => {
      const onError = (error: Error) => reject(error);
      worker.once('error', onError);
      worker.once('message', (reply: ConversionReply) => {
        worker.off('error', onError);
        worker.unref();
        resolve(reply);
      });
      worker.postMessage(request, Object.values(request.buffers));
    });
  }
}
