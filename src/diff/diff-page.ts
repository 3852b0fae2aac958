/**
 * DIFF.html: the sections of `diff`'s page, in reading order: which experts the weights moved (heatmap,
 * ranked table, per layer, router rows), then with prompts how routing moved (agreement, load shift, the
 * tokens that changed most), then every per-layer number in one table. Built from the same result as
 * DIFF.json.
 */
import { routingDiffDefaults, type RoutingDiff } from '../analysis/routing-diff.js';
import type { WeightsDiff } from '../analysis/weights-diff.js';
import type { DiffResult, RoutingResult, TraceSource } from './diff-result.js';
import { chartGrid, heatmap, perLayerChart, rendererFor, type HeatmapCell } from '../page/charts.js';
import type { ReportPage, ReportSection } from '../page/html.js';
import { contextDisplay, showToken } from '../page/token-display.js';
import { noun, plural } from '../plural.js';

export const diffReportDefaults = {
  /** Rows of the ranked experts table. */
  rankedRows: 50,
};

export function buildDiffPage(input: Pick<DiffResult, 'modelA' | 'modelB' | 'nExperts' | 'weights' | 'routing'>): ReportPage {
  const { modelA, modelB, nExperts: E, weights, routing } = input;
  const facts: Array<[string, string]> = [
    ['A', modelA],
    ['B', modelB],
    ['MoE layers', `${weights.layers.length} (${layerList(weights.layers.map((l) => l.layer))}), ${plural(E, 'routed expert')} each`],
  ];
  if (routing) {
    const how = (t: TraceSource) => `${t.file}${t.reused ? ' (reused)' : ''}`;
    facts.push(['prompts', `${routing.prompts}: ${plural(routing.tokens, 'token')}, top-${routing.k} routing`], ['traces', `${how(routing.traces.a)}; ${how(routing.traces.b)}`]);
  }
  const notes = routing ? [] : ['Weights only: add --prompts PROMPTS to compare how the two models route the same tokens.'];
  return {
    title: 'Checkpoint diff',
    subtitle: `${modelB} against ${modelA}: which experts changed${routing ? ', and how routing changed' : ' (weights only)'}.`,
    facts,
    notes,
    sections: [...weightSections(weights), ...(routing ? routingSections(routing) : []), tableSection(weights, routing)],
  };
}

function weightSections(weights: WeightsDiff): ReportSection[] {
  const experts = weights.layers.flatMap((l) => l.experts);
  const changeCells: HeatmapCell[] = experts.map((x) => ({
    trace: 'B vs A',
    row: x.layer,
    column: x.expert,
    value: x.relChange,
    details: { gate: x.matrixRelChange.gate, up: x.matrixRelChange.up, down: x.matrixRelChange.down, 'router row change': x.routerRowRelChange, 'router cosine': x.routerCosine },
  }));
  const cosineCells: HeatmapCell[] = experts.map((x) => ({ trace: 'B vs A', row: x.layer, column: x.expert, value: x.routerCosine, details: { 'router row change': x.routerRowRelChange } }));
  // An expert whose weights and router row are both untouched says nothing in a list of changes.
  const changed = weights.ranked.filter((x) => x.relChange !== 0 || x.routerRowRelChange !== 0);
  const ranked = changed.slice(0, diffReportDefaults.rankedRows);
  const unchanged = weights.ranked.length - changed.length;
  const perLayer = (value: (l: WeightsDiff['layers'][number]) => number) => weights.layers.map((l) => ({ trace: 'B vs A', layer: l.layer, value: value(l) }));
  return [
    {
      title: 'Which experts changed',
      explanation:
        "Relative change of each routed expert, ||W_B - W_A|| / ||W_A|| (Frobenius) over its gate, up and down matrices together: 0 is untouched, 0.01 a light fine-tune, 1 a change as large as the weights themselves. Hover for each matrix's own change and the expert's router row.",
      spec: heatmap(changeCells, { title: 'Relative weight change', rowTitle: 'layer', columnTitle: 'expert', valueTitle: 'rel change' }),
      renderer: rendererFor(changeCells.length),
    },
    {
      title: 'Most changed experts',
      explanation: `The experts that moved (${changed.length > ranked.length ? `the first ${ranked.length} of ${changed.length}` : ranked.length}), largest relative change first. Router row change and cosine describe the expert's row of the router: a cosine below 1 means the fine-tune changed which tokens the router sends it.`,
      notes: unchanged > 0 ? [`${unchanged} of ${plural(weights.ranked.length, 'expert')} ${noun(unchanged, 'is', 'are')} unchanged (weights and router row identical) and not listed.`] : undefined,
      table: {
        columns: ['rank', 'layer', 'expert', 'rel change', 'gate', 'up', 'down', 'router row change', 'router cosine'],
        rows: ranked.map((x, i) => [i + 1, x.layer, x.expert, x.relChange, x.matrixRelChange.gate, x.matrixRelChange.up, x.matrixRelChange.down, x.routerRowRelChange, x.routerCosine]),
      },
    },
    {
      title: 'Change per layer',
      explanation: 'Mean relative change of the routed experts of each layer, and the relative change of the whole router matrix. Fine-tunes often move some depths much more than others.',
      spec: chartGrid([
        perLayerChart(perLayer((l) => l.meanRelChange), { title: 'Experts: mean relative change', yTitle: 'mean rel change' }),
        perLayerChart(perLayer((l) => l.routerRelChange), { title: 'Router: relative change', yTitle: 'router rel change' }),
      ]),
    },
    {
      title: 'Router rows',
      explanation: "Cosine similarity of each expert's router row in B and A: 1 is the same direction (the router still prefers the same tokens for this expert), lower values mean the router now looks for something else.",
      spec: heatmap(cosineCells, { title: 'Router row cosine similarity', rowTitle: 'layer', columnTitle: 'expert', valueTitle: 'cosine' }),
      renderer: rendererFor(cosineCells.length),
    },
  ];
}

