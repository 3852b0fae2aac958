/**
 * Converts a layer's weights on two threads. onnxruntime-node takes only tensors over plain ArrayBuffers (a
 * SharedArrayBuffer is refused), so the threads cannot write into one buffer: the target buffers are split
 * between this thread and one worker by size, the worker's are transferred to it (moved, not copied), each
 * thread fills its own, and the worker's come back. A buffer holding more than half of the work (a MoE layer's
 * gate/up experts) stays here and its bf16 jobs are shared through a staging ring (runtime/staging-ring.ts),
 * the worker joining in once its own buffers are done. On a machine with one core everything runs here.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { InputError } from '../errors.js';
import type { ConversionReply, ConversionRequest } from './conversion-worker.js';
import { StagingRing } from './staging-ring.js';
import { bf16PieceValues, isBf16, JobRunner, jobValues, placeValues, type ConversionJob } from './weight-conversion.js';

export class ParallelConversion {
  private readonly here = new JobRunner();
  private worker: Worker | undefined;
  private ring: StagingRing | undefined;

  constructor(private readonly threads = os.availableParallelism()) {}

  /**
   * Runs `jobs` into `buffers` (name -> fp32 buffer). Buffers handed to the worker come back as new objects,
   * so the map is updated in place and callers must take their arrays from it afterwards.
   */
  async convert(buffers: Map<string, Float32Array>, jobs: ConversionJob[]): Promise<void> {
    const byTarget = new Map<string, ConversionJob[]>();
    for (const job of jobs) byTarget.set(job.target, [...(byTarget.get(job.target) ?? []), job]);
    const share = this.split(byTarget);
    const sharedJobs = share.shared === undefined ? [] : byTarget.get(share.shared)!;
    let reply: Promise<ConversionReply> | undefined;
    if (share.worker.length > 0 || share.shared !== undefined) {
      const request: ConversionRequest = { jobs: share.worker.flatMap((t) => byTarget.get(t)!), buffers: {} };
      for (const target of share.worker) {
        const array = buffers.get(target)!;
        if (array.byteOffset !== 0 || array.byteLength !== array.buffer.byteLength) throw new Error(`buffer ${target} is a view: only whole buffers can move to the worker`);
        request.buffers[target] = array.buffer as ArrayBuffer;
      }
      if (share.shared !== undefined) {
        this.ring ??= StagingRing.create(bf16PieceValues);
        this.ring.reset();
        request.shared = { jobs: sharedJobs, ring: this.ring.memory };
      }
      reply = this.post(request);
    }
    let failure: unknown;
    try {
      if (share.shared !== undefined) this.convertShared(sharedJobs, buffers.get(share.shared)!);
      for (const target of share.here) for (const job of byTarget.get(target)!) this.here.run(job, buffers.get(target)!);
    } catch (error) {
      failure = error;
      this.ring?.fail();
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

  /**
   * This thread's claims of the shared buffer's jobs, converted in place, and the worker's, copied from the
   * staging ring as they come (between pieces of this thread's own work, then waiting for the last).
   */
  private convertShared(jobs: ConversionJob[], target: Float32Array): void {
    const ring = this.ring!;
    const place = (job: number, start: number, values: Float32Array) => placeValues(jobs[job], start, values, target);
    let remaining = jobs.reduce((sum, job) => sum + jobValues(job), 0);
    const takeReady = () => (remaining -= ring.takeReady(place));
    for (let j = ring.claim(); j < jobs.length; j = ring.claim()) {
      this.here.run(jobs[j], target, takeReady);
      remaining -= jobValues(jobs[j]);
    }
    while (remaining > 0) {
      const taken = ring.takeNext(place);
      // The worker failed: its reply says why.
      if (taken === 0) return;
      remaining -= taken;
    }
  }

  /**
   * Targets for each thread, largest first to whichever has less work so far (the worker gets none on one core).
   * A bf16 target holding more than half of the work is shared instead, the worker taking all the others.
   */
  private split(byTarget: Map<string, ConversionJob[]>): { here: string[]; worker: string[]; shared?: string } {
    const sizes = [...byTarget].map(([target, jobs]) => ({ target, values: jobs.reduce((sum, job) => sum + jobValues(job), 0) }));
    sizes.sort((a, b) => b.values - a.values);
    const total = sizes.reduce((sum, { values }) => sum + values, 0);
    if (this.threads > 1 && sizes.length > 0 && 2 * sizes[0].values > total && byTarget.get(sizes[0].target)!.every(isBf16)) {
      return { here: [], worker: sizes.slice(1).map(({ target }) => target), shared: sizes[0].target };
    }
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
