/**
 * Vega-lite specs, one function per chart kind. Each takes plain rows and returns a spec with inline data
 * only (never a data URL: the report makes no network request). Several inputs share one chart: lines
 * get one colour per input, heatmaps one column per input, so inputs sit side by side per layer.
 * Tooltips carry the exact numbers.
 */

export type Spec = Record<string, unknown>;

/** Width the charts of one report row share at 1280 px (the page is 1200 px wide with padding). */
export const contentWidth = 1060;

const fonts = { labelFontSize: 11, titleFontSize: 12 };
const baseConfig = { view: { stroke: null }, axis: fonts, legend: { ...fonts, orient: 'bottom', labelLimit: 400 }, header: { labelFontSize: 12, titleFontSize: 12 } };

/** Rounded to `digits` significant digits (integers stay exact), which keeps big heatmaps small. Non-finite becomes null (no mark). */
export function roundForChart(value: number | undefined, digits = 6): number | null {
  if (value === undefined || !Number.isFinite(value)) return null;
  return Number.isInteger(value) ? value : Number(value.toPrecision(digits));
}

export interface PerLayerPoint {
  /** Input name. */
  trace: string;
  /** Model layer index. */
  layer: number;
  value: number | undefined;
  /** Extra exact numbers for the tooltip. */
  details?: Record<string, number | undefined>;
}

export interface PerLayerChartOptions {
  title: string;
  /** A line under the title, e.g. why only one line is drawn. */
  subtitle?: string;
  /** Inputs in the order of the command line: the legend's order, the first drawn solid and the others dashed. */
  order?: string[];
  yTitle: string;
  /** A horizontal reference line, e.g. chance or the perfect value. */
  rule?: { value: number; label: string };
  /** Fixed y range, e.g. [0, 1] for shares. */
  yDomain?: [number, number];
  /** Counts: whole-number ticks. */
  integer?: boolean;
  width?: number;
  height?: number;
}

/** One line per input over the model layers. */
export function perLayerChart(points: PerLayerPoint[], options: PerLayerChartOptions): Spec {
  const { title, subtitle, order, yTitle, rule, yDomain, integer = false, width = 480, height = 200 } = options;
  const several = traceCount(points) > 1;
  const details = detailFields(points);
  const values = points.map((p) => ({ trace: p.trace, layer: p.layer, value: roundForChart(p.value), ...details.values(p.details) }));
  // Every per-layer quantity of the reports is a share, a count or a non-negative ratio: its axis starts at
  // zero, so a small difference is not drawn as a large one (analyses.md, "Honest small samples").
  const scale = yDomain ? { domain: yDomain } : { zero: true };
  const y = { field: 'value', type: 'quantitative', title: yTitle, scale, ...(integer ? { axis: { format: 'd', tickMinStep: 1 } } : {}) };
  const lines: Spec = {
    mark: { type: 'line', point: { size: 30 }, tooltip: true },
    encoding: {
      x: { field: 'layer', type: 'quantitative', title: 'layer', axis: { format: 'd', tickMinStep: 1 }, scale: { zero: false } },
      y,
      color: { field: 'trace', type: 'nominal', title: 'input', legend: several ? {} : null, ...(order ? { scale: { domain: order }, sort: order } : {}) },
      // Lines that coincide stay visible: the first input is solid, the others dashed over it.
      ...(several ? { strokeDash: { field: 'trace', type: 'nominal', title: 'input', ...(order ? { scale: { domain: order, range: dashes }, sort: order } : { scale: { range: dashes } }) } } : {}),
      tooltip: [
        { field: 'trace', title: 'input' },
        { field: 'layer', title: 'layer' },
        { field: 'value', title: yTitle },
        ...details.tooltip,
      ],
    },
  };
  const layers: Spec[] = [lines];
  if (rule) {
    layers.push({
      data: { values: [{ value: rule.value, label: rule.label }] },
      mark: { type: 'rule', strokeDash: [4, 4], color: '#888' },
      encoding: { y: { field: 'value', type: 'quantitative' }, tooltip: [{ field: 'label', title: 'reference' }, { field: 'value', title: 'value' }] },
    });
  }
  return { title: subtitle ? { text: title, subtitle } : title, width, height, data: { values }, layer: layers, config: baseConfig };
}

const dashes = [[1, 0], [6, 4], [2, 3], [10, 3, 2, 3]];

/** Charts one above the other (a chart and its difference view). */
export function chartColumn(charts: Spec[]): Spec {
  return { vconcat: charts.map(withoutConfig), config: baseConfig };
}

/** Charts in rows of `columns`, for small multiples of related figures. */
export function chartGrid(charts: Spec[], columns = 2): Spec {
  const rows: Spec[] = [];
  for (let i = 0; i < charts.length; i += columns) rows.push({ hconcat: charts.slice(i, i + columns).map(withoutConfig) });
  return { vconcat: rows, config: baseConfig };
}

export interface HeatmapCell {
  trace: string;
  /** Row and column keys (drawn in numeric order). */
  row: number;
  column: number;
  value: number | undefined;
  details?: Record<string, number | undefined>;
}

