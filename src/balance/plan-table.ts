import Table from 'cli-table3';
import type { PlacementPlan } from './balance.js';

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
