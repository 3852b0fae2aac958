import { InputError } from '../errors.js';

/**
 * DeepSeek's Expert Parallelism Load Balancer (github.com/deepseek-ai/EPLB, eplb.py, MIT), written anew in
 * TypeScript. Given per-layer expert loads it decides how many replicas each expert gets and which GPU holds
 * each replica, so that the busiest GPU carries as little as possible.
 *
 * Where the plan could depend on details, this follows eplb.py:
 * - loads are converted to float32 first (`weight.float()`), and every division and running sum is rounded
 *   to float32 as torch does, so near-ties resolve the same way; only a group's total may differ in the
 *   last bit, because torch sums a row in vectorised order (integer counts below 2^24 are exact either way);
 * - "most loaded" picks the first maximum (torch `max(dim).indices`), "lightest pack" the first minimum
 *   (Python `min`);
 * - items are sorted by load descending with ties in index order (a stable sort). torch's default sort
 *   makes no such promise, so plans can differ from EPLB's only in how experts of exactly equal load are
 *   placed.
 */
export interface EplbPlan {
  /** hierarchical when groups % nodes == 0 (groups packed to nodes first), else global. */
  policy: 'hierarchical' | 'global';
  /** [layers][replicas]: logical expert held by each physical slot; GPU g holds slots g*R/D .. (g+1)*R/D-1. */
  phy2log: number[][];
  /** [layers][experts][max replicas]: physical slots of each logical expert by replica rank, -1 padded. */
  log2phy: number[][][];
  /** [layers][experts]: number of replicas of each logical expert. */
  logcnt: number[][];
}

/** The sizes of a placement problem, as `balance` takes them on the command line. */
export interface PlacementShape {
  experts: number;
  replicas: number;
  groups: number;
  nodes: number;
  gpus: number;
}

const f32 = Math.fround;

/** EPLB's entry point: one plan per row of `weight` ([layers][experts], non-negative loads). */
export function rebalanceExperts(weight: number[][], numReplicas: number, numGroups: number, numNodes: number, numGpus: number): EplbPlan {
  const { policy, layers } = rebalanceLayers(weight, numReplicas, numGroups, numNodes, numGpus);
  const experts = weight[0].length;
  const maxCount = Math.max(...layers.map((layer) => Math.max(...layer.logcnt)));
  const log2phy = layers.map(({ phy2log, phyRank }) => {
    const slots = Array.from({ length: experts }, () => new Array<number>(maxCount).fill(-1));
    phy2log.forEach((expert, slot) => (slots[expert][phyRank[slot]] = slot));
    return slots;
  });
  return { policy, phy2log: layers.map((l) => l.phy2log), log2phy, logcnt: layers.map((l) => l.logcnt) };
}

/** EPLB's phy2log alone (the same plan), for callers that plan many times and need only where experts sit. */
export function placeExperts(weight: number[][], numReplicas: number, numGroups: number, numNodes: number, numGpus: number): number[][] {
  return rebalanceLayers(weight, numReplicas, numGroups, numNodes, numGpus).layers.map((layer) => layer.phy2log);
}

function rebalanceLayers(weight: number[][], numReplicas: number, numGroups: number, numNodes: number, numGpus: number): { policy: 'hierarchical' | 'global'; layers: LayerPlan[] } {
  if (weight.length === 0) throw new InputError('load matrix has no layers to place', 'eplb-empty');
  const experts = weight[0].length;
  const policy = checkPlacementShape({ experts, replicas: numReplicas, groups: numGroups, nodes: numNodes, gpus: numGpus });
  // The global policy is the hierarchical one with a single group on a single node.
  const [groups, nodes] = policy === 'hierarchical' ? [numGroups, numNodes] : [1, 1];
  const layers = weight.map((row) => {
    if (row.length !== experts) throw new InputError(`load rows differ in length: ${experts} and ${row.length} experts`, 'eplb-ragged');
    return rebalanceLayer(row.map(f32), numReplicas, groups, nodes, numGpus);
  });
  return { policy, layers };
}

/**
 * Checks the sizes EPLB asserts, as input errors, and says which policy applies. Stricter than eplb.py in
 * two places: experts must split into the groups, and GPUs into the nodes, even under the global policy,
 * because those sizes also describe the model and the cluster to the rest of the tool.
 * The experts come from an input (a load file, a trace), the other sizes from the options: `aboutExperts`
 * turns the error of a misfit with the experts into one that names that input.
 */
