import type { InputAnalysis } from '../analysis/analyse.js';
import { chartGrid, type PerLayerPoint, type Spec } from '../page/charts.js';
import type { ReportSection } from '../page/html.js';
import { comparedLineChart } from './comparison.js';
import { smallSampleNotes } from './small-sample-notes.js';

/**
 * The balancing bias at inference (analyses.md, "Routing without the balancing bias"): per layer, the share
 * of choices e_score_correction_bias changed, and MaxVio and balancedness with and without it. Each input
 * draws two lines, "<input>" (the real routing) and "<input> without bias"; with several inputs, the real
 * routing is compared across them (comparison.ts) and the line without bias drawn beside each.
 */
export function unbiasedSections(traces: InputAnalysis[]): ReportSection[] {
  const withBias = traces.filter((a) => a.figures.unbiased);
  if (withBias.length === 0) return [];
  const changed: PerLayerPoint[] = withBias.flatMap((a) => a.figures.unbiased!.map((u) => ({ trace: a.name, layer: u.layer, value: u.changedShare })));
  const real = (key: 'maxvio' | 'balancedness'): PerLayerPoint[] => withBias.flatMap((a) => a.figures.unbiased!.map((u) => ({ trace: a.name, layer: u.layer, value: u[key] })));
  const withoutBias = (key: 'maxvioUnbiased' | 'balancednessUnbiased') =>
    new Map(withBias.map((a) => [a.name, a.figures.unbiased!.map((u): PerLayerPoint => ({ trace: `${a.name} without bias`, layer: u.layer, value: u[key] }))]));
  // Three charts side by side within the page's width.
  const third = { width: 270, height: 200 };
  return [
    {
      title: 'The balancing bias at inference',
      explanation:
        "DeepSeek-V3 balances its experts without an auxiliary loss: a per-expert bias (e_score_correction_bias) is added to the scores when choosing experts, never to their weights. `route` also records the choice the router would make with the bias set to zero. " +
        'Left: the share of (token, expert) choices the bias changed (0 = the bias does nothing here). Middle and right: MaxVio (0 = balanced) and GPU balancedness (1 = balanced) of the real routing and of the routing without the bias, under the same placement. ' +
        'A bias that works lowers MaxVio and raises balancedness; the gap is what it buys at inference on these prompts.',
      spec: (withBias.length === 1 ? ownLegends : (grid: Spec) => grid)(
        chartGrid(
          [
            comparedLineChart(changed, { title: 'share of choices the bias changed', yTitle: 'changed share', yDomain: [0, 1], ...third }),
            comparedLineChart(real('maxvio'), { title: 'MaxVio (0 = balanced)', yTitle: 'MaxVio', rule: { value: 0, label: 'balanced' }, ...third }, withoutBias('maxvioUnbiased')),
            comparedLineChart(real('balancedness'), { title: 'balancedness (1 = balanced)', yTitle: 'mean / max GPU load', rule: { value: 1, label: 'perfect' }, ...third }, withoutBias('balancednessUnbiased')),
          ],
          3,
        ),
      ),
      notes: smallSampleNotes(withBias, 'load'),
    },
  ];
}

/**
 * Each chart of the grid keeps its own legend (one input only; with several, every chart has a legend and they
 * share one). With one input the left chart has none, and a legend the charts of a row share disappears when
 * one of them turns it off, which would leave the line without bias unnamed.
 */
function ownLegends(grid: Spec): Spec {
  const legend = { color: 'independent', strokeDash: 'independent' };
  return { ...grid, vconcat: (grid.vconcat as Spec[]).map((row) => ({ ...row, resolve: { legend } })) };
}
