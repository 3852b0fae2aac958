/**
 * The worker pool (src/worker-pool.ts) with the jobs of helpers/pool-worker.ts: results in job order whatever
 * thread ran them, jobs taken by whichever thread is idle, shared memory seen by every thread, every failure
 * a rejection (never a hang), and no worker left to keep the process alive.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { InputError } from '../src/errors.js';
import { runJobs } from '../src/worker-pool.js';
import { runPoolTestJob, type PoolTestJob, type PoolTestResult } from './helpers/pool-worker.js';

const worker = new URL('./helpers/pool-worker.js', import.meta.url);
const run = (jobs: PoolTestJob[], threads: number) => runJobs<PoolTestJob, PoolTestResult>(jobs.length, (i) => jobs[i], { worker, run: runPoolTestJob, threads });
const failsWith = (code: string, pattern: RegExp) => (error: unknown) => error instanceof InputError && error.code === code && pattern.test(error.message) && !error.message.includes('\n');

describe('worker pool', () => {
  it('gives the results in job order, on several threads as on one', async () => {
    const jobs = Array.from({ length: 25 }, (_, i): PoolTestJob => ({ kind: 'square', value: i - 7 }));
    const threaded = await run(jobs, 3);
    assert.deepEqual(threaded.map((r) => r.value), jobs.map((_, i) => (i - 7) ** 2));
    assert.ok(new Set(threaded.map((r) => r.thread)).size > 1 || threaded.every((r) => r.thread !== 0), 'the jobs ran on worker threads');
    const inline = await run(jobs, 1);
    assert.deepEqual(inline.map((r) => r.value), threaded.map((r) => r.value));
    assert.ok(inline.every((r) => r.thread === 0), 'one thread runs every job on the main thread');
  });

  it('an idle thread takes the next job: a job waiting for all the others finishes', async () => {
    // Job 0 holds its thread until the 5 counting jobs are done, which only the other thread can run. A pool
    // that handed out jobs in advance (round robin) would leave some behind job 0, and job 0 would time out.
    const counter = new Int32Array(new SharedArrayBuffer(4));
    const jobs: PoolTestJob[] = [{ kind: 'wait', counter, until: 5 }, ...Array.from({ length: 5 }, (): PoolTestJob => ({ kind: 'count', counter }))];
    const [waited, ...counted] = await run(jobs, 2);
    assert.equal(waited.value, true, 'the counting jobs all ran while job 0 waited');
    assert.ok(counted.every((r) => r.thread !== waited.thread));
    assert.equal(counter[0], 5, 'the workers counted in this thread\'s shared memory, not in copies');
  });

  it('a job that throws rejects the run with one line; an InputError keeps its code', async () => {
    const squares = Array.from({ length: 6 }, (_, i): PoolTestJob => ({ kind: 'square', value: i }));
    await assert.rejects(run([...squares, { kind: 'throw', message: 'the stack broke' }, ...squares], 2), failsWith('worker-failed', /^a worker thread failed: the stack broke$/));
    await assert.rejects(run([...squares, { kind: 'input-error' }], 2), failsWith('trace-empty', /^a job found bad input$/));
  });

  it('a thread that dies rejects the run; so does a job that cannot be made', async () => {
    await assert.rejects(run([{ kind: 'square', value: 1 }, { kind: 'exit' }, { kind: 'square', value: 2 }], 2), failsWith('worker-failed', /stopped with exit code 3/));
    const unmade = runJobs<PoolTestJob, PoolTestResult>(4, (i) => {
      if (i === 2) throw new InputError('job 2 has bad input', 'trace-empty');
      return { kind: 'square', value: i };
    }, { worker, run: runPoolTestJob, threads: 2 });
    await assert.rejects(unmade, failsWith('trace-empty', /^job 2 has bad input$/));
  });

  it('leaves no worker behind: a process that ran jobs, and one whose job failed, exit on their own', () => {
    const pool = pathToFileURL(new URL('../src/worker-pool.js', import.meta.url).pathname).href;
    const helper = pathToFileURL(worker.pathname).href;
    const script = `
      const { runJobs } = await import(${JSON.stringify(pool)});
      const { runPoolTestJob } = await import(${JSON.stringify(helper)});
      const options = { worker: new URL(${JSON.stringify(helper)}), run: runPoolTestJob, threads: 2 };
      const ok = await runJobs(4, (i) => ({ kind: 'square', value: i }), options);
      console.log(ok.map((r) => r.value).join(','));
      await runJobs(4, (i) => (i === 1 ? { kind: 'throw', message: 'boom' } : { kind: 'square', value: i }), options).catch((error) => console.log(error.code));
    `;
    // A file, not --eval: workers inherit the process's node options, and --input-type is refused for a file.
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'pool-')), 'run.mjs');
    fs.writeFileSync(file, script);
    const child = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 60_000 });
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
    assert.equal(child.signal, null, `the process was still alive after 60 s: ${child.stderr}`);
    assert.equal(child.status, 0, child.stderr);
    assert.equal(child.stdout, '0,1,4,9\nworker-failed\n');
  });
});
