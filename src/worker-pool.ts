/**
 * Runs independent jobs on worker threads, for computations that are plain JavaScript (no onnxruntime, whose
 * tensors refuse shared memory: runtime/parallel-conversion.ts has its own pair of threads for that).
 *
 * Jobs wait in a queue and each worker takes the next one as soon as it is done with one, so jobs of uneven
 * cost balance themselves; the results come back in job order, whichever thread ran them. A job is made only
 * when a worker takes it (`jobAt`), so large inputs of later jobs need not all exist at once. Typed arrays
 * over a SharedArrayBuffer reach the worker without a copy; anything else in a job is copied.
 *
 * A job that throws, or a worker that dies, rejects the whole run at once (an InputError keeps its code; any
 * other failure becomes one InputError, 'worker-failed') and every worker is stopped: none is left to keep the
 * process alive, after a failure or after the last result.
 */
import os from 'node:os';
import { parentPort, Worker } from 'node:worker_threads';
import { InputError } from './errors.js';
import type { ErrorCode } from './error-codes.js';

export interface PoolOptions<Job, Result> {
  /** The worker's module: it calls serveJobs with the same function as `run`. */
  worker: URL;
  /** Runs one job; used here, on this thread, when there is a single thread. */
  run(job: Job): Result;
  /** Threads to use (default: the cores available); never more than there are jobs. One runs every job here. */
  threads?: number;
}

interface JobMessage<Job> {
  index: number;
  job: Job;
}

type ReplyMessage<Result> = { index: number; result: Result } | { index: number; error: { message: string; code?: ErrorCode } };

/** Runs jobs 0 .. count-1, made by `jobAt` in order, and gives their results in that order. */
export async function runJobs<Job, Result>(count: number, jobAt: (index: number) => Job, options: PoolOptions<Job, Result>): Promise<Result[]> {
  const threads = Math.min(options.threads ?? os.availableParallelism(), count);
  if (threads <= 1) return Array.from({ length: count }, (_, index) => options.run(jobAt(index)));

  const results = new Array<Result>(count);
  const workers: Worker[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      let next = 0;
      let done = 0;
      // The first outcome settles the run; what the workers do after it (errors, exits when stopped) is ignored.
      let settled = false;
      const finish = (error?: unknown) => {
        if (settled) return;
        settled = true;
        if (error === undefined) resolve();
        else reject(error);
      };
      const fail = (message: string, code?: ErrorCode) => finish(new InputError(code ? message : `a worker thread failed: ${message}`, code ?? 'worker-failed'));
      // Making a job may throw (bad input found late): that fails the run like a failed job.
      const give = (worker: Worker) => {
        if (settled || next === count) return;
        const index = next++;
        try {
          const message: JobMessage<Job> = { index, job: jobAt(index) };
          worker.postMessage(message);
        } catch (error) {
          finish(error);
        }
      };
      for (let t = 0; t < threads; t++) {
        const worker = new Worker(options.worker);
        workers.push(worker);
        worker.on('message', (reply: ReplyMessage<Result>) => {
          if ('error' in reply) return fail(reply.error.message, reply.error.code);
          results[reply.index] = reply.result;
          if (++done === count) finish();
          else give(worker);
        });
        worker.on('error', (error) => fail(error.message));
        // A worker ends only when stopped, after the run; ending before means it died (process.exit, out of memory).
        worker.on('exit', (code) => fail(`it stopped with exit code ${code} before its jobs were done`));
        give(worker);
      }
    });
  } finally {
    // terminate() stops each worker whatever it is doing, so none is left to keep the process alive.
    await Promise.all(workers.map((worker) => worker.terminate()));
  }
  return results;
}

/** The worker's side: runs each job it is given with `run` and sends back its result (or its error). */
export function serveJobs<Job, Result>(run: (job: Job) => Result): void {
  parentPort!.on('message', ({ index, job }: JobMessage<Job>) => {
    let reply: ReplyMessage<Result>;
    try {
      reply = { index, result: run(job) };
    } catch (caught) {
      const error = caught instanceof Error ? caught : new Error(String(caught));
      reply = { index, error: { message: error.message, code: caught instanceof InputError ? caught.code : undefined } };
    }
    parentPort!.postMessage(reply);
  });
}