export interface HeatmapOptions {
  title: string;
  rowTitle: string;
  columnTitle: string;
  valueTitle: string;
  /** Diverging colours around `mid` (e.g. 1 for relative load and lift), else sequential from 0. */
  mid?: number;
  /** Colour range; values outside are clamped (tooltips keep the exact value). */
  domain?: [number, number];
  /** Largest width of one input's heatmap. */
  maxWidth?: number;
  /** Names for row keys (e.g. labels), else the numbers are shown. */
  rowNames?: string[];
  subtitle?: string;
  /** Inputs in the order of the command line: the order of the panels. */
  order?: string[];
}

/** A grid of cells, one panel per input side by side. */
export function heatmap(cells: HeatmapCell[], options: HeatmapOptions): Spec {
  const { rowTitle, columnTitle, valueTitle, mid, domain, rowNames, order } = options;
  const title = options.subtitle ? { text: options.title, subtitle: options.subtitle } : options.title;
  const inputs = traceCount(cells);
  const columns = new Set(cells.map((c) => c.column)).size;
  const rows = new Set(cells.map((c) => c.row)).size;
  // Each panel also carries its row labels (at most 120 px) and the row a legend.
  const maxWidth = options.maxWidth ?? Math.floor((contentWidth - 160) / inputs) - 60;
  // Few columns (a histogram) get wide cells; many (experts) as wide as fits.
  const step = Math.max(2, Math.min(columns <= 16 ? 36 : 18, Math.floor(maxWidth / Math.max(1, columns))));
  // Short field names and 4 digits: a 256-expert co-activation map has 65,280 cells per input.
  const details = detailFields(cells, 4);
  const values = cells.map((c) => ({
    ...(inputs > 1 ? { t: c.trace } : {}),
    r: rowNames ? rowNames[c.row] : c.row,
    c: c.column,
    v: roundForChart(c.value, 4),
    ...details.values(c.details),
  }));
  const scale: Spec = mid !== undefined ? { scheme: 'blueorange', domainMid: mid } : { scheme: 'viridis' };
  if (domain) Object.assign(scale, { domain, clamp: true });
  // Vega hides labels that would overlap, so 256 experts still get a readable axis.
  const axis = (count: number) => ({ labelOverlap: true, labelFontSize: count > 64 ? 8 : 10, labelLimit: 120 });
  // Named rows (labels) need room for their text; numbered rows (layers) share about 360 px.
  const rowStep = rowNames ? Math.max(step, 16) : Math.max(2, Math.min(18, Math.floor(360 / Math.max(1, rows))));
  const spec: Spec = {
    width: { step },
    height: { step: rowStep },
    mark: { type: 'rect', tooltip: true },
    encoding: {
      x: { field: 'c', type: 'ordinal', title: columnTitle, axis: axis(columns), sort: 'ascending' },
      y: { field: 'r', type: 'ordinal', title: rowTitle, axis: axis(rows), sort: rowNames ? null : 'ascending' },
      color: { field: 'v', type: 'quantitative', title: valueTitle, scale, legend: { orient: 'right', gradientLength: Math.max(60, Math.min(160, rows * rowStep)) } },
      tooltip: [
        ...(inputs > 1 ? [{ field: 't', title: 'input' }] : []),
        { field: 'r', title: rowTitle },
        { field: 'c', title: columnTitle },
        { field: 'v', title: valueTitle },
        ...details.tooltip,
      ],
    },
  };
  if (inputs === 1) return { title, data: { values }, ...spec, config: baseConfig };
  return {
    title,
    data: { values },
    facet: { column: { field: 't', type: 'nominal', title: null, header: { labelFontWeight: 'bold' }, ...(order ? { sort: order } : {}) } },
    spec,
    resolve: { scale: { x: 'independent', y: 'independent' } },
    config: baseConfig,
  };
}

/** Cells a heatmap spec draws: past this, canvas draws faster than SVG. */
export function rendererFor(cells: number): 'svg' | 'canvas' {
  return cells > 20000 ? 'canvas' : 'svg';
}

function traceCount(items: Array<{ trace: string }>): number {
  return new Set(items.map((item) => item.trace)).size;
}

/**
 * Tooltip-only numbers go in fields d0, d1, ... titled with their description (a description used as a
 * field name would break on "." or "[", which vega-lite reads as nested access).
 */
function detailFields(items: Array<{ details?: Record<string, number | undefined> }>, digits = 6) {
  const titles = [...new Set(items.flatMap((item) => Object.keys(item.details ?? {})))];
  return {
    tooltip: titles.map((title, i) => ({ field: `d${i}`, title })),
    values: (details: Record<string, number | undefined> = {}) => Object.fromEntries(titles.map((title, i) => [`d${i}`, roundForChart(details[title], digits)])),
  };
}

/** Sub-charts of a concat may not carry their own config. */
function withoutConfig(spec: Spec): Spec {
  const { config: _config, ...rest } = spec;
  return rest;
}
