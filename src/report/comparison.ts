import type { InputAnalysis } from '../analysis/analyse.js';
import type { ReportSection } from '../page/html.js';
import { chartColumn, heatmap, perLayerChart, rendererFor, type HeatmapCell, type HeatmapOptions, type PerLayerChartOptions, type PerLayerPoint, type Spec } from '../page/charts.js';

/**
 * `report A B ...` compares: inputs keep the order of the command line (the first is the base) in legends
 * and panels; every line chart gets a difference view below it (each other input minus the base, per
 * layer); and a chart whose inputs agree within `agreement` everywhere is drawn once, saying so.
 */

/** Values closer than this count as the same (float noise, not a difference). */
export const agreement = 1e-6;

/** Inputs in the order their points come (the report builds points input by input, in command order). */
export function inputOrder(items: Array<{ trace: string }>): string[] {
  return [...new Set(items.map((item) => item.trace))];
}

/**
 * A per-layer line chart of one or more inputs; with several, collapsed when they agree, else with a difference
 * view. `companions` are reference lines of an input (e.g. its shuffled-label baseline), keyed by input name:
 * drawn beside that input's line, never compared.
 */
export function comparedLineChart(points: PerLayerPoint[], options: PerLayerChartOptions, companions = new Map<string, PerLayerPoint[]>()): Spec {
  const order = inputOrder(points);
  const withCompanions = (names: string[]) => {
    // Inputs first, then their companions: each input keeps the colour it has in every other chart.
    const lines = [...names.flatMap((name) => points.filter((p) => p.trace === name)), ...names.flatMap((name) => companions.get(name) ?? [])];
    return { lines, order: inputOrder(lines) };
  };
  if (order.length < 2) return perLayerChart(withCompanions(order).lines, options);
  const [base, ...others] = order;
  const byInput = new Map(order.map((name) => [name, new Map(points.filter((p) => p.trace === name).map((p) => [p.layer, p.value]))]));
  const baseValues = byInput.get(base)!;
  if (others.every((name) => sameValues(baseValues, byInput.get(name)!))) {
    const drawn = withCompanions([base]);
    return perLayerChart(drawn.lines, { ...options, order: drawn.order, subtitle: `${order.join(' and ')} agree within ${agreement.toExponential()} at every layer: one line drawn` });
  }
  const differences: PerLayerPoint[] = others.flatMap((name) =>
    [...byInput.get(name)!].flatMap(([layer, value]) => {
      const from = baseValues.get(layer);
      return value === undefined || from === undefined ? [] : [{ trace: `${name} − ${base}`, layer, value: value - from }];
    }),
  );
  const drawn = withCompanions(order);
  const main = perLayerChart(drawn.lines, { ...options, order: drawn.order });
  if (differences.length === 0) return main;
  const difference = perLayerChart(differences, {
    title: `difference: ${others.length === 1 ? `${others[0]} − ${base}` : `each input − ${base}`}`,
    yTitle: `Δ ${options.yTitle}`,
    rule: { value: 0, label: 'no difference' },
    order: inputOrder(differences),
    width: options.width,
    height: Math.round((options.height ?? 200) * 0.55),
  });
  return chartColumn([main, difference]);
}

/** A heatmap with one panel per input in command order; one panel when the inputs agree cell by cell. */
export function comparedHeatmap(cells: HeatmapCell[], options: HeatmapOptions): Spec {
  const order = inputOrder(cells);
  if (order.length < 2) return heatmap(cells, options);
  const [base, ...others] = order;
  const key = (c: HeatmapCell) => `${c.row}|${c.column}`;
  const byInput = new Map(order.map((name) => [name, new Map(cells.filter((c) => c.trace === name).map((c) => [key(c), c.value]))]));
  if (others.every((name) => sameValues(byInput.get(base)!, byInput.get(name)!))) {
    return heatmap(
      cells.filter((c) => c.trace === base),
      { ...options, subtitle: `${order.join(' and ')} agree within ${agreement.toExponential()} in every cell: one panel drawn` },
    );
  }
  return heatmap(cells, { ...options, order });
}

/** Same keys, and values equal within `agreement` (both missing counts as equal). */
function sameValues<K>(a: Map<K, number | undefined>, b: Map<K, number | undefined>): boolean {
  if (a.size !== b.size) return false;
  for (const [key, value] of a) {
    if (!b.has(key)) return false;
    const other = b.get(key);
    if (value === undefined || other === undefined || !Number.isFinite(value) || !Number.isFinite(other)) {
      if (value !== other && !(Number.isNaN(value) && Number.isNaN(other))) return false;
    } else if (Math.abs(value - other) > agreement) return false;
  }
  return true;
}

/**
 * The load difference heatmap: per layer and expert, (load / mean load) of each other input minus the
 * base's, over the layers both record. None with one input, or inputs of different expert counts.
 */
export function loadDifferenceSections(analyses: InputAnalysis[]): ReportSection[] {
  if (analyses.length < 2) return [];
  const [base, ...others] = analyses;
  if (others.some((a) => a.experts !== base.experts)) return [];
  const relative = (row: number[]) => {
    const mean = row.reduce((s, x) => s + x, 0) / row.length;
    return row.map((x) => (mean > 0 ? x / mean : 0));
  };
  const cells: HeatmapCell[] = others.flatMap((a) =>
    a.layers.flatMap((layer, l) => {
      const b = base.layers.indexOf(layer);
      if (b < 0) return [];
      const from = relative(base.load[b]);
      return relative(a.load[l]).map((value, expert) => ({ trace: `${a.name} − ${base.name}`, row: layer, column: expert, value: value - from[expert], details: { [`load, ${base.name}`]: base.load[b][expert], [`load, ${a.name}`]: a.load[l][expert] } }));
    }),
  );
  if (cells.length === 0) return [];
  const largest = Math.max(0.1, ...cells.map((c) => Math.abs(c.value ?? 0)));
  return [{
    title: `Load difference: ${others.map((a) => a.name).join(', ')} − ${base.name}`,
    explanation:
      `Each cell: an expert's load at one layer divided by the layer's mean load, in ${others.length === 1 ? others[0].name : 'each other input'} minus the same in ${base.name} (the first input, the base). ` +
      '0 (white) is no change; orange is an expert that gets more of its layer\'s tokens than in the base, blue one that gets fewer. The tooltip has both loads.',
    spec: heatmap(cells, { title: 'difference of load / mean load', rowTitle: 'layer', columnTitle: 'expert', valueTitle: 'Δ load / mean', mid: 0, domain: [-largest, largest] }),
    renderer: rendererFor(cells.length),
  }];
}
