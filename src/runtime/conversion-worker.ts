/**
 * The worker thread of runtime/parallel-conversion.ts: receives target buffers (transferred, so nothing is
 * copied) with the jobs that fill them, runs the jobs, then takes a share of the main thread's shared buffer
 * through the staging ring (runtime/staging-ring.ts), and transfers its buffers back.
 */
import { parentPort } from 'node:worker_threads';
import { InputError } from '../errors.js';
import { StagingRing, type RingMemory } from './staging-ring.js';
import { JobRunner, type ConversionJob } from './weight-conversion.js';

export interface ConversionRequest {
  jobs: ConversionJob[];
  buffers: Record<string, ArrayBuffer>;
  /** The bf16 jobs of the main thread's shared buffer, claimed by both threads, and the ring to stage into. */
  shared?: { jobs: ConversionJob[]; ring: RingMemory };
}

export interface ConversionReply {
  buffers: Record<string, ArrayBuffer>;
  /** A failed job: an InputError keeps its code across the thread boundary. */
  error?: { message: string; code?: InputError['code'] };
}

const runner = new JobRunner();
let ring: StagingRing | undefined;

parentPort!.on('message', ({ jobs, buffers, shared }: ConversionRequest) => {
  let error: ConversionReply['error'];
  if (shared && ring?.memory.control !== shared.ring.control) ring = new StagingRing(shared.ring);
  try {
    for (const job of jobs) runner.run(job, new Float32Array(buffers[job.target]));
    if (shared) stageClaims(shared.jobs, ring!);
  } catch (caught) {
    ring?.fail();
    error = { message: (caught as Error).message, code: caught instanceof InputError ? caught.code : undefined };
  }
  const reply: ConversionReply = { buffers, error };
  parentPort!.postMessage(reply, Object.values(buffers));
});

/** Claims shared jobs until none is left, converting each a piece at a time into the ring. */
function stageClaims(jobs: ConversionJob[], ring: StagingRing): void {
  for (let j = ring.claim(); j < jobs.length; j = ring.claim()) {
    runner.forEachBf16Piece(jobs[j], (start, values) => ring.put(j, start, values.length, (slot) => slot.set(values)));
  }
}
