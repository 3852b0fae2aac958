/**
 * How `report --cache` and `report --prefetch` present the offloading what-ifs (analysis/offloading.ts): the
 * SUMMARY.json keys "cache" and "prefetch" (contract.md) and the HTML sections: hit rate against cache size,
 * the sizes needed, predictor precision per layer, and the cross-layer transitions.
 */
import type { InputAnalysis } from '../analysis/analyse.js';
import { cachePolicies, type CachePolicy } from '../analysis/expert-cache.js';
import { hitRateTargets, type OffloadingAnalysis } from '../analysis/offloading.js';
import { chartGrid, heatmap, perLayerChart, roundForChart, type HeatmapCell, type PerLayerPoint, type Spec } from '../page/charts.js';
import { formatNumber, type ReportSection } from '../page/html.js';

/** One input's offloading figures, under the name the report gives the input. */
interface NamedOffloading {
  trace: string;
  analysis: OffloadingAnalysis;
}

/** The inputs with offloading figures (traces analysed with --cache or --prefetch). */
function withOffloading(analyses: InputAnalysis[]): NamedOffloading[] {
  return analyses.flatMap((a) => (a.figures.offloading ? [{ trace: a.name, analysis: a.figures.offloading }] : []));
}

type Rates = Record<CachePolicy, Array<number | null>>;

/** SUMMARY.json's "cache" (contract.md). */
export interface CacheSummary {
  batch: number;
  sizes: number[];
  per_layer: Array<{ trace: string; layer: number; accesses: number; needed: Record<CachePolicy, Record<string, number | null>>; with_prefetch?: Rates } & Rates>;
}

/** SUMMARY.json's "prefetch" (contract.md). */
export interface PrefetchSummary {
  p: number;
  per_layer: Array<{ trace: string; layer: number; history?: Quality | null; speculative?: Quality | null }>;
  transitions: Array<{ trace: string; layer: number; accuracy: number | null; chance: number | null }>;
}

interface Quality {
  precision: number;
  recall: number;
}

const policyNames: Record<CachePolicy, string> = { lru: 'LRU', lfu: 'LFU', belady: 'Belady (optimal)' };

const teacherForcing =
  'The prompt tokens of the trace stand in for decoded tokens (teacher forcing): a real decode routes the tokens the model generates, which follow the same routing statistics only as far as the prompts resemble the generated text.';

// --- SUMMARY.json ------------------------------------------------------------------------------------------

export function offloadingSummary(analyses: InputAnalysis[]): { cache?: CacheSummary; prefetch?: PrefetchSummary } {
  const inputs = withOffloading(analyses);
  const summary: { cache?: CacheSummary; prefetch?: PrefetchSummary } = {};
  const caches = inputs.filter((i) => i.analysis.cache);
  if (caches.length > 0) {
    const { batch, sizes } = caches[0].analysis.cache!;
    summary.cache = {
      batch,
      sizes,
      per_layer: caches.flatMap(({ trace, analysis }) =>
        analysis.cache!.perLayer.map((row) => ({
          trace,
          layer: row.layer,
          accesses: row.accesses,
          ...row.rates,
          needed: Object.fromEntries(cachePolicies.map((policy) => [policy, Object.fromEntries(hitRateTargets.map((target, i) => [String(target), row.needed[policy][i]]))])) as CacheSummary['per_layer'][number]['needed'],
          ...(row.withPrefetch ? { with_prefetch: row.withPrefetch } : {}),
        })),
      ),
    };
  }
  const prefetches = inputs.filter((i) => i.analysis.prefetch);
  if (prefetches.length > 0) {
    const quality = (q: Quality | null): Quality | null => q && { precision: q.precision, recall: q.recall };
    summary.prefetch = {
      p: prefetches[0].analysis.prefetch!.p,
      per_layer: prefetches.flatMap(({ trace, analysis }) =>
        analysis.prefetch!.perLayer.map((row) => ({
          trace,
          layer: row.layer,
          ...(row.history !== undefined ? { history: quality(row.history) } : {}),
          ...(row.speculative !== undefined ? { speculative: quality(row.speculative) } : {}),
        })),
      ),
      transitions: prefetches.flatMap(({ trace, analysis }) => analysis.prefetch!.transitions.map((t) => ({ trace, layer: t.layer, accuracy: t.accuracy, chance: t.chance }))),
    };
  }
  return summary;
}

