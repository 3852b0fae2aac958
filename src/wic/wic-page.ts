/**
 * The WiC report page: the headline chart of overlap per layer for same-sense and different-sense pairs
 * against the K/E chance line, then kappa, AUC, the per-layer numbers, and the pairs with the tokens
 * found for the word (so a reader can check that the word was found).
 */
import { chanceOverlap } from '../analysis/overlap.js';
import { perLayerChart, roundForChart, type Spec } from '../page/charts.js';
import type { ReportPage, ReportTable } from '../page/html.js';
import { resamplingDefaults } from '../analysis/resampling.js';
import { smallSample } from '../analysis/small-sample.js';
import type { TokenOverlay } from '../analysis/token-overlay.js';
import { overlayScript, overlayStyles } from '../page/token-overlay.js';
import { tokenDisplay, type DisplayText } from '../page/token-display.js';
import type { WicPair } from './wic-data.js';
import { wicOverlaySection } from './wic-overlay.js';
import type { WicAnalysis, WicLayerJson } from './wic-result.js';
import { noun, plural } from '../plural.js';

export interface WicPageInputs {
  data: string;
  gold: string;
  model: string;
  trace: string;
  pairs: WicPair[];
  /** The pairs' sentences with their routing, for the token overlay; none, no overlay. */
  overlay?: TokenOverlay;
}

/** Pairs listed on the page besides the skipped ones; wic.json lists them all. */
const listedPairs = 100;

const conditions = {
  same: 'same sense (T)',
  diff: 'different sense (F)',
};