export function checkPlacementShape(
  { experts, replicas, groups, nodes, gpus }: PlacementShape,
  aboutExperts: (error: InputError) => Error = (error) => error,
): 'hierarchical' | 'global' {
  try {
    checkExpertsFit({ experts, replicas, groups });
  } catch (error) {
    throw error instanceof InputError ? aboutExperts(error) : error;
  }
  checkClusterShape({ replicas, nodes, gpus });
  if (groups % nodes !== 0) return 'global';
  // Each node then holds whole groups and R/N slots; R % D == 0 and D % N == 0 make R/N whole.
  return 'hierarchical';
}

/** The checks that involve the model's experts: enough slots for them, and groups that split them evenly. */
function checkExpertsFit({ experts, replicas, groups }: Pick<PlacementShape, 'experts' | 'replicas' | 'groups'>): void {
  requirePositive({ experts, replicas, groups });
  requireShape(replicas >= experts, `replicas ${replicas} must be at least the number of experts ${experts}`);
  requireShape(experts % groups === 0, `experts ${experts} must be a multiple of groups ${groups}`);
}

/** The checks that involve the cluster alone, not the model's experts: slots, GPUs and nodes. */
function checkClusterShape({ replicas, nodes, gpus }: Pick<PlacementShape, 'replicas' | 'nodes' | 'gpus'>): void {
  requirePositive({ replicas, nodes, gpus });
  requireShape(replicas % gpus === 0, `replicas ${replicas} must be a multiple of gpus ${gpus} (each GPU holds the same number of slots)`);
  requireShape(gpus % nodes === 0, `gpus ${gpus} must be a multiple of nodes ${nodes}`);
}

function requirePositive(values: Record<string, number>): void {
  for (const [name, value] of Object.entries(values)) requireShape(Number.isSafeInteger(value) && value >= 1, `${name} must be a positive integer, found ${value}`);
}

function requireShape(ok: boolean, problem: string): void {
  if (!ok) throw new InputError(problem, 'eplb-shape');
}

interface LayerPlan {
  phy2log: number[];
  /** Replica rank of each slot's copy of its expert (0 for the first copy). */
  phyRank: number[];
  logcnt: number[];
}

/**
 * eplb.py `rebalance_experts_hierarchical` for one layer: (1) pack expert groups to nodes, (2) replicate
 * experts within each node, (3) pack each node's replicas to its GPUs. Node-local ("mlog") expert ids
 * number the experts in node order, so node n owns mlog ids n*E/N .. (n+1)*E/N-1.
 */
function rebalanceLayer(weight: number[], replicas: number, groups: number, nodes: number, gpus: number): LayerPlan {
  const experts = weight.length;
  const groupSize = experts / groups;
  const groupsPerNode = groups / nodes;
  const expertsPerNode = experts / nodes;
  const slotsPerNode = replicas / nodes;
  const gpusPerNode = gpus / nodes;
  const slotsPerGpu = replicas / gpus;

  // Step 1: groups to nodes. A group's experts stay together and keep their order.
  const groupLoad = Array.from({ length: groups }, (_, g) => sumF32(weight.slice(g * groupSize, (g + 1) * groupSize)));
  const groupPacking = balancedPacking(groupLoad, nodes);
  const log2mlog = weight.map((_, expert) => {
    const group = Math.floor(expert / groupSize);
    const position = groupPacking.pack[group] * groupsPerNode + groupPacking.rank[group];
    return position * groupSize + (expert % groupSize);
  });
  const mlog2log = inversePermutation(log2mlog);

  const phy2log = new Array<number>(replicas);
  const phyRank = new Array<number>(replicas);
  const mlogCount = new Array<number>(experts);
  for (let node = 0; node < nodes; node++) {
    // Step 2: replicas within the node.
    const nodeExperts = mlog2log.slice(node * expertsPerNode, (node + 1) * expertsPerNode);
    const nodeLoad = nodeExperts.map((expert) => weight[expert]);
    const replication = replicateExperts(nodeLoad, slotsPerNode);
    replication.logcnt.forEach((count, local) => (mlogCount[node * expertsPerNode + local] = count));

    // Step 3: the node's replicas to its GPUs; a replica carries its expert's load split evenly.
    const replicaLoad = replication.phy2log.map((local) => f32(nodeLoad[local] / replication.logcnt[local]));
    const gpuPacking = balancedPacking(replicaLoad, gpusPerNode);
    replication.phy2log.forEach((local, replica) => {
      const slot = node * slotsPerNode + gpuPacking.pack[replica] * slotsPerGpu + gpuPacking.rank[replica];
      phy2log[slot] = nodeExperts[local];
      phyRank[slot] = replication.rank[replica];
    });
  }
  const logcnt = log2mlog.map((mlog) => mlogCount[mlog]);
  return { phy2log, phyRank, logcnt };
}

