import { Command } from 'commander';
import Table from 'cli-table3';
import { gpuBalancedness, trivialPlacement } from '../analysis/balancedness.js';
import { checkPlacementShape, rebalanceExperts } from '../analysis/eplb.js';
import { fileError, InputError } from '../errors.js';
import { writeFileAtomically } from '../files.js';
import { readLoadMatrix, type LoadMatrix } from '../loaders/load-matrix.js';
import { positiveInteger } from './parse.js';
import { plural } from '../plural.js';

/** The cluster `balance` places experts on (contract.md, `balance`). */
export interface ClusterShape {
  /** R: physical expert slots in all, EPLB's num_replicas (R - E are redundant). */
  replicas: number;
  /** G: expert groups (DeepSeek-V3: n_group = 8). */
  groups: number;
  /** N: server nodes. */
  nodes: number;
  /** D: GPUs in all. */
  gpus: number;
}

/** PLAN.json, key for key as contract.md gives it. */
export interface PlacementPlan {
  policy: 'hierarchical' | 'global';
  replicas: number;
  groups: number;
  nodes: number;
  gpus: number;
  layers: number[];
  phy2log: number[][];
  log2phy: number[][][];
  logcnt: number[][];
  balancedness_before: number[];
  balancedness_after: number[];
  eval?: { load: string; balancedness: number[] };
}

export interface BalanceResult {
  plan: PlacementPlan;
  /** Model layers left out because they carry no load (dense layers). */
  skippedLayers: number[];
}

/**
 * EPLB over the loaded layers of `load`. "Before" is the placement the engines use without EPLB for the same
 * slots (slot s holds expert s mod E; with R = E the contiguous split). With `evalLoad`, the plan made from
 * `load` is also measured on that other traffic.
 */
export function planPlacement(load: LoadMatrix, cluster: ClusterShape, evalLoad?: LoadMatrix): BalanceResult {
  const { replicas, groups, nodes, gpus } = cluster;
  const layers = load.moeLayers;
  const weights = layers.map((layer) => load.counts[layer]);
  const experts = weights[0].length;
  try {
    checkPlacementShape({ experts, ...cluster });
  } catch (error) {
    // The expert count comes from the file, so say which file.
    if (error instanceof InputError) throw fileError(load.file, error.code, error.message);
    throw error;
  }
  const eplb = rebalanceExperts(weights, replicas, groups, nodes, gpus);

  const before = trivialPlacement(experts, replicas, gpus);
  const plan: PlacementPlan = {
    policy: eplb.policy,
    replicas,
    groups,
    nodes,
    gpus,
    layers,
    phy2log: eplb.phy2log,
    log2phy: eplb.log2phy,
    logcnt: eplb.logcnt,
    balancedness_before: weights.map((row) => gpuBalancedness(row, before)),
    balancedness_after: weights.map((row, i) => gpuBalancedness(row, { phy2log: eplb.phy2log[i], gpus })),
  };
  if (evalLoad) {
    const balancedness = layers.map((layer, i) => gpuBalancedness(evalRow(evalLoad, layer, experts), { phy2log: eplb.phy2log[i], gpus }));
    plan.eval = { load: evalLoad.file, balancedness };
  }
  const skippedLayers = load.counts.flatMap((_, layer) => (layers.includes(layer) ? [] : [layer]));
  return { plan, skippedLayers };
}

function evalRow(evalLoad: LoadMatrix, layer: number, experts: number): number[] {
  const row = evalLoad.counts[layer];
  if (!row) throw fileError(evalLoad.file, 'eval-layer', `has ${evalLoad.counts.length} layers, the plan needs layer ${layer}`);
  if (row.length !== experts) throw fileError(evalLoad.file, 'eval-experts', `has ${row.length} experts per layer, the plan was made for ${experts}`);
  if (!row.some((count) => count > 0)) throw fileError(evalLoad.file, 'eval-no-load', `layer ${layer} has no load to measure the plan on`);
  return row;
}

/** PLAN.json text: one line per layer in the per-layer lists, so the file reads (and diffs) by layer. */
export function formatPlan(plan: PlacementPlan): string {
  const entries = Object.entries(plan).map(([key, value]) => {
    const perLayer = Array.isArray(value) && value.length > 0 && Array.isArray(value[0]);
    const text = perLayer ? `[\n    ${value.map((row: unknown) => JSON.stringify(row)).join(',\n    ')}\n  ]` : JSON.stringify(value);
    return `  ${JSON.stringify(key)}: ${text}`;
  });
  return `{\n${entries.join(',\n')}\n}\n`;
}

