import type { InputAnalysis } from '../analysis/analyse.js';
import type { PlantedClass } from '../analysis/token-classes.js';
import { roundForChart, type Spec } from '../page/charts.js';
import type { ReportSection } from '../page/html.js';
import { plural } from '../plural.js';

const className: Record<PlantedClass, string> = { digit: 'digit token', punct: 'punctuation token' };

/**
 * For a model made by `synth --planted` (the demo's): the answer the report should find, stated, and how
 * often the planted experts get their tokens, layer by layer, next to the token figures that show it.
 */
export function plantedSections(traces: InputAnalysis[]): ReportSection[] {
  return traces.flatMap((a) => {
    const planted = a.figures.planted;
    if (!planted) return [];
    const { answer, perLayer } = planted;
    const both = (experts: number[]) => experts.join(' and ');
    const bars = perLayer.flatMap((row) =>
      row.classes.flatMap((c) => [
        { series: `${className[c.cls]}s → experts ${both(c.experts)}`, layer: row.layer, share: roundForChart(c.share), tokens: c.tokens },
        { series: `other tokens → experts ${both(c.experts)}`, layer: row.layer, share: roundForChart(c.otherShare), tokens: c.otherTokens },
      ]),
    );
    const from = perLayer.filter((row) => row.layer >= answer.fromLayer);
    const percent = (x: number | undefined) => (x === undefined ? 'n/a' : `${(100 * x).toFixed(1)}%`);
    const found = answer.experts.digit.length > 0 && from.length > 0
      ? from
          .map((row) => `layer ${row.layer}: ${row.classes.map((c) => `${percent(c.share)} of ${plural(c.tokens, className[c.cls])} reach experts ${both(c.experts)} (other tokens: ${percent(c.otherShare)})`).join('; ')}`)
          .join('. ')
      : 'no recorded layer is at or after the planted layer';
    return [
      {
        title: a.name && traces.length > 1 ? `The planted answer: ${a.name}` : 'The planted answer',
        explanation:
          `This model was made by synth --planted, which wires digit tokens to experts ${both(answer.experts.digit)} and punctuation tokens to experts ${both(answer.experts.punct)} from layer ${answer.fromLayer} on (config.json, moe_inspect_synth.planted). ` +
          'A report that reads routing correctly must find exactly that: here is the share of those tokens whose chosen experts include both planted ones, beside the same share for tokens of neither class (the plant does not push them). ' +
          `Below layer ${answer.fromLayer} the plant does not act, so both shares are low there.` +
          `\n\nFound: ${found}.` +
          '\n\nThe same answer shows in the token classes per expert (from this layer on, the bars of the planted experts hold more digits or marks than the layer\'s mix) and in the coloured tokens (pick layer ' +
          `${answer.fromLayer} and search for a number: its digits take the colours of experts ${both(answer.experts.digit)}). A digit token is a token of ASCII digits only, a punctuation token one of ASCII marks and symbols only, after one leading space.`,
        spec: plantedChart(bars),
      },
    ];
  });
}

/** Grouped bars (bars do not hide each other as coinciding lines would): per layer, each class and the other tokens. */
function plantedChart(bars: Array<{ series: string; layer: number; share: number | null; tokens: number }>): Spec {
  const series = [...new Set(bars.map((b) => b.series))];
  return {
    title: 'share of tokens whose chosen experts include both planted ones',
    width: 480,
    height: 200,
    data: { values: bars },
    encoding: {
      x: { field: 'layer', type: 'ordinal', title: 'layer', axis: { labelAngle: 0 } },
      xOffset: { field: 'series', sort: series },
      y: { field: 'share', type: 'quantitative', title: 'share of tokens', scale: { domain: [0, 1] }, axis: { format: '%' } },
      color: { field: 'series', type: 'nominal', title: 'tokens', sort: series, scale: { domain: series, range: ['#1f77b4', '#aec7e8', '#d62728', '#ff9896'] }, legend: { orient: 'bottom', columns: 2, labelLimit: 320 } },
      tooltip: [
        { field: 'series', title: 'tokens' },
        { field: 'layer', title: 'layer' },
        { field: 'share', title: 'share', format: '.1%' },
        { field: 'tokens', title: 'tokens counted' },
      ],
    },
    layer: [{ mark: { type: 'bar', tooltip: true } }, { mark: { type: 'text', dy: -6, fontSize: 10 }, encoding: { text: { field: 'share', format: '.0%' }, color: { value: '#333' } } }],
    config: { view: { stroke: null }, axis: { labelFontSize: 11, titleFontSize: 12 }, legend: { labelFontSize: 11, titleFontSize: 12 } },
  };
}