// --- HTML ---------------------------------------------------------------------------------------------------

/** The first layer shown in detail (--layers) is drawn on its own beside the mean over layers. */
export function offloadingSections(traces: InputAnalysis[]): ReportSection[] {
  const inputs = withOffloading(traces);
  if (inputs.length === 0) return [];
  const first = traces.find((a) => a.figures.offloading)!;
  const focusLayer = first.detailLayers[0] ?? first.layers[0];
  return [...cacheSections(inputs, focusLayer), ...prefetchSections(inputs, first.experts, first.k!), ...transitionSections(inputs, focusLayer, first.experts)];
}

function cacheSections(inputs: NamedOffloading[], focusLayer: number): ReportSection[] {
  const caches = inputs.filter((i) => i.analysis.cache);
  if (caches.length === 0) return [];
  const several = caches.length > 1;
  const { batch, prefetchPredictor } = caches[0].analysis.cache!;
  const points = (panel: 'focus' | 'mean') =>
    caches.flatMap(({ trace, analysis }) => {
      const { sizes, perLayer } = analysis.cache!;
      const rows = panel === 'focus' ? perLayer.filter((r) => r.layer === focusLayer) : perLayer;
      const series = `${several ? `${trace}: ` : ''}`;
      return cachePolicies.flatMap((policy) =>
        [false, true].flatMap((prefetched) => {
          if (prefetched && !rows[0]?.withPrefetch) return [];
          const mode = prefetched ? `with ${prefetchPredictor} prefetch` : 'cache only';
          return sizes.map((size, i) => ({ series: `${series}${policyNames[policy]}`, mode, size, rate: meanOf(rows.map((r) => (prefetched ? r.withPrefetch! : r.rates)[policy][i])) }));
        }),
      );
    });
  const layerCount = caches[0].analysis.cache!.perLayer.length;
  const table = {
    columns: [...(several ? ['input'] : []), 'layer', ...cachePolicies.flatMap((policy) => hitRateTargets.map((target) => `${policyNames[policy].split(' ')[0]} ${target * 100}%`))],
    rows: caches.flatMap(({ trace, analysis }) =>
      analysis.cache!.perLayer.map((row) => [...(several ? [trace] : []), row.layer, ...cachePolicies.flatMap((policy) => row.needed[policy].map((c) => c ?? 'none'))]),
    ),
  };
  return [
    {
      title: 'Expert cache: hit rate against cache size',
      explanation:
        'A GPU that cannot hold every expert keeps C experts of each MoE layer and loads the others from host memory when a token needs them. ' +
        `Tokens are decoded ${batch === 1 ? 'one at a time, prompt after prompt' : `${batch} prompts at a time (--cache-batch ${batch}), one token of each per step`}; the hit rate is the share of needed experts already in the cache. ` +
        'LRU evicts the expert used longest ago, LFU the one needed at the fewest steps so far, Belady the one needed again latest: the best any policy can do, since it knows the future. ' +
        'A large gap between Belady and LRU/LFU leaves room for a smarter policy; a curve that rises slowly means the layer needs most of its experts resident.' +
        (prefetchPredictor ? ` Dashed lines first load the experts the ${prefetchPredictor} predictor guesses for the step (never evicting a predicted expert), then serve the step.` : '') +
        `\n\nLeft: layer ${focusLayer} (the first layer of --layers, else the first MoE layer); right: the mean of the ${layerCount} layers' rates. ${teacherForcing}`,
      spec: chartGrid([hitRateChart(points('focus'), `layer ${focusLayer}`), hitRateChart(points('mean'), `mean over ${layerCount} layers`)]),
    },
    {
      title: 'Expert cache: size needed per layer',
      explanation: `The smallest cache (experts per layer, from K up to E) that reaches a hit rate of 90%, 95% and 99% under each policy; "none" where even the whole layer minus its first uses does not. ${teacherForcing}`,
      table,
    },
  ];
}