/** Per layer: balancedness before, after, and on the evaluation load when there is one. */
export function planTable(plan: PlacementPlan): string {
  const head = ['layer', 'before', 'after', ...(plan.eval ? ['eval'] : [])];
  const table = new Table({ head, style: { head: [], border: [] } });
  const fixed = (x: number) => x.toFixed(4);
  plan.layers.forEach((layer, i) => {
    table.push([layer, fixed(plan.balancedness_before[i]), fixed(plan.balancedness_after[i]), ...(plan.eval ? [fixed(plan.eval.balancedness[i])] : [])]);
  });
  return table.toString();
}

export interface BalanceOptions extends ClusterShape {
  out: string;
  eval?: string;
}

/** Reads LOAD (and the evaluation load), plans, and writes PLAN.json atomically. */
export function runBalance(loadFile: string, options: BalanceOptions): BalanceResult {
  const load = readLoadMatrix(loadFile);
  const evalLoad = options.eval === undefined ? undefined : readLoadMatrix(options.eval);
  const result = planPlacement(load, options, evalLoad);
  writeFileAtomically(options.out, formatPlan(result.plan));
  return result;
}

export function balanceCommand(): Command {
  return new Command('balance')
    .summary('place experts on GPUs for expert-parallel serving (DeepSeek EPLB)')
    .description(
      "Plans which experts each GPU holds, with DeepSeek's Expert Parallelism Load Balancer (EPLB): experts with " +
        'more load get redundant replicas, and replicas are packed so that the busiest GPU carries as little as possible. ' +
        'The hierarchical policy (groups a multiple of nodes) first packs expert groups to nodes, so a token stays ' +
        'within few nodes; otherwise the global policy packs over all GPUs.\n\n' +
        'Balancedness = mean GPU load / max GPU load (1 is perfect). "before" is the engines\' default placement for ' +
        'the same slots (slot s holds expert s mod E). Layers with no load (dense layers) are left out.\n\n' +
        'LOAD is a trace (.safetensors), or per-layer expert counts with row i = model layer i: JSON ' +
        '{"logical_count": [[...]...]} as SGLang records it, JSON [[...]...], CSV, or .npy (3-D [steps, layers, ' +
        'experts] is summed over steps).',
    )
    .argument('<LOAD>', 'expert load: trace or count matrix (see above)')
    .requiredOption('--gpus <D>', 'number of GPUs', positiveInteger('--gpus'))
    .requiredOption('--replicas <R>', 'physical expert slots in all, at least the number of experts and a multiple of --gpus', positiveInteger('--replicas'))
    .option('--nodes <N>', 'number of nodes (--gpus must be a multiple)', positiveInteger('--nodes'), 1)
    .option('--groups <G>', "expert groups (the model's n_group; experts must split evenly)", positiveInteger('--groups'), 1)
    .requiredOption('--out <PLAN.json>', 'where to write the plan')
    .option('--eval <LOAD2>', 'also measure the plan on this other load (plan on yesterday, measure on today)')
    .addHelpText(
      'after',
      '\nExample (DeepSeek-V3 decode: 256 experts, 32 redundant, 8 groups, 4 nodes of 8 GPUs):\n' +
        '  moe-inspect balance load.json --replicas 288 --groups 8 --nodes 4 --gpus 32 --out plan.json --eval today.json',
    )
    .action((loadFile: string, flags: BalanceOptions) => {
      const { plan, skippedLayers } = runBalance(loadFile, flags);
      if (skippedLayers.length > 0) {
        process.stderr.write(`${loadFile}: left out ${plural(skippedLayers.length, 'layer')} with no load (dense): ${skippedLayers.join(', ')}\n`);
      }
      process.stdout.write(`${planTable(plan)}\n`);
      const mean = (values: number[]) => (values.reduce((a, b) => a + b, 0) / values.length).toFixed(4);
      const evalText = plan.eval ? `, on ${plan.eval.load} ${mean(plan.eval.balancedness)}` : '';
      process.stdout.write(
        `${plan.policy} plan for ${plural(plan.layers.length, 'layer')}, mean balancedness ${mean(plan.balancedness_before)} -> ${mean(plan.balancedness_after)}${evalText}; wrote ${flags.out}\n`,
      );
    });
}
