/**
 * Jobs for test/worker-pool.test.ts, run by worker-pool.ts on worker threads (this module is then the worker)
 * or on the main thread. Each kind exercises one behaviour of the pool: results, shared memory, the queue,
 * and the ways a job or a thread can fail.
 */
import { isMainThread, threadId } from 'node:worker_threads';
import { InputError } from '../../src/errors.js';
import { serveJobs } from '../../src/worker-pool.js';

export type PoolTestJob =
  | { kind: 'square'; value: number }
  /** Adds one to counter[0] (shared memory: every thread sees the same counter). */
  | { kind: 'count'; counter: Int32Array }
  /** Waits, at most 10 s, until counter[0] reaches `until`; true if it did. */
  | { kind: 'wait'; counter: Int32Array; until: number }
  | { kind: 'throw'; message: string }
  | { kind: 'input-error' }
  | { kind: 'exit' };

export interface PoolTestResult {
  value: number | boolean;
  /** The thread that ran the job. */
  thread: number;
}

export function runPoolTestJob(job: PoolTestJob): PoolTestResult {
  const answer = (value: number | boolean) => ({ value, thread: threadId });
  switch (job.kind) {
    case 'square':
      return answer(job.value * job.value);
    case 'count':
      Atomics.add(job.counter, 0, 1);
      Atomics.notify(job.counter, 0);
      return answer(true);
    case 'wait': {
      const deadline = Date.now() + 10_000;
      for (let seen = Atomics.load(job.counter, 0); seen < job.until; seen = Atomics.load(job.counter, 0)) {
        if (Date.now() >= deadline) return answer(false);
        Atomics.wait(job.counter, 0, seen, deadline - Date.now());
      }
      return answer(true);
    }
    case 'throw':
      throw new Error(job.message);
    case 'input-error':
      throw new InputError('a job found bad input', 'trace-empty');
    case 'exit':
      process.exit(3);
  }
}

if (!isMainThread) serveJobs(runPoolTestJob);
