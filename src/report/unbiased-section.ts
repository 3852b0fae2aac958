import type { InputAnalysis } from '../analysis/analyse.js';
import { chartGrid, perLayerChart, type PerLayerPoint } from '../page/charts.js';
import type { ReportSection } from '../page/html.js';
import { smallSampleNotes } from './small-sample-notes.js';

/**
 * The balancing bias at inference (analyses.md, "Routing without the balancing bias"): per layer, the share
 * of choices e_score_correction_bias changed, and MaxVio and balancedness with and without it. Each input
 * draws two lines, "<input>" (the real routing) and "<input> without bias".
 */
export function unbiasedSections(traces: InputAnalysis[]): ReportSection[] {
  const withBias = traces.filter((a) => a.figures.unbiased);
  if (withBias.length === 0) return [];
  const changed: PerLayerPoint[] = withBias.flatMap((a) => a.figures.unbiased!.map((u) => ({ trace: a.name, layer: u.layer, value: u.changedShare })));
  const pair = (real: 'maxvio' | 'balancedness', without: 'maxvioUnbiased' | 'balancednessUnbiased'): PerLayerPoint[] =>
    withBias.flatMap((a) => a.figures.unbiased!.flatMap((u) => [
      { trace: a.name, layer: u.layer, value: u[real] },
      { trace: `${a.name} without bias`, layer: u.layer, value: u[without] },
    ]));
  // Three charts side by side within the page's width.
  const third = { width: 270, height: 200 };
  return [
    {
      title: 'The balancing bias at inference',
      explanation:
        "DeepSeek-V3 balances its experts without an auxiliary loss: a per-expert bias (e_score_correction_bias) is added to the scores when choosing experts, never to their weights. `route` also records the choice the router would make with the bias set to zero. " +
        'Left: the share of (token, expert) choices the bias changed (0 = the bias does nothing here). Middle and right: MaxVio (0 = balanced) and GPU balancedness (1 = balanced) of the real routing and of the routing without the bias, under the same placement. ' +
        'A bias that works lowers MaxVio and raises balancedness; the gap is what it buys at inference on these prompts.',
      spec: chartGrid(
        [
          perLayerChart(changed, { title: 'share of choices the bias changed', yTitle: 'changed share', yDomain: [0, 1], ...third }),
          perLayerChart(pair('maxvio', 'maxvioUnbiased'), { title: 'MaxVio (0 = balanced)', yTitle: 'MaxVio', rule: { value: 0, label: 'balanced' }, ...third }),
          perLayerChart(pair('balancedness', 'balancednessUnbiased'), { title: 'balancedness (1 = balanced)', yTitle: 'mean / max GPU load', rule: { value: 1, label: 'perfect' }, ...third }),
        ],
        3,
      ),
      notes: smallSampleNotes(withBias, 'load'),
    },
  ];
}
