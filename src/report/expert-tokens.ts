import type { InputAnalysis } from '../analysis/analyse.js';
import { tokenClasses } from '../analysis/token-classes.js';
import { tokenSpecializationDefaults } from '../analysis/token-specialization.js';
import { roundForChart, type Spec } from '../page/charts.js';
import { formatNumber, type ReportSection } from '../page/html.js';
import { showToken, type DisplayText } from '../page/token-display.js';

/** Experts listed open per section; the others are behind a disclosure. */
const shownExperts = 10;

/**
 * Per layer shown in detail and per input (its name in the title, once): each expert's tokens by lift, the
 * most specialized experts first, and the token classes of each expert's tokens as stacked bars.
 */
export function expertTokenSections(traces: InputAnalysis[]): ReportSection[] {
  const { minOccurrences } = tokenSpecializationDefaults;
  return traces.flatMap((a) =>
    a.figures.tokenTables!.details.flatMap((detail) => {
      const classes = a.figures.tokenClasses?.find((c) => c.layer === detail.layer);
      if (!detail.topTokens && !classes) return [];
      // An expert's specialization: the highest lift among its tokens (its first, as they are sorted by lift).
      const experts = (detail.topTokens ?? [])
        .map((tokens, expert) => ({ expert, tokens, lift: tokens[0]?.lift ?? 0 }))
        .sort((x, y) => y.lift - x.lift || x.expert - y.expert);
      const E = a.experts;
      return [
        {
          title: `Tokens and token classes per expert, layer ${detail.layer}${traces.length > 1 ? `: ${a.name}` : ''}`,
          explanation:
            `Per expert, the tokens with the highest lift among tokens seen at least ${minOccurrences} times (rarer tokens are left out: a token seen twice, both times at one expert, would top every list by chance). ` +
            "Lift = the token's share of this expert's load / its share of all tokens: 1 means the expert gets the token no more than its frequency predicts; well above 1, with a high share of the token's occurrences routed here, marks a token the expert specializes in. " +
            `Experts are listed by their highest lift, the ${Math.min(shownExperts, E)} most specialized open and the others behind "more rows". Spaces show as ␣.` +
            (classes
              ? '\n\nThe bars: the kinds of tokens each expert receives (each of a token\'s K choices counts once), against "all", the mix of the whole layer. A token\'s class is that of all its characters (one leading space aside), else "mixed"; tokens without text (BOS) are left out. An expert whose bar differs from "all" specializes in a kind of token.'
              : ''),
          spec: classes ? classChart(classes, E, detail.layer) : undefined,
          table: detail.topTokens
            ? {
                columns: ['expert', 'highest lift', `tokens (lift, occurrences routed here, share of the token's occurrences)`],
                rows: experts.map(({ expert, tokens, lift }) => [
                  expert,
                  tokens.length > 0 ? lift : undefined,
                  tokens.length > 0
                    ? tokens.flatMap((t, i): DisplayText => [...(i > 0 ? [',  '] : []), ...showToken(t.token), ` (lift ${formatNumber(t.lift)}, ×${t.count}, ${Math.round(100 * t.share)}%)`])
                    : `no token seen ${minOccurrences} times`,
                ]),
                shownRows: shownExperts,
              }
            : undefined,
        },
      ];
    }),
  );
}

/** Colours of the classes, in tokenClasses order. */
const classColours = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#c7c7c7', '#8c564b', '#ff7f0e'];

/** Per expert (and "all" first), a bar of its token-class shares. */
function classChart(classes: { shares: number[][]; overall: number[] }, E: number, layer: number): Spec {
  const values = [
    ...classes.overall.map((share, c) => ({ expert: 'all', cls: tokenClasses[c], share: roundForChart(share, 4) })),
    ...classes.shares.flatMap((row, e) => row.map((share, c) => ({ expert: String(e), cls: tokenClasses[c], share: roundForChart(share, 4) }))),
  ].filter((v) => v.share);
  const order = ['all', ...Array.from({ length: E }, (_, e) => String(e))];
  return {
    title: `token classes of each expert's tokens, layer ${layer}`,
    width: { step: Math.max(3, Math.min(24, Math.floor(960 / (E + 1)))) },
    height: 130,
    data: { values },
    mark: { type: 'bar', tooltip: true },
    encoding: {
      x: { field: 'expert', type: 'ordinal', title: 'expert', sort: order, axis: { labelOverlap: true, labelAngle: 0 } },
      y: { field: 'share', type: 'quantitative', title: 'share of its tokens', stack: 'normalize', axis: { format: '%' } },
      color: { field: 'cls', type: 'nominal', title: 'token class', scale: { domain: [...tokenClasses], range: classColours }, legend: { orient: 'right' } },
      order: { field: 'cls', sort: 'ascending' },
      tooltip: [
        { field: 'expert', title: 'expert' },
        { field: 'cls', title: 'class' },
        { field: 'share', title: 'share', format: '.1%' },
      ],
    },
    config: { view: { stroke: null }, axis: { labelFontSize: 11, titleFontSize: 12 }, legend: { labelFontSize: 11, titleFontSize: 12 } },
  };
}
