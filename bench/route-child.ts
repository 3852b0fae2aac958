/**
 * One `route` run in a process of its own, so its peak RSS is its own. Prints one JSON line with the time
 * spent running layers (routing proper), loading and converting weights, and opening sessions, apart, the
 * process's own time from its start to the end of routing, and the f32 MatMul ceiling measured by this process
 * once routing is done.
 * Usage: node dist/bench/route-child.js MODEL_DIR PROMPTS BATCH_TOKENS OUT [--speculate]
 */
import { route } from '../src/route/route.js';
import { matmulCeiling } from './matmul-ceiling.js';

const [model, prompts, batchTokens, out, speculate] = process.argv.slice(2);
const totals = { run: 0, load: 0, open: 0 };
const runs: Array<{ layer: number; tokens: number; attentionPairs: number; seconds: number }> = [];

const started = performance.now();
const result = await route({
  prompts,
  model,
  out,
  device: 'cpu',
  batchTokens: Number(batchTokens),
  speculate: speculate === '--speculate',
  onTiming: (timing) => {
    totals[timing.phase] += timing.seconds;
    if (timing.phase === 'run') runs.push(timing);
  },
});
const wallSeconds = (performance.now() - started) / 1000;
// performance.now() counts from the process's start: node's start-up, imports, tokenizer, sessions and routing.
const processSeconds = performance.now() / 1000;
const ceilingGflops = await matmulCeiling();
process.stdout.write(`${JSON.stringify({ ...totals, runs, wallSeconds, processSeconds, ceilingGflops, tokens: result.tokens, maxRssBytes: process.resourceUsage().maxRSS * 1024 })}\n`);
