/**
 * `npm run bench`: every speed and memory target of the project, each printed as a table.
 * Set MOE_INSPECT_BENCH_DIR to keep the (large) synthetic checkpoints between runs; default: a temp folder.
 * `npm run bench -- deepseek-v3` runs only that preset's routing benchmark (the bf16 preset's is followed by the
 * host pipeline alone, bench/load-bench.ts); `npm run bench -- serving` only the serving what-ifs of `balance`;
 * `npm run bench -- cache` only the expert cache simulation.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Table from 'cli-table3';
import { formatBytes } from '../src/info/info-table.js';
import { cacheBench, formatCacheTable } from './cache-sim.js';
import { formatScaleTable, reportScaleBench } from './report-scale.js';
import { routeBench, routeScenarios } from './route-bench.js';
import { formatServingTable, servingBench } from './serving-bench.js';

const workDir = process.env.MOE_INSPECT_BENCH_DIR ?? fs.mkdtempSync(path.join(os.tmpdir(), 'moe-inspect-bench-'));
fs.mkdirSync(workDir, { recursive: true });
const log = (line: string) => process.stderr.write(`bench: ${line}\n`);

const only = process.argv[2];
for (const scenario of routeScenarios.filter((s) => !only || s.preset === only)) {
  const { rows, diskBytes, model, torch } = await routeBench(workDir, scenario, log);
  const table = new Table({
    head: ['tokens/chunk', 'speculate', 'tokens', 'tok/s', 'GFLOP/s', 'MatMul ceiling', 'ratio', 'route wall s', 'process s', 'load+convert s', 'Gvalues/s converted', 'sessions s', 'peak RSS', 'RSS target'],
    style: { head: [], border: [] },
  });
  for (const r of rows) {
    table.push([
      r.batchTokens,
      r.speculate ? 'yes' : 'no',
      r.tokens,
      r.tokensPerSecond.toFixed(1),
      r.gflops.toFixed(1),
      r.ceilingGflops.toFixed(1),
      r.ratio.toFixed(2),
      r.wallSeconds.toFixed(1),
      r.processSeconds.toFixed(1),
      r.loadSeconds.toFixed(1),
      r.loadGValuesPerSecond.toFixed(2),
      r.openSeconds.toFixed(2),
      formatBytes(r.peakRssBytes),
      formatBytes(r.rssTargetBytes),
    ]);
  }
  process.stdout.write(`\nroute: ${scenario.name}, bundled demo prompts, cpu, ${os.availableParallelism()} threads\n`);
  process.stdout.write(`${table.toString()}\ndisk used (model + one trace): ${formatBytes(diskBytes)}\n`);
  const last = rows.filter((r) => !r.speculate).at(-1)!;
  if ('skipped' in torch) {
    process.stdout.write(`PyTorch baseline: skipped (${torch.skipped})\n`);
  } else {
    process.stdout.write(
      `PyTorch eager fp32 baseline (bench/torch-baseline.py, one padded batch ${torch.batch.join('x')}, expert loop, all layers): ` +
        `${torch.processSeconds.toFixed(1)} s whole process (forward ${torch.forwardSeconds.toFixed(1)} s), peak RSS ${formatBytes(torch.peakRssBytes)}; ` +
        `route at ${last.batchTokens} tokens/chunk: ${last.processSeconds.toFixed(1)} s whole process, ` +
        `${(torch.processSeconds / last.processSeconds).toFixed(2)}x faster; same experts at ${(100 * torch.routingAgreement).toFixed(2)}% of token-layers\n`,
    );
  }
  if (scenario.dtype === 'bf16') {
    log('host pipeline alone (bench/load-bench.ts) ...');
    const load = JSON.parse(execFileSync(process.execPath, [path.join(path.dirname(fileURLToPath(import.meta.url)), 'load-bench.js'), model], { encoding: 'utf8' }).trim());
    const rate = (seconds: number) => `${seconds.toFixed(2)} s (${(load.values / seconds / 1e9).toFixed(2)} Gvalues/s)`;
    process.stdout.write(
      `host pipeline alone (bench/load-bench.ts: the same layers loaded with no layer run between, page cache warm): ${(load.values / 1e9).toFixed(2)} G values, ` +
        `into fresh buffers ${rate(load.freshBuffersSeconds)}, into the same buffers again ${rate(load.reusedBuffersSeconds)}\n`,
    );
  }
  if (!process.env.MOE_INSPECT_BENCH_DIR) fs.rmSync(model, { recursive: true, force: true });
}
if (!process.env.MOE_INSPECT_BENCH_DIR) fs.rmSync(workDir, { recursive: true, force: true });

if (!only || only === 'cache') {
  log('expert cache simulation of 1,000,000 tokens x 27 layers x top-6 of 64 experts ...');
  const cache = await cacheBench();
  process.stdout.write(`\ncache simulation: LRU, LFU and Belady at every cache size, one pass per layer and policy on ${cache.threads} thread${cache.threads === 1 ? '' : 's'} (target: under 30 s)\n${formatCacheTable(cache)}\n`);
}

if (!only) {
  log('report on a synthetic trace of 1,000,000 tokens x 27 layers x top-6 of 64 experts ...');
  const scale = await reportScaleBench();
  process.stdout.write(`\nreport: streaming analyses over a large trace (target: under 60 s, bounded memory)\n${formatScaleTable(scale)}\n`);
}

if (!only || only === 'serving') {
  const rows = servingBench(log);
  process.stdout.write(`\nbalance: serving what-ifs, 61 layers (58 MoE) x 256 experts, 288 slots on 32 GPUs in 4 nodes\n${formatServingTable(rows)}\n`);
}
