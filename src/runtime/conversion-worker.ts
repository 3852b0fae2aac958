/**
 * The worker thread of runtime/parallel-conversion.ts: receives target buffers (transferred, so nothing is
 * copied) with the jobs that fill them, runs the jobs, and transfers the buffers back.
 */
import { parentPort } from 'node:worker_threads';
import { InputError } from '../errors.js';
import { JobRunner, type ConversionJob } from './weight-conversion.js';

export interface ConversionRequest {
  jobs: ConversionJob[];
  buffers: Record<string, ArrayBuffer>;
}

export interface ConversionReply {
  buffers: Record<string, ArrayBuffer>;
  /** A failed job: an InputError keeps its code across the thread boundary. */
  error?: { message: string; code?: InputError['code'] };
}

const runner = new JobRunner();
parentPort!.on('message', ({ jobs, buffers }: ConversionRequest) => {
  let error: ConversionReply['error'];
  try {
    for (const job of jobs) runner.run(job, new Float32Array(buffers[job.target]));
  } catch (caught) {
    error = { message: (caught as Error).message, code: caught instanceof InputError ? caught.code : undefined };
  }
  const reply: ConversionReply = { buffers, error };
  parentPort!.postMessage(reply, Object.values(buffers));
});
