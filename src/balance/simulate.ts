import { gpuBalancedness } from '../analysis/balancedness.js';
import { placeExperts, type PlacementShape } from '../analysis/eplb.js';
import { movedReplicasPerGpu } from './migration.js';
import type { LoadSeries } from './time-series.js';

/**
 * Rebalancing over time (analyses.md, "Serving what-ifs"): how balanced the GPUs are step by step when the
 * plan is made once (static), every I steps from the last W steps (periodic, as vLLM's EPLB `window_size`
 * and `step_interval`), or from each step's own load (oracle, a reference point: EPLB is greedy, so not a
 * strict bound). Steps are numbered from 0; a plan made after step s is used from step s+1 on, so plans
 * made after the last step are never made.
 */
export type Cluster = Omit<PlacementShape, 'experts'>;

export interface SimulationOptions {
  window: number;
  interval: number;
  /** One expert's weight bytes; without it moved bytes are null. */
  expertBytes?: number;
}

export interface PolicyTimeline {
  /** One value per step; null where the policy has no plan yet or the step has no load. */
  balancedness: Array<number | null>;
  /** Mean over the steps with a value; null when there are none. */
  mean: number | null;
}

export interface Simulation {
  steps: number;
  window: number;
  interval: number;
  /** The MoE layers (model layer indices) the plans cover. */
  layers: number[];
  policies: {
    static: PolicyTimeline;
    /** moved_*[s]: the rebalance made after step s, 0 where none (the first plan is the start and counts 0). */
    periodic: PolicyTimeline & { moved_replicas: number[]; moved_bytes: number[] | null };
    oracle: PolicyTimeline;
  };
}

/** A plan made after step `madeAfter` from the window ending there: phy2log per MoE layer. */
export interface ScheduledPlan {
  madeAfter: number;
  phy2log: number[][];
}

/** EPLB's phy2log for one load per MoE layer ([layers][experts]). */
export function planForLoad(rows: number[][], cluster: Cluster): number[][] {
  return placeExperts(rows, cluster.replicas, cluster.groups, cluster.nodes, cluster.gpus);
}

/** The periodic policy's plans: after steps W-1, W-1+I, ... while a next step exists to use them. */
export function periodicPlans(series: LoadSeries, cluster: Cluster, window: number, interval: number): ScheduledPlan[] {
  const plans: ScheduledPlan[] = [];
  for (let step = window - 1; step < series.steps.length - 1; step += interval) {
    const summed = series.moeLayers.map((layer) => {
      const row = new Array<number>(series.experts).fill(0);
      for (let s = step - window + 1; s <= step; s++) {
        const counts = series.steps[s][layer];
        for (let expert = 0; expert < row.length; expert++) row[expert] += counts[expert];
      }
      return row;
    });
    plans.push({ madeAfter: step, phy2log: planForLoad(summed, cluster) });
  }
  return plans;
}

/** The oracle's plan for step s: EPLB on that step's own load. */
export function oraclePlan(series: LoadSeries, step: number, cluster: Cluster): number[][] {
  return planForLoad(series.moeLayers.map((layer) => series.steps[step][layer]), cluster);
}

/** Balancedness of one step under a plan: the mean over the MoE layers that have load in that step. */
export function stepBalancedness(series: LoadSeries, step: number, phy2log: number[][], gpus: number): number | null {
  const values = series.moeLayers.flatMap((layer, i) => {
    const load = series.steps[step][layer];
    return load.some((count) => count > 0) ? [gpuBalancedness(load, { phy2log: phy2log[i], gpus })] : [];
  });
  return values.length > 0 ? values.reduce((a, b) => a + b, 0) / values.length : null;
}

export function simulateRebalancing(series: LoadSeries, cluster: Cluster, options: SimulationOptions): Simulation {
  return {
    steps: series.steps.length,
    window: options.window,
    interval: options.interval,
    layers: series.moeLayers,
    policies: { ...simulatePeriodic(series, cluster, options), oracle: simulateOracle(series, cluster) },
  };
}

/** The static and periodic policies, which share their plans (static keeps the first). */
export function simulatePeriodic(series: LoadSeries, cluster: Cluster, options: SimulationOptions): Pick<Simulation['policies'], 'static' | 'periodic'> {
  const { window, interval, expertBytes } = options;
  const stepCount = series.steps.length;
  const plans = periodicPlans(series, cluster, window, interval);
  const staticValues: Array<number | null> = new Array(stepCount).fill(null);
  const periodicValues: Array<number | null> = new Array(stepCount).fill(null);
  const movedReplicas = new Array<number>(stepCount).fill(0);
  plans.forEach((plan, p) => {
    const until = p + 1 < plans.length ? plans[p + 1].madeAfter : stepCount - 1;
    for (let step = plan.madeAfter + 1; step <= until; step++) {
      periodicValues[step] = stepBalancedness(series, step, plan.phy2log, cluster.gpus);
      staticValues[step] = p === 0 ? periodicValues[step] : stepBalancedness(series, step, plans[0].phy2log, cluster.gpus);
    }
    if (p > 0) movedReplicas[plan.madeAfter] = sum(movedReplicasPerGpu(plans[p - 1].phy2log, plan.phy2log, cluster.gpus));
  });
  return {
    static: timeline(staticValues),
    periodic: { ...timeline(periodicValues), moved_replicas: movedReplicas, moved_bytes: expertBytes === undefined ? null : movedReplicas.map((n) => n * expertBytes) },
  };
}

/** The oracle: every step balanced by EPLB on its own load. */
export function simulateOracle(series: LoadSeries, cluster: Cluster): PolicyTimeline {
  return timeline(series.steps.map((_, step) => stepBalancedness(series, step, oraclePlan(series, step, cluster), cluster.gpus)));
}

function timeline(values: Array<number | null>): PolicyTimeline {
  const present = values.filter((value): value is number => value !== null);
  return { balancedness: values, mean: present.length > 0 ? sum(present) / present.length : null };
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