/**
 * eplb.py `balanced_packing`: splits n weighted items into `packs` packs of exactly n/packs items each.
 * Items go heaviest first, each into the lightest pack that still has room (the first such on a tie).
 * Returns each item's pack and its position within the pack.
 */
export function balancedPacking(weights: number[], packs: number): { pack: number[]; rank: number[] } {
  const perPack = weights.length / packs;
  if (!Number.isInteger(perPack)) throw new RangeError(`balancedPacking: ${weights.length} items do not split into ${packs} packs`);
  if (perPack === 1) return { pack: weights.map((_, i) => i), rank: weights.map(() => 0) };

  const pack = new Array<number>(weights.length);
  const rank = new Array<number>(weights.length);
  const packLoad = new Array<number>(packs).fill(0);
  const packSize = new Array<number>(packs).fill(0);
  for (const item of sortDescending(weights)) {
    let lightest = -1;
    for (let p = 0; p < packs; p++) {
      if (packSize[p] < perPack && (lightest < 0 || packLoad[p] < packLoad[lightest])) lightest = p;
    }
    pack[item] = lightest;
    rank[item] = packSize[lightest];
    packLoad[lightest] = f32(packLoad[lightest] + weights[item]);
    packSize[lightest] += 1;
  }
  return { pack, rank };
}

/**
 * eplb.py `replicate_experts`: slots 0..E-1 hold one copy of each expert; every further slot goes to the
 * expert whose load per replica is highest at that moment (the first such on a tie).
 * Returns, per slot, the expert and which copy it is, and per expert its number of copies.
 */
export function replicateExperts(weights: number[], slots: number): { phy2log: number[]; rank: number[]; logcnt: number[] } {
  const experts = weights.length;
  if (slots < experts) throw new RangeError(`replicateExperts: ${slots} slots cannot hold ${experts} experts`);
  const phy2log = Array.from({ length: experts }, (_, i) => i);
  const rank = new Array<number>(experts).fill(0);
  const logcnt = new Array<number>(experts).fill(1);
  for (let slot = experts; slot < slots; slot++) {
    let busiest = 0;
    let busiestLoad = f32(weights[0] / logcnt[0]);
    for (let i = 1; i < experts; i++) {
      const perReplica = f32(weights[i] / logcnt[i]);
      if (perReplica > busiestLoad) [busiest, busiestLoad] = [i, perReplica];
    }
    phy2log.push(busiest);
    rank.push(logcnt[busiest]);
    logcnt[busiest] += 1;
  }
  return { phy2log, rank, logcnt };
}

/** Indices of `values` by value descending; equal values keep index order. */
function sortDescending(values: number[]): number[] {
  const n = values.length;
  // Every sort EPLB makes is of non-negative float32 loads. Such a value's bits order like the value, so
  // bits x 2^k + (n - 1 - index) is one exact float64 key per item, and a native numeric sort of the keys
  // gives the order of the comparator below (the fallback for other input), several times faster.
  const shift = 2 ** Math.ceil(Math.log2(n + 1));
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const value = values[i];
    if (!(value >= 0) || f32(value) !== value || shift > 2 ** 21) return values.map((_, j) => j).sort((a, b) => values[b] - values[a] || a - b);
    float32Scratch[0] = value;
    // The mask turns -0 into +0, which the comparator treats as equal.
    keys[i] = (float32Bits[0] & 0x7fffffff) * shift + (n - 1 - i);
  }
  keys.sort();
  const order = new Array<number>(n);
  for (let j = 0; j < n; j++) order[j] = n - 1 - (keys[n - 1 - j] % shift);
  return order;
}

const float32Scratch = new Float32Array(1);
const float32Bits = new Uint32Array(float32Scratch.buffer);

function inversePermutation(permutation: number[]): number[] {
  const inverse = new Array<number>(permutation.length);
  permutation.forEach((target, source) => (inverse[target] = source));
  return inverse;
}

function sumF32(values: number[]): number {
  return values.reduce((sum, value) => f32(sum + value), 0);
}