function routingSections(routing: RoutingResult): ReportSection[] {
  const { k: K, nExperts: E, tokens: T } = routing;
  const point = (layer: number, value: number) => ({ trace: 'B vs A', layer, value });
  const shareCells: HeatmapCell[] = routing.layers.flatMap((l) =>
    l.loadA.map((loadA, e) => ({
      trace: 'B vs A',
      row: l.layer,
      column: e,
      value: (l.loadB[e] - loadA) / (T * K),
      details: { 'load A': loadA, 'load B': l.loadB[e] },
    })),
  );
  const tokens = routing.mostChanged;
  return [
    {
      title: 'Routing agreement',
      explanation: `Per layer, over the ${plural(T, 'token')} of the prompts: overlap is the mean share of a token's ${plural(K, 'expert')} that both models choose (|S_A ∩ S_B| / K, OLMoE's router saturation), top-1 agreement the share of tokens whose first choice is the same. 1 is identical routing; the dashed line is what two unrelated random routers would give.`,
      spec: chartGrid([
        perLayerChart(routing.layers.map((l) => point(l.layer, l.overlap)), { title: 'Overlap of the routed sets', yTitle: 'overlap', yDomain: [0, 1], rule: { value: K / E, label: 'random routing (K/E)' } }),
        perLayerChart(routing.layers.map((l) => point(l.layer, l.top1Agreement)), { title: 'Top-1 agreement', yTitle: 'top-1 agreement', yDomain: [0, 1], rule: { value: 1 / E, label: 'random routing (1/E)' } }),
      ]),
    },
    {
      title: 'Load shift',
      explanation:
        "How the load moved between experts: the Jensen-Shannon divergence of the two models' load distributions per layer (bits: 0 the same distribution, 1 disjoint), and per expert the change of its share of the layer's load, B minus A (orange: B sends it more tokens, blue: fewer).",
      spec: chartGrid(
        [
          perLayerChart(routing.layers.map((l) => point(l.layer, l.loadJsDivergence)), { title: 'Load Jensen-Shannon divergence', yTitle: 'JS divergence (bits)' }),
          heatmap(shareCells, { title: 'Change of load share, B - A', rowTitle: 'layer', columnTitle: 'expert', valueTitle: 'share change', mid: 0 }),
        ],
        1,
      ),
      renderer: rendererFor(shareCells.length),
    },
    {
      title: 'Tokens whose routing changed most',
      explanation: `Tokens that at least one layer routes differently (at most ${routingDiffDefaults.mostChanged}), lowest overlap averaged over the layers first, with the text around them in their prompt. Overlap 0 means the two models send the token to entirely different experts in every layer.`,
      notes: tokens.length === 0 ? ['Every token is routed to the same experts by both models, in every layer.'] : undefined,
      table: {
        columns: ['prompt', 'position', 'before', 'token', 'after', 'mean overlap', 'top-1 agreement'],
        rows: tokens.map((t) => [
          t.promptName,
          t.position,
          t.text && contextDisplay(t.text.before),
          showToken({ id: t.tokenId, bytes: t.text?.token.length ? t.text.token : undefined }),
          t.text && contextDisplay(t.text.after),
          t.overlap,
          t.top1Agreement,
        ]),
      },
    },
  ];
}

function tableSection(weights: WeightsDiff, routing?: RoutingDiff): ReportSection {
  const routingColumns = routing ? ['overlap', 'top-1 agreement', 'load JS divergence'] : [];
  return {
    title: 'All figures per layer',
    explanation: 'The numbers behind the charts (also in DIFF.json with --json), to 4 significant digits.',
    table: {
      columns: ['layer', 'mean rel change', 'router rel change', ...routingColumns],
      rows: weights.layers.map((l) => {
        const r = routing?.layers.find((x) => x.layer === l.layer);
        return [l.layer, l.meanRelChange, l.routerRelChange, ...(r ? [r.overlap, r.top1Agreement, r.loadJsDivergence] : [])];
      }),
    },
  };
}

/** "3-60" for a contiguous run (DeepSeek's MoE layers are), else the list. */
function layerList(layers: number[]): string {
  const contiguous = layers.length > 2 && layers[layers.length - 1] - layers[0] === layers.length - 1;
  return contiguous ? `${layers[0]}-${layers[layers.length - 1]}` : layers.join(', ');
}
