import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test } from 'node:test';
import { repoRoot } from './helpers/cli.js';
import { findCycles, readImportGraph, type ImportGraph } from './helpers/import-graph.js';

describe('import cycles', () => {
  test('the walker finds a planted cycle, a self-import and none in a tree', () => {
    const graph = (edges: Record<string, string[]>): ImportGraph => new Map(Object.entries(edges));
    assert.deepEqual(findCycles(graph({ 'a.ts': ['b.ts'], 'b.ts': ['c.ts'], 'c.ts': ['a.ts'], 'd.ts': ['a.ts'] })), [['a.ts', 'b.ts', 'c.ts', 'a.ts']]);
    assert.deepEqual(findCycles(graph({ 'a.ts': ['a.ts'] })), [['a.ts', 'a.ts']]);
    // A diamond shares files without a cycle.
    assert.deepEqual(findCycles(graph({ 'a.ts': ['b.ts', 'c.ts'], 'b.ts': ['d.ts'], 'c.ts': ['d.ts'], 'd.ts': [] })), []);
  });

  test('the graph is read from the sources: relative imports resolved to .ts files', () => {
    const graph = readImportGraph(path.join(repoRoot(), 'src'));
    assert.ok(graph.get('cli.ts')!.includes(path.normalize('commands/report.ts')));
    assert.ok(graph.get(path.normalize('commands/report.ts'))!.includes(path.normalize('report/report.ts')));
    for (const [file, targets] of graph) for (const target of targets) assert.ok(graph.has(target), `${file} imports ${target}, which is not a source file`);
  });

  test('src/ has no import cycle', () => {
    const cycles = findCycles(readImportGraph(path.join(repoRoot(), 'src')));
    assert.deepEqual(cycles.map((cycle) => cycle.join(' -> ')), []);
  });

  test('analysis/ does not import page/: the figures are computed without knowing how a page shows them', () => {
    const graph = readImportGraph(path.join(repoRoot(), 'src'));
    const page = path.normalize('page/');
    const uses = [...graph].flatMap(([file, targets]) => (file.startsWith(path.normalize('analysis/')) ? targets.filter((t) => t.startsWith(page)).map((t) => `${file} -> ${t}`) : []));
    assert.deepEqual(uses, []);
  });
});
