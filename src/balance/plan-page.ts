import { contiguousPlacement, gpuLoads, trivialPlacement, type Placement } from '../analysis/balancedness.js';
import { readLoadMatrix, type LoadMatrix } from '../loaders/load-matrix.js';
import { heatmap, rendererFor } from '../page/charts.js';
import type { ReportPage, ReportSection } from '../page/html.js';
import type { PlacementPlan } from './balance.js';
import { groupedBarChart, seriesLineChart } from './plan-charts.js';
import type { PlanDiff } from './plan-diff.js';
import { checkPlanFitsLoad, readPlanFile } from './plan-file.js';
import type { Simulation } from './simulate.js';
import { kneeShare, type Sweep } from './sweep.js';
import type { TrafficReport } from './traffic.js';

/**
 * The plan page (`balance --html`) and the plan sections of `report --plan`: how a placement plan balances
 * the GPUs against the contiguous placement, what it costs in memory, and the what-ifs `balance` computed
 * with it (simulation over time, sweep, traffic, move from an older plan).
 */
/** PLAN.json with the keys `balance`'s what-if options add (contract.md). */
export type PlanWithWhatIfs = PlacementPlan & { simulate?: Simulation; traffic?: TrafficReport; diff?: PlanDiff };

export interface PlanPageInput {
  loadName: string;
  load: LoadMatrix;
  plan?: PlanWithWhatIfs;
  sweep?: Sweep;
  expertBytes?: number;
  notes: string[];
}

export function planPage(input: PlanPageInput): ReportPage {
  const { loadName, load, plan, sweep, expertBytes, notes } = input;
  const sections = plan ? planSections(plan, load, loadName, expertBytes) : sweep ? [sweepSection(sweep, expertBytes)] : [];
  const facts: Array<[string, string]> = [['load', `${loadName}: ${load.moeLayers.length} MoE layers, ${load.counts[0].length} experts`]];
  if (plan) facts.push(['plan', `${plan.policy} policy, ${plan.replicas} slots on ${plan.gpus} GPUs in ${plan.nodes} node(s), ${plan.groups} group(s)`]);
  if (expertBytes !== undefined) facts.push(['one expert', `${expertBytes.toLocaleString('en-US')} bytes`]);
  return { title: 'Expert placement for serving', subtitle: `${loadName}: what a placement plan does for expert-parallel serving`, facts, notes, sections };
}

/** `report --plan`: the plan sections measured on the report's first input. */
export function planReportSections(planFile: string, inputFile: string, inputName: string, expertBytes?: number): ReportSection[] {
  const plan: PlanWithWhatIfs = readPlanFile(planFile);
  const load = readLoadMatrix(inputFile);
  checkPlanFitsLoad(plan, planFile, load.counts[0].length, load.counts.length);
  return planSections(plan, load, inputName, expertBytes);
}

/** The contiguous placement of analyses.md (E/D per GPU) where D divides E, else the engines' trivial map over R slots. */
function beforePlacement(plan: PlacementPlan, experts: number): { placement: Placement; name: string } {
  if (experts % plan.gpus === 0) return { placement: contiguousPlacement(experts, plan.gpus), name: 'contiguous' };
  return { placement: trivialPlacement(experts, plan.replicas, plan.gpus), name: 'trivial (slot s holds expert s mod E)' };
}

