import type { PlacementPlan } from './balance.js';
import { fileError } from '../errors.js';
import { movedReplicasPerGpu, relabelToMoveLeast } from './migration.js';
import { planExperts } from './plan-file.js';

/**
 * What moving a deployment from an old plan to a new one costs (analyses.md, migration cost): replicas and
 * bytes each GPU must load, as the new plan is numbered and after relabelling its GPUs (and nodes) to move
 * the fewest. The two plans must be for the same experts, GPUs, nodes and layers.
 */
export interface PlanDiff {
  moved_replicas_per_gpu: number[];
  moved_bytes_per_gpu: number[] | null;
  relabelled: {
    /** GPU g of the old deployment takes the experts of the new plan's GPU gpu_map[g]. */
    gpu_map: number[];
    moved_replicas_per_gpu: number[];
    moved_bytes_per_gpu: number[] | null;
  };
}

export function diffPlans(oldPlan: PlacementPlan, newPlan: PlacementPlan, oldFile: string, expertBytes?: number): PlanDiff {
  const mismatch = (what: string, old: unknown, now: unknown) => fileError(oldFile, 'plan-mismatch', `the old plan is for ${old} ${what}, the new one for ${now}`);
  if (planExperts(oldPlan) !== planExperts(newPlan)) throw mismatch('experts', planExperts(oldPlan), planExperts(newPlan));
  if (oldPlan.gpus !== newPlan.gpus) throw mismatch('GPUs', oldPlan.gpus, newPlan.gpus);
  if (oldPlan.nodes !== newPlan.nodes) throw mismatch('nodes', oldPlan.nodes, newPlan.nodes);
  if (oldPlan.layers.join() !== newPlan.layers.join()) throw mismatch('layers', `[${oldPlan.layers.join(', ')}]`, `[${newPlan.layers.join(', ')}]`);

  const bytes = (counts: number[]) => (expertBytes === undefined ? null : counts.map((n) => n * expertBytes));
  const plain = movedReplicasPerGpu(oldPlan.phy2log, newPlan.phy2log, newPlan.gpus);
  const gpuMap = relabelToMoveLeast(oldPlan.phy2log, newPlan.phy2log, newPlan.gpus, newPlan.nodes);
  const relabelled = movedReplicasPerGpu(oldPlan.phy2log, newPlan.phy2log, newPlan.gpus, gpuMap);
  return {
    moved_replicas_per_gpu: plain,
    moved_bytes_per_gpu: bytes(plain),
    relabelled: { gpu_map: gpuMap, moved_replicas_per_gpu: relabelled, moved_bytes_per_gpu: bytes(relabelled) },
  };
}