function hitRateChart(points: Array<{ series: string; mode: string; size: number; rate: number | null }>, title: string): Spec {
  const values = points.map((p) => ({ ...p, rate: roundForChart(p.rate ?? undefined) }));
  return {
    title,
    width: 480,
    height: 260,
    data: { values },
    mark: { type: 'line', point: { size: 20 }, tooltip: true },
    encoding: {
      x: { field: 'size', type: 'quantitative', title: 'cache size (experts per layer)', axis: { format: 'd', tickMinStep: 1 }, scale: { zero: false } },
      y: { field: 'rate', type: 'quantitative', title: 'hit rate', scale: { domain: [0, 1] } },
      color: { field: 'series', type: 'nominal', title: 'policy' },
      // Solid for the cache alone, dashed with prefetch.
      strokeDash: { field: 'mode', type: 'nominal', title: null, scale: { domain: [...new Set(values.map((v) => v.mode))].sort((a, b) => (a === 'cache only' ? -1 : b === 'cache only' ? 1 : 0)), range: [[1, 0], [4, 3]] }, legend: { symbolType: 'stroke' } },
      tooltip: [
        { field: 'series', title: 'policy' },
        { field: 'mode', title: 'prefetch' },
        { field: 'size', title: 'cache size' },
        { field: 'rate', title: 'hit rate' },
      ],
    },
  };
}

function prefetchSections(inputs: NamedOffloading[], experts: number, k: number): ReportSection[] {
  const prefetches = inputs.filter((i) => i.analysis.prefetch);
  if (prefetches.length === 0) return [];
  const several = prefetches.length > 1;
  const { p, trainingPrompts } = prefetches[0].analysis.prefetch!;
  const predictors = (['history', 'speculative'] as const).filter((predictor) => prefetches[0].analysis.prefetch!.perLayer.some((row) => row[predictor] !== undefined));
  const points: PerLayerPoint[] = prefetches.flatMap(({ trace, analysis }) =>
    predictors.flatMap((predictor) =>
      analysis.prefetch!.perLayer.map((row) => ({ trace: `${several ? `${trace}: ` : ''}${predictor}`, layer: row.layer, value: row[predictor]?.precision, details: { recall: row[predictor]?.recall } })),
    ),
  );
  const cell = (q: { precision: number; recall: number } | null | undefined): Array<string | number> => (q ? [q.precision, q.recall] : ['-', '-']);
  return [
    {
      title: 'Prefetch: how well the next experts can be guessed',
      explanation:
        `Before a MoE layer runs for a token, a predictor guesses p = ${p} of its experts so they can be loaded in time. Precision is the share of guesses the token really uses; recall the share of its experts that were guessed. ` +
        `History guesses from the token's experts at the previous MoE layer, by how often each expert followed them on the first ${trainingPrompts} prompts; it is measured on the other prompts and has nothing to go on at the first MoE layer. ` +
        "Speculative (route --speculate) applies each layer's own router to the previous layer's input, one layer early, as Pre-gated MoE and FATE do; it has nothing to go on at layer 0. " +
        `High precision means prefetching wastes little bandwidth; guessing at random gets precision K/E = ${formatNumber(k / experts)} (the dashed line). ${teacherForcing}`,
      spec: perLayerChart(points, { title: `precision of the ${p} guessed experts per layer`, yTitle: 'precision', yDomain: [0, 1], rule: { value: k / experts, label: 'random guess (K/E)' }, width: 960 }),
      table: {
        columns: [...(several ? ['input'] : []), 'layer', ...predictors.flatMap((predictor) => [`${predictor} precision`, `${predictor} recall`])],
        rows: prefetches.flatMap(({ trace, analysis }) => analysis.prefetch!.perLayer.map((row): Array<string | number> => [...(several ? [trace] : []), row.layer, ...predictors.flatMap((predictor) => cell(row[predictor]))])),
      },
    },
  ];
}