export function buildWicPage({ wic, skipped, wordTokenBytes }: WicAnalysis, inputs: WicPageInputs): ReportPage {
  const used = wic.pairs.filter((p) => !p.skipped);
  const nSame = used.filter((p) => p.label).length;
  const nDiff = used.length - nSame;
  const chance = chanceOverlap(wic.k, wic.n_experts);

  const notes: string[] = [];
  if (skipped.length > 0) notes.push(`${skipped.length} of ${plural(wic.pairs.length, 'pair')} ${noun(skipped.length, 'was', 'were')} skipped because the word could not be found in a sentence or the word at the index does not look like the target; ${noun(skipped.length, 'it is', 'they are')} left out of every figure (listed under "Pairs").`);
  const usedSuspects = wic.suspect_pairs.filter((s) => !wic.pairs.find((p) => p.index === s.index)?.skipped);
  const suspectUsed = new Set(usedSuspects.map((s) => s.index));
  if (suspectUsed.size > 0) {
    const [first] = usedSuspects;
    notes.push(`${plural(suspectUsed.size, 'pair')} whose index points at another word than the target ${noun(suspectUsed.size, 'is', 'are')} counted in the figures (e.g. line ${first.index + 1}: "${first.found}" for "${first.target}"; wic.json lists them under suspect_pairs); --skip-bad-pairs leaves them out.`);
  }
  if (nSame === 0 || nDiff === 0) notes.push(`There are no ${nSame === 0 ? 'same-sense' : 'different-sense'} pairs, so that condition's overlap and kappa, and the AUC, are not defined.`);

  const conditionRows = (pick: (row: WicLayerJson, same: boolean) => number | null, band?: (row: WicLayerJson, same: boolean) => [number, number] | null) =>
    wic.per_layer.flatMap((row) => [
      { condition: conditions.same, layer: row.layer, value: pick(row, true), pairs: nSame, band: band?.(row, true) ?? null },
      { condition: conditions.diff, layer: row.layer, value: pick(row, false), pairs: nDiff, band: band?.(row, false) ?? null },
    ]);
  const overlapRows = conditionRows(
    (row, same) => (same ? row.overlap_same : row.overlap_diff),
    (row, same) => (same ? row.overlap_same_ci : row.overlap_diff_ci),
  );
  const overlapSpec = conditionChart(overlapRows, {
    title: 'Expert overlap of the target word between its two sentences',
    yTitle: 'mean overlap |S_a ∩ S_b| / K',
    rule: { value: chance, label: `chance K/E = ${wic.k}/${wic.n_experts}` },
    yDomain: [0, 1],
  });
  const kappaSpec = conditionChart(conditionRows((row, same) => (same ? row.kappa_same : row.kappa_diff)), {
    title: 'Chance-corrected overlap (kappa)',
    yTitle: 'kappa',
    rule: { value: 0, label: 'chance (kappa 0)' },
  });
  const aucSpec = withBand(
    perLayerChart(
      wic.per_layer.map((row) => ({ trace: 'AUC', layer: row.layer, value: row.auc ?? undefined })),
      { title: 'How well overlap tells same from different sense (ROC AUC)', yTitle: 'ROC AUC', rule: { value: 0.5, label: 'no separation (0.5)' }, yDomain: [0, 1], width: 640 },
    ),
    wic.per_layer.map((row) => ({ layer: row.layer, band: row.auc_ci })),
  );
  // Said next to each figure (analyses.md, "Honest small samples").
  const fewPairs =
    nSame < smallSample.wicPairs || nDiff < smallSample.wicPairs
      ? [`Fewer than ${smallSample.wicPairs} pairs in a condition (${nSame} same sense, ${nDiff} different sense): read this figure as a rough estimate; the shaded bands show how far it may be off.`]
      : undefined;
  // Standard deviation of the AUC of a score unrelated to the label (Hanley and McNeil 1982, no ties).
  const aucNoise = nSame > 0 && nDiff > 0 ? Math.sqrt((nSame + nDiff + 1) / (12 * nSame * nDiff)) : undefined;

  return {
    title: 'Word-in-Context routing probe',
    subtitle: 'Is a word sent to the same experts when it is used in the same sense, and to different ones when its sense differs?',
    facts: [
      ['data', inputs.data],
      ['gold labels', inputs.gold],
      ['model', inputs.model],
      ['trace', inputs.trace],
      ['pairs', `${used.length} used: ${nSame} same sense, ${nDiff} different sense${skipped.length > 0 ? `; ${skipped.length} skipped` : ''}`],
      ['routing', `top-${wic.k} of ${wic.n_experts} routed experts; chance overlap K/E = ${formatShare(chance)}`],
      ['word token', `the ${wic.word_token} sub-token of a word split into several (--word-token ${wic.word_token})`],
    ],
    notes,
    sections: [
      {
        title: 'Overlap per layer: same sense versus different sense',
        explanation: [
          `For every pair the target word is routed to K = ${plural(wic.k, 'expert')} in each of its two sentences (for a word split into several tokens, its ${wic.word_token} token). Overlap is the share of those K experts the two sentences have in common: 1 means the very same experts, 0 none. The lines are the mean overlap over same-sense pairs (gold T) and over different-sense pairs (gold F) at each MoE layer; the dashed line is K/E, what random routing would give. Hover a point for the exact value. The shaded bands are 95% bootstrap intervals of each mean (${resamplingDefaults.draws.toLocaleString('en-US')} draws resampling the pairs within each condition, seeded by --seed): where the two bands overlap, the gap may be noise.`,
          'How to read it: both lines far above chance mean the router follows the word itself whatever its sense, as expected in early layers. The same-sense line above the different-sense line means routing also follows the sense; the wider the gap, the more experts specialise in meaning. Lines on top of each other mean that layer does not tell the senses apart. Olson et al. (2025, arXiv 2502.10928) found the two conditions separate after about the first ten layers of DeepSeek-R1, and far less in Mixtral.',
        ].join('\n\n'),
        spec: overlapSpec,
        notes: fewPairs,
      },
      {
        title: 'Chance-corrected overlap (kappa)',
        explanation: [
          'kappa = (overlap - K/E) / (1 - K/E) rescales overlap so that random routing is 0 and identical expert sets are 1, which makes layers and models with different K/E comparable.',
          'Good: the same-sense kappa clearly above the different-sense kappa. Both near 0: the word\'s routing in the two sentences is no more alike than chance. Below 0: less alike than chance.',
        ].join('\n\n'),
        spec: kappaSpec,
        notes: fewPairs,
      },
      {
        title: 'Separation of the senses by overlap (ROC AUC)',
        explanation: [
          'The chance that a randomly drawn same-sense pair has a higher overlap than a randomly drawn different-sense pair (equal overlaps count one half; the Mann-Whitney statistic). It measures how well the overlap of one pair predicts its label, whatever the level of overlap.',
          `0.5 (dashed) means overlap carries no information about sense; 1 is perfect separation; below 0.5 means different-sense pairs overlap more.${aucNoise === undefined ? '' : ` With ${nSame} same-sense and ${nDiff} different-sense pairs, an AUC of a score unrelated to sense still scatters around 0.5 by about ±${formatShare(aucNoise)} (one standard deviation), so read smaller departures as noise.`} The shaded band is the AUC's 95% bootstrap interval.`,
        ].join('\n\n'),
        spec: aucSpec,
        notes: fewPairs,
      },
      {
        title: 'Per-layer figures',
        explanation: `The numbers of the charts above (also in wic.json). gap = overlap same - overlap diff. Empty cells: that condition has no pairs.`,
        table: layerTable(wic.per_layer),
      },
      {
        title: 'Pairs and the tokens found for the word',
        explanation:
          'The target word is found from its WiC whitespace-token index in each sentence (the letters and digits of that token that look like the word, so "banks," gives "banks"), then mapped to the model tokens whose bytes overlap it. A leading space belongs to the token after it, so " bank" is the word\'s token. Check here that the tokens are the word.',
        table: pairTable({ wic, skipped, wordTokenBytes }, inputs.pairs),
        notes: wic.pairs.length > listedPairs ? [`Showing the first ${listedPairs} of ${wic.pairs.length} pairs and every skipped pair; wic.json lists them all.`] : undefined,
      },
      ...(inputs.overlay ? [wicOverlaySection(inputs.overlay, wic.pairs.length)] : []),
    ],
    ...(inputs.overlay ? { styles: [overlayStyles], scripts: [overlayScript] } : {}),
  };
}