export function planSections(plan: PlanWithWhatIfs, load: LoadMatrix, loadName: string, expertBytes?: number): ReportSection[] {
  const experts = load.counts[0].length;
  const before = beforePlacement(plan, experts);
  const measured = plan.layers.flatMap((layer, i) => {
    const row = load.counts[layer];
    if (!row || !row.some((count) => count > 0)) return [];
    const after: Placement = { phy2log: plan.phy2log[i], gpus: plan.gpus };
    return [{ layer, beforeLoads: gpuLoads(row, before.placement), afterLoads: gpuLoads(row, after) }];
  });
  const balance = (loads: number[]) => loads.reduce((a, b) => a + b, 0) / loads.length / Math.max(...loads);
  const sections: ReportSection[] = [];
  if (measured.length > 0) {
    const points = measured.flatMap(({ layer, beforeLoads, afterLoads }) => [
      { series: `before (${before.name})`, x: layer, y: balance(beforeLoads) },
      { series: 'after (plan)', x: layer, y: balance(afterLoads) },
    ]);
    sections.push({
      title: 'Plan: GPU balancedness per layer, before and after',
      explanation: `Balancedness = mean GPU load / max GPU load on ${loadName} (1 is perfect), per MoE layer: with the experts placed ${before.name === 'contiguous' ? `contiguously (${experts / plan.gpus} per GPU)` : before.name} and with the plan (${plan.replicas - experts} redundant experts).`,
      spec: seriesLineChart(points, { title: 'balancedness per layer', xTitle: 'layer', yTitle: 'balancedness', seriesTitle: 'placement', yDomain: [0, 1] }),
    });
    const busiest = measured.reduce((a, b) => (Math.max(...b.beforeLoads) > Math.max(...a.beforeLoads) ? b : a));
    sections.push({
      title: `Plan: per-GPU load of the busiest layer (${busiest.layer})`,
      explanation: `Tokens each GPU processes in layer ${busiest.layer}, the layer whose busiest GPU carries the most before the plan. A replica of an expert with c replicas carries 1/c of its tokens.`,
      spec: groupedBarChart(
        busiest.beforeLoads.flatMap((value, gpu) => [
          { series: 'before', x: gpu, y: value },
          { series: 'after', x: gpu, y: busiest.afterLoads[gpu] },
        ]),
        { title: `GPU load, layer ${busiest.layer}`, xTitle: 'GPU', yTitle: 'tokens', seriesTitle: 'placement' },
      ),
    });
  }
  sections.push(memorySection(plan, experts, expertBytes));
  if (plan.simulate) sections.push(simulateSection(plan.simulate));
  if (plan.traffic) sections.push(...trafficSections(plan.traffic));
  if (plan.diff) sections.push(diffSection(plan.diff));
  return sections;
}

function memorySection(plan: PlacementPlan, experts: number, expertBytes?: number): ReportSection {
  const layers = plan.layers.length;
  const perGpu = plan.replicas / plan.gpus;
  const rows: Array<Array<string | number>> = [
    ['contiguous', experts / plan.gpus, (experts / plan.gpus) * layers, expertBytes === undefined ? '' : gib((experts / plan.gpus) * layers * expertBytes)],
    ['plan', perGpu, perGpu * layers, expertBytes === undefined ? '' : gib(perGpu * layers * expertBytes)],
  ];
  return {
    title: 'Plan: expert memory per GPU',
    explanation: `Every GPU holds R/D = ${perGpu} expert slots per MoE layer under the plan, over the ${layers} layers the plan covers. Bytes = slots x one expert's weight bytes (gate, up and down at the checkpoint's dtype, FP8 scales included).`,
    notes: expertBytes === undefined ? ["one expert's bytes are unknown: give --model DIR or --expert-bytes N to see memory"] : undefined,
    table: { columns: ['placement', 'slots per layer', 'slots in all', 'GiB'], rows },
  };
}

function gib(bytes: number): number {
  return bytes / 1024 ** 3;
}

const aggregationNote =
  'Balancedness of a step is the mean over the MoE layers with load of (mean GPU load / max GPU load). vLLM logs it differently: summed over layers, sum of means / sum of maxima, so busy layers weigh more; and its first rebalance comes earlier, from a partly empty window. SGLang computes the per-layer ratio as (mean + 1e-5) / (max + 1e-5) of its physical counts (compute_utilization_rate in its eplb/expert_distribution.py) and reports an average over a window of forward passes.';

