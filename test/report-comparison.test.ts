import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { HeatmapCell, PerLayerPoint, Spec } from '../src/page/charts.js';
import { comparedHeatmap, comparedLineChart } from '../src/report/comparison.js';

const options = { title: 'MaxVio', yTitle: 'MaxVio' };
type Values = Array<Record<string, unknown>>;
const data = (spec: Spec) => (spec.data as { values: Values }).values;

describe('report comparisons', () => {
  test('a line chart of inputs that agree within 1e-6 at every layer draws the first input once, saying so', () => {
    const points: PerLayerPoint[] = [
      { trace: 'B', layer: 1, value: 0.5 },
      { trace: 'B', layer: 2, value: 0.25 },
      { trace: 'A', layer: 1, value: 0.5 + 4e-7 },
      { trace: 'A', layer: 2, value: 0.25 - 9e-7 },
    ];
    const spec = comparedLineChart(points, options);
    assert.deepEqual([...new Set(data(spec).map((v) => v.trace))], ['B']);
    assert.deepEqual(spec.title, { text: 'MaxVio', subtitle: 'B and A agree within 1e-6 at every layer: one line drawn' });
  });

  test('inputs that differ keep command order and get a difference view of each other input minus the first', () => {
    const points: PerLayerPoint[] = [
      { trace: 'B', layer: 1, value: 0.5 },
      { trace: 'B', layer: 2, value: 0.25 },
      { trace: 'A', layer: 1, value: 0.75 },
      { trace: 'A', layer: 2, value: 0.25 + 2e-6 },
    ];
    const spec = comparedLineChart(points, options);
    const [main, difference] = spec.vconcat as Spec[];
    const colour = ((main.layer as Spec[])[0].encoding as Record<string, { scale?: { domain: string[] } }>).color;
    assert.deepEqual(colour.scale!.domain, ['B', 'A']);
    const diffs = data(difference).map((v) => [v.trace, v.layer, v.value]);
    assert.deepEqual(diffs, [['A − B', 1, 0.25], ['A − B', 2, 0.000002]]);
  });

  test("an input's companion lines (its shuffled-label baseline) are drawn beside it and never compared", () => {
    const points: PerLayerPoint[] = [
      { trace: 'B', layer: 1, value: 0.5 },
      { trace: 'A', layer: 1, value: 0.75 },
    ];
    const companions = new Map([
      ['B', [{ trace: 'B, shuffled', layer: 1, value: 0.125 }]],
      ['A', [{ trace: 'A, shuffled', layer: 1, value: 0.0625 }]],
    ]);
    const [main, difference] = comparedLineChart(points, options, companions).vconcat as Spec[];
    const colour = ((main.layer as Spec[])[0].encoding as Record<string, { scale?: { domain: string[] } }>).color;
    assert.deepEqual(colour.scale!.domain, ['B', 'A', 'B, shuffled', 'A, shuffled']);
    assert.deepEqual(data(difference).map((v) => [v.trace, v.value]), [['A − B', 0.25]]);
    // Inputs that agree: one input drawn, with its own companion only.
    const agreeing = comparedLineChart([points[0], { ...points[0], trace: 'A' }], options, companions);
    assert.deepEqual(data(agreeing).map((v) => v.trace), ['B', 'B, shuffled']);
  });

  test('a heatmap of inputs that agree cell by cell is one panel; one that differs keeps the panels in command order', () => {
    const cells = (shift: number): HeatmapCell[] => [0, 1].flatMap((row) => [0, 1, 2].map((column) => ({ trace: '', row, column, value: row + column / 4 + shift })));
    const same = [...cells(0).map((c) => ({ ...c, trace: 'Z' })), ...cells(5e-7).map((c) => ({ ...c, trace: 'A' }))];
    const heat = { title: 'load', rowTitle: 'layer', columnTitle: 'expert', valueTitle: 'load' };
    const one = comparedHeatmap(same, heat);
    assert.equal(one.facet, undefined);
    assert.equal(data(one).length, 6);
    const differ = [...cells(0).map((c) => ({ ...c, trace: 'Z' })), ...cells(0).map((c, i) => ({ ...c, trace: 'A', value: i === 4 ? 9 : c.value }))];
    const two = comparedHeatmap(differ, heat);
    assert.deepEqual((two.facet as { column: { sort: string[] } }).column.sort, ['Z', 'A']);
  });
});
