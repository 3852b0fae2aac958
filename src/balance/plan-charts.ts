import { roundForChart, type Spec } from '../page/charts.js';

/**
 * Vega-lite specs of the plan page (inline data only, like every chart of the report). Series are
 * named by a `series` field: a policy, "before"/"after", an EP size.
 */
const config = { view: { stroke: null }, axis: { labelFontSize: 11, titleFontSize: 12 }, legend: { labelFontSize: 11, titleFontSize: 12, orient: 'bottom' } };

export interface SeriesPoint {
  series: string;
  x: number;
  y: number | null;
}

/** One line per series over a numeric x axis (layers, steps, bytes). */
export function seriesLineChart(points: SeriesPoint[], options: { title: string; xTitle: string; yTitle: string; seriesTitle: string; yDomain?: [number, number]; width?: number }): Spec {
  const values = points.map((p) => ({ series: p.series, x: p.x, y: roundForChart(p.y ?? undefined) }));
  return {
    title: options.title,
    width: options.width ?? 640,
    height: 240,
    data: { values },
    mark: { type: 'line', point: { size: 24 }, tooltip: true },
    encoding: {
      x: { field: 'x', type: 'quantitative', title: options.xTitle, scale: { zero: false } },
      y: { field: 'y', type: 'quantitative', title: options.yTitle, scale: options.yDomain ? { domain: options.yDomain } : { zero: false } },
      color: { field: 'series', type: 'nominal', title: options.seriesTitle },
      tooltip: tooltip(options),
    },
    config,
  };
}

export interface BarPoint {
  series: string;
  /** The bar's category, e.g. a GPU index. */
  x: number;
  y: number;
}

/** Bars per category, one bar per series side by side (before/after). */
export function groupedBarChart(points: BarPoint[], options: { title: string; xTitle: string; yTitle: string; seriesTitle: string }): Spec {
  const values = points.map((p) => ({ series: p.series, x: p.x, y: roundForChart(p.y) }));
  return {
    title: options.title,
    // About 10 px a bar, at most the page's chart width.
    width: Math.min(900, 10 * points.length + 40),
    height: 220,
    data: { values },
    mark: { type: 'bar', tooltip: true },
    encoding: {
      x: { field: 'x', type: 'ordinal', title: options.xTitle, axis: { labelOverlap: true } },
      xOffset: { field: 'series', type: 'nominal' },
      y: { field: 'y', type: 'quantitative', title: options.yTitle },
      color: { field: 'series', type: 'nominal', title: options.seriesTitle },
      tooltip: tooltip(options),
    },
    config,
  };
}

/** The exact numbers of a point: its series, x and y. */
function tooltip(options: { xTitle: string; yTitle: string; seriesTitle: string }): Spec[] {
  return [
    { field: 'series', title: options.seriesTitle },
    { field: 'x', title: options.xTitle },
    { field: 'y', title: options.yTitle },
  ];
}