interface ConditionRow {
  condition: string;
  layer: number;
  value: number | null;
  pairs: number;
  /** 95% bootstrap interval, drawn as a shaded band; null where there is none. */
  band: [number, number] | null;
}

/** The shaded 95% band [lo, hi] behind a one-line chart (perLayerChart's spec). */
function withBand(spec: Spec, rows: Array<{ layer: number; band: [number, number] | null }>): Spec {
  const values = rows.filter((row) => row.band).map((row) => ({ layer: row.layer, lo: roundForChart(row.band![0]), hi: roundForChart(row.band![1]) }));
  const band: Spec = {
    data: { values },
    mark: { type: 'area', opacity: 0.2, color: '#4c78a8', tooltip: true },
    encoding: {
      x: { field: 'layer', type: 'quantitative' },
      y: { field: 'lo', type: 'quantitative' },
      y2: { field: 'hi' },
      tooltip: [{ field: 'layer', title: 'layer' }, { field: 'lo', title: '95% interval from' }, { field: 'hi', title: 'to' }],
    },
  };
  return { ...spec, layer: [band, ...(spec.layer as Spec[])] };
}

/** Two lines over the layers, one per condition, with a dashed reference line. */
function conditionChart(rows: ConditionRow[], options: { title: string; yTitle: string; rule: { value: number; label: string }; yDomain?: [number, number] }): Spec {
  const { title, yTitle, rule, yDomain } = options;
  const values = rows.map(({ band, ...row }) => ({ ...row, value: roundForChart(row.value ?? undefined), lo: band ? roundForChart(band[0]) : null, hi: band ? roundForChart(band[1]) : null }));
  const bands = rows.some((row) => row.band);
  return {
    title,
    width: 640,
    height: 260,
    data: { values },
    layer: [
      // The 95% bootstrap band of each condition, behind its line.
      ...(bands
        ? [
            {
              mark: { type: 'area', opacity: 0.18 },
              encoding: {
                x: { field: 'layer', type: 'quantitative' },
                y: { field: 'lo', type: 'quantitative' },
                y2: { field: 'hi' },
                color: { field: 'condition', type: 'nominal', scale: { domain: [conditions.same, conditions.diff], range: ['#1f77b4', '#ff7f0e'] }, legend: null },
              },
            },
          ]
        : []),
      {
        mark: { type: 'line', point: { size: 40 }, tooltip: true },
        encoding: {
          x: { field: 'layer', type: 'quantitative', title: 'layer', axis: { format: 'd', tickMinStep: 1 }, scale: { zero: false } },
          y: { field: 'value', type: 'quantitative', title: yTitle, scale: yDomain ? { domain: yDomain } : { zero: false } },
          color: {
            field: 'condition',
            type: 'nominal',
            title: 'pairs',
            scale: { domain: [conditions.same, conditions.diff], range: ['#1f77b4', '#ff7f0e'] },
          },
          tooltip: [
            { field: 'condition', title: 'pairs' },
            { field: 'layer', title: 'layer' },
            { field: 'value', title: yTitle },
            { field: 'pairs', title: 'number of pairs' },
            ...(bands ? [{ field: 'lo', title: '95% interval from' }, { field: 'hi', title: 'to' }] : []),
          ],
        },
      },
      {
        data: { values: [rule] },
        mark: { type: 'rule', strokeDash: [4, 4], color: '#888' },
        encoding: { y: { field: 'value', type: 'quantitative' }, tooltip: [{ field: 'label', title: 'reference' }, { field: 'value', title: 'value' }] },
      },
    ],
    config: { view: { stroke: null }, axis: { labelFontSize: 11, titleFontSize: 12 }, legend: { labelFontSize: 11, titleFontSize: 12, orient: 'bottom' } },
  };
}