function transitionSections(inputs: NamedOffloading[], focusLayer: number, E: number): ReportSection[] {
  const prefetches = inputs.filter((i) => i.analysis.prefetch && i.analysis.prefetch.transitions.length > 0);
  if (prefetches.length === 0) return [];
  const several = prefetches.length > 1;
  const points: PerLayerPoint[] = prefetches.flatMap(({ trace, analysis }) =>
    analysis.prefetch!.transitions.flatMap((t) => [
      { trace: `${several ? `${trace}: ` : ''}guessed`, layer: t.layer, value: t.accuracy ?? undefined },
      { trace: `${several ? `${trace}: ` : ''}chance`, layer: t.layer, value: t.chance ?? undefined },
    ]),
  );
  // The pair ending at the focus layer, or the first pair when the focus layer is the first MoE layer.
  const pairs = prefetches.map(({ trace, analysis }) => {
    const transitions = analysis.prefetch!.transitions;
    return { trace, transition: transitions.find((t) => t.layer === focusLayer) ?? transitions[0] };
  });
  const cells: HeatmapCell[] = pairs.flatMap(({ trace, transition }) => {
    const rowTotals = Array.from({ length: E }, (_, i) => transition.counts.subarray(i * E, (i + 1) * E).reduce((a, b) => a + b, 0));
    return Array.from(transition.counts, (tokens, cell) => {
      const [from, to] = [Math.floor(cell / E), cell % E];
      return { trace, row: from, column: to, value: rowTotals[from] > 0 ? tokens / rowTotals[from] : undefined, details: { tokens } };
    });
  });
  const { layer, previousLayer } = pairs[0].transition;
  const total = (counts: Float64Array) => counts.reduce((a, b) => a + b, 0);
  return [
    {
      title: 'Cross-layer transitions of the top-1 expert',
      explanation:
        "How much a token's top-1 expert at one MoE layer tells about its top-1 expert at the next: the guess is the expert that most often followed it on the training prompts, scored on the others, against always guessing the layer's most frequent top-1. " +
        'Accuracy well above chance means experts form paths through the depth, which a prefetcher can follow (OLMoE draws these as layer-to-layer flows).' +
        `\n\nThe map shows layer ${previousLayer} -> ${layer}: each row is a top-1 expert at layer ${previousLayer}, each cell the share of its tokens whose top-1 at layer ${layer} is that column (all prompts). ${teacherForcing}`,
      spec: chartGrid([
        perLayerChart(points, { title: 'top-1 guessed from the previous layer vs chance', yTitle: 'accuracy (held-out tokens)', yDomain: [0, 1], width: 960 }),
        heatmap(cells, { title: `top-1 at layer ${previousLayer} -> layer ${layer}`, rowTitle: `top-1 at layer ${previousLayer}`, columnTitle: `top-1 at layer ${layer}`, valueTitle: 'share of row' }),
      ], 1),
      table: {
        columns: [...(several ? ['input'] : []), 'from layer', 'to layer', 'top-1 from', 'top-1 to', 'tokens', 'share of tokens'],
        rows: prefetches.flatMap(({ trace, analysis }) =>
          analysis.prefetch!.transitions
            .filter((t) => t.layer === layer)
            .flatMap((t) => t.largest.map((cell) => [...(several ? [trace] : []), t.previousLayer, t.layer, cell.from, cell.to, cell.tokens, cell.tokens / total(t.counts)])),
        ),
      },
    },
  ];
}

function meanOf(values: Array<number | null>): number | null {
  if (values.length === 0 || values.some((v) => v === null)) return null;
  return (values as number[]).reduce((a, b) => a + b, 0) / values.length;
}