function simulateSection(simulation: Simulation): ReportSection {
  const { policies } = simulation;
  const points = (['static', 'periodic', 'oracle'] as const).flatMap((policy) => policies[policy].balancedness.map((y, x) => ({ series: policy, x, y })));
  const fixed = (x: number | null) => (x === null ? 'n/a' : x.toFixed(4));
  const moves = policies.periodic.moved_replicas.flatMap((replicas, step) => (replicas > 0 ? [[step, replicas, policies.periodic.moved_bytes ? gib(policies.periodic.moved_bytes[step]) : '']] : []));
  return {
    title: 'Over time: static, periodic and oracle rebalancing',
    explanation:
      `Balancedness per step over ${simulation.steps} steps. periodic: EPLB on the last ${simulation.window} steps, every ${simulation.interval} steps, used from the next step; static: only the first of those plans; oracle: each step's own plan (a reference, not a bound: EPLB is greedy). Means: static ${fixed(policies.static.mean)}, periodic ${fixed(policies.periodic.mean)}, oracle ${fixed(policies.oracle.mean)}.\n\n` +
      aggregationNote,
    spec: seriesLineChart(points, { title: 'balancedness over time', xTitle: 'step', yTitle: 'balancedness', seriesTitle: 'policy', yDomain: [0, 1], width: 900 }),
    notes: moves.length > 0 ? ["Replicas moved are counted without relabelling GPUs (EPLB numbers its GPUs afresh each time); --diff OLD_PLAN.json shows how much relabelling saves."] : undefined,
    table: moves.length > 0 ? { columns: ['rebalance after step', 'replicas moved', 'GiB moved'], rows: moves } : undefined,
  };
}

function trafficSections(traffic: TrafficReport): ReportSection[] {
  const { bandwidth } = traffic;
  const layers = [...new Set(traffic.per_layer.map((entry) => entry.layer))];
  const policies = [...new Set(traffic.per_layer.map((entry) => entry.policy))];
  const find = (layer: number, policy: string) => traffic.per_layer.find((entry) => entry.layer === layer && entry.policy === policy)!;
  const rows = layers.map((layer) => [layer, ...policies.flatMap((policy) => {
    const entry = find(layer, policy);
    return [entry.time_s * 1e6, entry.max_bytes_per_gpu / 1e6, entry.mean_bytes_per_gpu / 1e6, `${entry.hottest_pair[0]}->${entry.hottest_pair[1]}`, entry.nodes_per_token.mean];
  })]);
  const columns = ['layer', ...policies.flatMap((policy) => [`${policy} time µs`, 'max MB/GPU', 'mean MB/GPU', 'hottest pair', 'nodes/token'])];
  const hottest = traffic.per_layer.filter((entry) => entry.policy === policies[0]).reduce((a, b) => (b.time_s > a.time_s ? b : a));
  const cells = hottest.matrix.flatMap((row, src) => row.map((value, dst) => ({ trace: 'matrix', row: src, column: dst, value })));
  const histogram = policies.flatMap((policy) => {
    const totals = new Array<number>(find(layers[0], policy).nodes_per_token.histogram.length).fill(0);
    for (const layer of layers) find(layer, policy).nodes_per_token.histogram.forEach((count, n) => (totals[n] += count));
    return totals.map((count, n) => ({ series: policy, x: n, y: count })).filter((point) => point.x > 0);
  });
  return [
    {
      title: 'Traffic: dispatch per layer, hierarchical and global policy',
      explanation: `Each token goes from its source GPU (--token-source ${bandwidth.token_source}) once to every other GPU holding a replica it uses, and comes back in the combine: ${bandwidth.bytes_per_token_dispatch} bytes dispatched and ${bandwidth.bytes_per_token_combine} combined per copy (hidden size ${bandwidth.hidden_size}). A GPU's bytes are what it sends and receives; a layer's time is the largest over GPUs of inter-node bytes / ${bandwidth.rdmaGBps} GB/s + intra-node bytes / ${bandwidth.nvlinkGBps} GB/s. Bandwidths: ${bandwidth.source}.`,
      table: { columns, rows },
    },
    {
      title: `Traffic: GPU x GPU tokens of the slowest layer (${hottest.layer}, ${hottest.policy})`,
      explanation: `Tokens sent from each source GPU (rows) to each destination GPU (columns) in layer ${hottest.layer}; the hottest pair is ${hottest.hottest_pair[0]} -> ${hottest.hottest_pair[1]}.`,
      spec: heatmap(cells, { title: `tokens sent, layer ${hottest.layer}`, rowTitle: 'source GPU', columnTitle: 'destination GPU', valueTitle: 'tokens' }),
      renderer: rendererFor(cells.length),
    },
    {
      title: 'Traffic: nodes per token',
      explanation: 'How many nodes the replicas a token uses sit on (its source node included when a replica is there), over all layers. Fewer nodes mean less inter-node traffic; the hierarchical policy keeps groups on nodes for that.',
      spec: groupedBarChart(histogram, { title: 'tokens by nodes touched (all layers)', xTitle: 'nodes', yTitle: 'token-layers', seriesTitle: 'policy' }),
    },
  ];
}

