/**
 * `npm run bench`: every speed and memory target of the project, each printed as a table.
 * Set MOE_INSPECT_BENCH_DIR to keep the (large) synthetic checkpoints between runs; default: a temp folder.
 * `npm run bench -- deepseek-v3` runs only that preset's routing benchmark; `npm run bench -- serving` only the
 * serving what-ifs of `balance`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Table from 'cli-table3';
import { formatBytes } from '../src/info/info-table.js';
import { formatScaleTable, reportScaleBench } from './report-scale.js';
import { routeBench, routeScenarios } from './route-bench.js';
import { formatServingTable, servingBench } from './serving-bench.js';

const workDir = process.env.MOE_INSPECT_BENCH_DIR ?? fs.mkdtempSync(path.join(os.tmpdir(), 'moe-inspect-bench-'));
fs.mkdirSync(workDir, { recursive: true });
const log = (line: string) => process.stderr.write(`bench: ${line}\n`);

const only = process.argv[2];
for (const scenario of routeScenarios.filter((s) => !only || s.preset === only)) {
  const { rows, diskBytes, model } = await routeBench(workDir, scenario, log);
  const table = new Table({
    head: ['tokens/chunk', 'tokens', 'tok/s', 'GFLOP/s', 'MatMul ceiling', 'ratio', 'route wall s', 'load+convert s', 'Gvalues/s converted', 'sessions s', 'peak RSS', 'RSS target'],
    style: { head: [], border: [] },
  });
  for (const r of rows) {
    table.push([
      r.batchTokens,
      r.tokens,
      r.tokensPerSecond.toFixed(1),
      r.gflops.toFixed(1),
      r.ceilingGflops.toFixed(1),
      r.ratio.toFixed(2),
      r.wallSeconds.toFixed(1),
      r.loadSeconds.toFixed(1),
      r.loadGValuesPerSecond.toFixed(2),
      r.openSeconds.toFixed(2),
      formatBytes(r.peakRssBytes),
      formatBytes(r.rssTargetBytes),
    ]);
  }
  process.stdout.write(`\nroute: ${scenario.name}, bundled demo prompts, cpu, ${os.availableParallelism()} threads\n`);
  process.stdout.write(`${table.toString()}\ndisk used (model + one trace): ${formatBytes(diskBytes)}\n`);
  if (!process.env.MOE_INSPECT_BENCH_DIR) fs.rmSync(model, { recursive: true, force: true });
}
if (!process.env.MOE_INSPECT_BENCH_DIR) fs.rmSync(workDir, { recursive: true, force: true });

if (!only) {
  log('report on a synthetic trace of 1,000,000 tokens x 27 layers x top-6 of 64 experts ...');
  const scale = await reportScaleBench();
  process.stdout.write(`\nreport: streaming analyses over a large trace (target: under 60 s, bounded memory)\n${formatScaleTable(scale)}\n`);
}

if (!only || only === 'serving') {
  const rows = servingBench(log);
  process.stdout.write(`\nbalance: serving what-ifs, 61 layers (58 MoE) x 256 experts, 288 slots on 32 GPUs in 4 nodes\n${formatServingTable(rows)}\n`);
}
