import fs from 'node:fs';
import path from 'node:path';

/**
 * The import graph of a folder of TypeScript sources, read as text: every relative `from '...'` and
 * `import('...')`, type-only imports included (a type cycle still makes two files one concept).
 */
export type ImportGraph = Map<string, string[]>;

export function readImportGraph(root: string): ImportGraph {
  const graph: ImportGraph = new Map();
  const files = fs.readdirSync(root, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
  for (const file of files) {
    const text = fs.readFileSync(path.join(root, file), 'utf8');
    const targets = [...text.matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)].map((match) =>
      path.normalize(path.join(path.dirname(file), match[1].replace(/\.js$/, '.ts'))),
    );
    graph.set(path.normalize(file), [...new Set(targets)]);
  }
  return graph;
}

/**
 * Every cycle found by a depth-first walk, each as the files along it with the first repeated at the
 * end; empty when the graph is acyclic. Each cycle is reported once, from the file the walk met first.
 */
export function findCycles(graph: ImportGraph): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (file: string): void => {
    state.set(file, 'open');
    stack.push(file);
    for (const next of graph.get(file) ?? []) {
      if (state.get(next) === 'open') cycles.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of [...graph.keys()].sort()) if (!state.has(file)) visit(file);
  return cycles;
}