function diffSection(diff: PlanDiff): ReportSection {
  const points = diff.moved_replicas_per_gpu.flatMap((moved, gpu) => [
    { series: 'as numbered', x: gpu, y: moved },
    { series: 'relabelled', x: gpu, y: diff.relabelled.moved_replicas_per_gpu[gpu] },
  ]);
  const total = (values: number[]) => values.reduce((a, b) => a + b, 0);
  return {
    title: 'Move from the old plan: replicas each GPU loads',
    explanation: `Replicas each GPU must load to go from the old plan to this one (it keeps what it holds), summed over layers: ${total(diff.moved_replicas_per_gpu)} as the plans are numbered, ${total(diff.relabelled.moved_replicas_per_gpu)} after relabelling the new plan's GPUs and nodes to move the fewest (GPU g takes new GPU gpu_map[g]: ${diff.relabelled.gpu_map.join(', ')}).`,
    spec: groupedBarChart(points, { title: 'replicas to load per GPU', xTitle: 'GPU', yTitle: 'replicas', seriesTitle: 'labels' }),
  };
}

function sweepSection(sweep: Sweep, expertBytes?: number): ReportSection {
  const x = (point: Sweep['points'][number]) => (point.expert_bytes_per_gpu === null ? point.redundant : gib(point.expert_bytes_per_gpu));
  const xTitle = expertBytes === undefined ? 'redundant experts (R - E)' : 'expert memory per GPU per layer (GiB)';
  const drops = sweep.drops.map((drop) => `${drop.gpus} GPUs: ${drop.from_redundant} -> ${drop.to_redundant} redundant lowered balancedness ${drop.from.toFixed(6)} -> ${drop.to.toFixed(6)}`);
  return {
    title: 'Sweep: balancedness against redundant experts and EP size',
    explanation: `EPLB's mean balancedness after, per EP size D (one line each) and redundant-expert count. The knee of a D is the smallest redundancy reaching ${kneeShare} of its best: ${Object.entries(sweep.knee).map(([gpus, redundant]) => `${gpus} GPUs: ${redundant}`).join('; ')}.`,
    notes: drops.length > 0 ? ['More redundancy gave lower balancedness here (EPLB is greedy):', ...drops] : undefined,
    spec: seriesLineChart(sweep.points.map((point) => ({ series: `${point.gpus} GPUs`, x: x(point), y: point.balancedness })), { title: 'balancedness after EPLB', xTitle, yTitle: 'balancedness', seriesTitle: 'EP size' }),
    table: {
      columns: ['GPUs', 'redundant', 'balancedness', 'expert GiB per GPU per layer'],
      rows: sweep.points.map((point) => [point.gpus, point.redundant, point.balancedness, point.expert_bytes_per_gpu === null ? '' : gib(point.expert_bytes_per_gpu)]),
    },
  };
}
