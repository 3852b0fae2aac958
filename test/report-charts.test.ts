import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { chartGrid, heatmap, perLayerChart, rendererFor, roundForChart, type Spec } from '../src/page/charts.js';
import { matchesSnapshot, snapshotJson } from './helpers/snapshot.js';

/** Chart specs against snapshots in test/snapshots (numbers are already rounded by the chart code). */
function matchesSpecSnapshot(name: string, spec: Spec): void {
  matchesSnapshot(`${name}.json`, snapshotJson(spec));
}

/** Every mark of a spec, through layers, concats and facets. */
function marks(spec: Spec): Spec[] {
  const children = ['layer', 'hconcat', 'vconcat'].flatMap((key) => (Array.isArray(spec[key]) ? (spec[key] as Spec[]) : []));
  if (spec.spec) children.push(spec.spec as Spec);
  return [...(spec.mark ? [spec] : []), ...children.flatMap(marks)];
}

const points = [
  { trace: 'a', layer: 1, value: 0.5, details: { kappa: 1 / 3 } },
  { trace: 'a', layer: 2, value: 0.25, details: { kappa: 0 } },
  { trace: 'b', layer: 1, value: Number.NaN },
];

describe('report charts', () => {
  test('perLayerChart: one line per input, a reference rule, tooltips with the details', () => {
    const spec = perLayerChart(points, { title: 'overlap', yTitle: 'overlap', rule: { value: 0.25, label: 'chance' }, yDomain: [0, 1] });
    matchesSpecSnapshot('report-per-layer', spec);
    const values = (spec.data as { values: Array<Record<string, unknown>> }).values;
    // NaN has no mark; detail numbers get their own field, titled for the tooltip.
    assert.deepEqual(values[2], { trace: 'b', layer: 1, value: null, d0: null });
    assert.equal(values[0].d0, 0.333333);
    const [line, rule] = marks(spec);
    assert.deepEqual((line.encoding as { tooltip: unknown[] }).tooltip.at(-1), { field: 'd0', title: 'kappa' });
    assert.equal((rule.mark as { type: string }).type, 'rule');
  });

  test('heatmap: one panel per input with short fields; a single input is not faceted', () => {
    const cells = [0, 1].flatMap((row) => [0, 1, 2].map((column) => ({ trace: row === 0 ? 'x' : 'y', row, column, value: (row + 1) / (column + 3), details: { load: column } })));
    const two = heatmap(cells, { title: 'load', rowTitle: 'layer', columnTitle: 'expert', valueTitle: 'relative', mid: 1, domain: [0, 3] });
    matchesSpecSnapshot('report-heatmap', two);
    assert.deepEqual((two.facet as { column: { field: string } }).column.field, 't');
    const one = heatmap(cells.filter((c) => c.trace === 'x'), { title: 'load', rowTitle: 'layer', columnTitle: 'expert', valueTitle: 'relative' });
    assert.equal(one.facet, undefined);
    assert.deepEqual((one.data as { values: unknown[] }).values[1], { r: 0, c: 1, v: 0.25, d0: 1 });
  });

  test('every mark has a tooltip and inline data; big heatmaps draw on canvas', () => {
    const grid = chartGrid([perLayerChart(points, { title: 'a', yTitle: 'a' }), perLayerChart(points, { title: 'b', yTitle: 'b', integer: true })]);
    for (const mark of marks(grid)) assert.ok((mark.encoding as { tooltip?: unknown }).tooltip, 'tooltip');
    assert.ok(!JSON.stringify(grid).includes('"url"'));
    assert.equal(rendererFor(64 * 63), 'svg');
    assert.equal(rendererFor(256 * 255), 'canvas');
    assert.equal(roundForChart(1234567.891, 4), 1235000);
    assert.equal(roundForChart(42, 2), 42);
  });
});
