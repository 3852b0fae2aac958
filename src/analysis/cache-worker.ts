/** The worker thread of cache-threads.ts: runs the cache simulation jobs it is given. */
import { runCacheJob } from './cache-threads.js';
import { serveJobs } from '../worker-pool.js';

serveJobs(runCacheJob);
