import type { PlacementPlan } from './balance.js';
import { fileError } from '../errors.js';
import { readInputFile } from '../files.js';

/**
 * Reads a PLAN.json that `balance --out` wrote (contract.md, "Placement plan"), checking what the diff and
 * the report rely on: the sizes, one phy2log row of R slots per layer, expert ids in range.
 */
export function readPlanFile(file: string): PlacementPlan {
  const text = readInputFile(file, 'plan-unreadable').toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw fileError(file, 'plan-unreadable', `not JSON (${(error as Error).message})`, error);
  }
  const problem = (text: string) => fileError(file, 'plan-shape', text);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw problem('a plan is a JSON object as `balance --out` writes it');
  const plan = value as PlacementPlan;
  for (const key of ['replicas', 'groups', 'nodes', 'gpus'] as const) {
    if (!Number.isSafeInteger(plan[key]) || plan[key] < 1) throw problem(`"${key}" must be a positive integer, found ${JSON.stringify(plan[key])}`);
  }
  for (const key of ['layers', 'phy2log', 'logcnt'] as const) {
    if (!Array.isArray(plan[key]) || plan[key].length === 0) throw problem(`"${key}" must be a non-empty list`);
  }
  if (plan.phy2log.length !== plan.layers.length || plan.logcnt.length !== plan.layers.length) {
    throw problem(`"layers" has ${plan.layers.length} entries, "phy2log" ${plan.phy2log.length} and "logcnt" ${plan.logcnt.length}`);
  }
  if (plan.replicas % plan.gpus !== 0 || plan.gpus % plan.nodes !== 0) throw problem(`replicas ${plan.replicas}, gpus ${plan.gpus} and nodes ${plan.nodes} do not split evenly`);
  const experts = Array.isArray(plan.logcnt[0]) ? plan.logcnt[0].length : 0;
  plan.phy2log.forEach((row, i) => {
    if (!Array.isArray(row) || row.length !== plan.replicas) throw problem(`phy2log row ${i} must hold ${plan.replicas} slots`);
    const bad = row.find((expert) => !Number.isInteger(expert) || expert < 0 || expert >= experts);
    if (bad !== undefined) throw problem(`phy2log row ${i} names expert ${JSON.stringify(bad)}, expected 0..${experts - 1}`);
  });
  return plan;
}

/** E of a plan: the length of its logcnt rows. */
export function planExperts(plan: PlacementPlan): number {
  return plan.logcnt[0].length;
}

/** A plan can be measured on a load only when both count the same experts and the load covers its layers. */
export function checkPlanFitsLoad(plan: PlacementPlan, planFile: string, experts: number, loadRows: number): void {
  if (planExperts(plan) !== experts) throw fileError(planFile, 'plan-experts', `the plan places ${planExperts(plan)} experts, the load has ${experts}`);
  const beyond = plan.layers.find((layer) => layer >= loadRows);
  if (beyond !== undefined) throw fileError(planFile, 'plan-layers', `the plan has layer ${beyond}, the load only ${loadRows} layers`);
}
