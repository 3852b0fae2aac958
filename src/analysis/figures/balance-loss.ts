import { deviceBalanceLoss, expertBalanceLoss } from '../balance-loss.js';
import type { Figure } from '../figure.js';
import { noun, plural } from '../../plural.js';

/** Per layer; device-level is undefined where the GPUs do not split the experts evenly. */
export interface BalanceLosses {
  expert: number[];
  device: Array<number | undefined>;
}

/** The DeepSeekMoE balance losses per layer, from the load and the trace's router_prob_sum. */
export const balanceLossFigure: Figure<'balanceLoss', BalanceLosses> = {
  name: 'balanceLoss',
  start: ({ trace, cluster, T, K, E, note }, known) => ({
    passes: 0,
    finish: () => {
      if (!trace.hasProbSum) note('the trace has no router_prob_sum, so the DeepSeekMoE balance losses are left out');
      const canDeviceLoss = E % cluster.gpus === 0;
      if (trace.hasProbSum && !canDeviceLoss) note(`${plural(cluster.gpus, 'GPU')} ${noun(cluster.gpus, 'does', 'do')} not split ${plural(E, 'expert')} evenly, so the device-level balance loss is left out`);
      const probSum = trace.routerProbSum;
      if (!probSum) return undefined;
      const layerProbSum = (l: number) => probSum.subarray(l * E, (l + 1) * E);
      return {
        expert: known.load.map((row, l) => expertBalanceLoss(row, layerProbSum(l), T, K)),
        device: known.load.map((row, l) => (canDeviceLoss ? deviceBalanceLoss(row, layerProbSum(l), T, K, cluster.gpus) : undefined)),
      };
    },
  }),
  summary: (result, l) => ({ expert_balance_loss: result.expert[l], device_balance_loss: result.device[l] }),
};