function layerTable(perLayer: WicLayerJson[]): ReportTable {
  const cell = (value: number | null) => value ?? undefined;
  return {
    columns: ['layer', 'overlap same', '95% interval', 'overlap diff', '95% interval', 'gap', 'kappa same', 'kappa diff', 'AUC', '95% interval'],
    rows: perLayer.map((row) => [
      row.layer,
      cell(row.overlap_same),
      interval(row.overlap_same_ci),
      cell(row.overlap_diff),
      interval(row.overlap_diff_ci),
      row.overlap_same !== null && row.overlap_diff !== null ? row.overlap_same - row.overlap_diff : undefined,
      cell(row.kappa_same),
      cell(row.kappa_diff),
      cell(row.auc),
      interval(row.auc_ci),
    ]),
  };
}

function pairTable({ wic, skipped, wordTokenBytes }: WicAnalysis, pairs: WicPair[]): ReportTable {
  const problems = new Map(skipped.map((s) => [s.index, s.problem]));
  const shown = wic.pairs.map((pair, i) => ({ pair, i })).filter(({ pair, i }) => i < listedPairs || pair.skipped);
  // "␣bank" + "s": each token in quotes, its spaces and non-UTF-8 bytes visible.
  const tokens = (list: Uint8Array[] | null): DisplayText => (list ? ['"', ...list.flatMap((bytes, t) => [...(t > 0 ? ['" + "'] : []), ...tokenDisplay(bytes)]), '"'] : ['not found']);
  const withReasons = skipped.length > 0;
  return {
    columns: ['line', 'word', 'gold', 'sentence 1', 'word tokens 1', 'sentence 2', 'word tokens 2', ...(withReasons ? ['skipped because'] : [])],
    rows: shown.map(({ pair, i }) => [
      pair.index + 1,
      pair.word,
      pair.label ? 'T' : 'F',
      pairs[i].sentences[0],
      tokens(wordTokenBytes[i][0]),
      pairs[i].sentences[1],
      tokens(wordTokenBytes[i][1]),
      ...(withReasons ? [problems.get(pair.index) ?? ''] : []),
    ]),
  };
}

function interval(band: [number, number] | null): string {
  return band ? `${formatShare(band[0])} to ${formatShare(band[1])}` : '';
}

function formatShare(value: number): string {
  return Number(value.toPrecision(3)).toString();
}
