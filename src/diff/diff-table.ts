import Table from 'cli-table3';
import type { DiffResult } from './diff-result.js';

/** Rows of the terminal summary of the most changed experts. */
const summaryRows = 10;

/** The most changed experts, for the terminal. */
export function weightsTable({ weights }: DiffResult): string {
  const table = new Table({ head: ['rank', 'layer', 'expert', 'rel change', 'router cosine'], style: { head: [], border: [] } });
  weights.ranked.slice(0, summaryRows).forEach((x, i) => table.push([i + 1, x.layer, x.expert, fixed(x.relChange), fixed(x.routerCosine)]));
  return `most changed experts (of ${weights.ranked.length}):\n${table.toString()}`;
}

/** Routing agreement per layer, for the terminal (a diff with --prompts). */
export function routingTable({ routing }: DiffResult): string {
  const table = new Table({ head: ['layer', 'overlap', 'top-1 agreement', 'load JS (bits)'], style: { head: [], border: [] } });
  for (const l of routing!.layers) table.push([l.layer, fixed(l.overlap), fixed(l.top1Agreement), fixed(l.loadJsDivergence)]);
  return `routing agreement per layer:\n${table.toString()}`;
}

function fixed(x: number): string {
  return Number.isFinite(x) ? x.toFixed(4) : String(x);
}
