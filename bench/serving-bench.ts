import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Table from 'cli-table3';
import { simulateOracle, simulatePeriodic } from '../src/balance/simulate.js';
import { sweepPlacements } from '../src/balance/sweep.js';
import { seriesFromSteps } from '../src/balance/time-series.js';
import { defaultBandwidth, dispatchTraffic } from '../src/balance/traffic.js';
import { readLoadMatrix } from '../src/loaders/load-matrix.js';
import { aliasTable, drawLoadSeries } from '../src/synth/load-series.js';
import { mulberry32 } from '../src/random.js';
import { openTrace, writeTrace } from '../src/trace.js';

/**
 * Speed targets of `balance`'s serving what-ifs (issue 14), at DeepSeek-V3's shape: 61 layers (58 MoE) x 256
 * experts, 288 slots on 32 GPUs in 4 nodes, 8 groups. The load is drawn from the real counts in
 * test/fixtures/serving (4,096 expert choices per layer and step, seeded), the trace routes each token to 8
 * distinct experts drawn from the same shares. Only the what-if itself is timed, not making its input.
 */
export interface ServingBenchRow {
  name: string;
  /** Wall-clock seconds. */
  seconds: number;
  /** CPU seconds of this process (user + system): what the wall time would be on an idle core. */
  cpuSeconds: number;
  targetSeconds: number;
}

const cluster = { replicas: 288, groups: 8, nodes: 4, gpus: 32 };
const realLoad = () => readLoadMatrix(path.join(process.cwd(), 'test/fixtures/serving/deepseek-v3-decode_in1000out1000.logical_count.json'));

function timed(run: () => unknown): { seconds: number; cpuSeconds: number } {
  const start = performance.now();
  const cpu = process.cpuUsage();
  run();
  const used = process.cpuUsage(cpu);
  return { seconds: (performance.now() - start) / 1000, cpuSeconds: (used.user + used.system) / 1e6 };
}

export function servingBench(log: (line: string) => void): ServingBenchRow[] {
  const load = realLoad();
  log('serving: drawing 1,000 steps x 61 layers x 256 experts from the real DeepSeek-V3 counts ...');
  const series = seriesFromSteps(drawLoadSeries(load.counts, { steps: 1000, draws: 4096, seed: 0 }), 'bench series', []);
  const rows: ServingBenchRow[] = [];
  rows.push({ name: 'static + periodic (W = I = 10), 1,000 steps', ...timed(() => simulatePeriodic(series, cluster, { window: 10, interval: 10 })), targetSeconds: 10 });
  rows.push({ name: 'oracle, 1,000 steps', ...timed(() => simulateOracle(series, cluster)), targetSeconds: 30 });
  rows.push({
    name: 'sweep 4 EP sizes x 5 redundancies',
    ...timed(() => sweepPlacements(load, { gpus: [8, 16, 32, 64], redundant: [0, 64, 128, 192, 256], gpusPerNode: 8, groups: 8 })),
    targetSeconds: 10,
  });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moe-inspect-serving-bench-'));
  try {
    const file = path.join(dir, 'bench.trace.safetensors');
    log('serving: writing a 100,000-token trace (58 MoE layers, top-8 of 256) ...');
    writeBenchTrace(file, load.counts, load.moeLayers, 100_000);
    const trace = openTrace(file);
    try {
      // The load pass (which the plans need) is timed too.
      const run = () => dispatchTraffic(trace, cluster, { tokenSource: 'token', bandwidth: defaultBandwidth });
      rows.push({ name: 'traffic, 100,000-token trace, both policies', ...timed(run), targetSeconds: 10 });
    } finally {
      trace.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

export function formatServingTable(rows: ServingBenchRow[]): string {
  const table = new Table({ head: ['what-if', 'wall s', 'CPU s', 'target s'], style: { head: [], border: [] } });
  for (const r of rows) table.push([r.name, r.seconds.toFixed(2), r.cpuSeconds.toFixed(2), r.targetSeconds]);
  return table.toString();
}

/** Each token picks 8 distinct experts per MoE layer, drawn from that layer's real shares. */
function writeBenchTrace(file: string, counts: number[][], moeLayers: number[], tokens: number): void {
  const k = 8;
  const experts = counts[0].length;
  const random = mulberry32(1);
  const tables = moeLayers.map((layer) => aliasTable(counts[layer]));
  function* chunks(): Generator<Int32Array> {
    const chunkTokens = 10_000;
    for (let start = 0; start < tokens; start += chunkTokens) {
      const n = Math.min(chunkTokens, tokens - start);
      const ids = new Int32Array(n * moeLayers.length * k);
      let offset = 0;
      for (let t = 0; t < n; t++) {
        for (const table of tables) {
          const chosen = new Set<number>();
          while (chosen.size < k) chosen.add(table.draw(random));
          for (const e of chosen) ids[offset++] = e;
        }
      }
      yield ids;
    }
  }
  const config = { model_type: 'deepseek_v3', num_hidden_layers: counts.length, hidden_size: 7168, n_routed_experts: experts, num_experts_per_tok: k, n_group: 8, topk_group: 4 };
  writeTrace(file, {
    metadata: { model_type: 'deepseek_v3', n_routed_experts: experts, num_experts_per_tok: k, model_config: JSON.stringify(config), model_dir: 'bench', labels: [], source: 'route' },
    layers: moeLayers,
    tokenIds: new Int32Array(tokens),
    promptOffsets: Array.from({ length: tokens / 1000 + 1 }, (_, p) => p * 1000),
    topkIds: chunks(),
  });
}
