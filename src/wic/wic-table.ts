import Table from 'cli-table3';
import { compactRows } from '../terminal-table.js';
import type { WicJson } from './wic-result.js';

/** The per-layer WiC figures as a terminal table; empty cells where a condition has no pairs. */
export function wicTable(wic: WicJson): string {
  const table = new Table({
    head: ['layer', 'overlap same', 'overlap diff', 'gap', 'kappa same', 'kappa diff', 'AUC'],
    style: { head: [], border: [] },
    chars: compactRows,
  });
  const cell = (value: number | null) => (value === null ? '' : value.toFixed(3));
  for (const row of wic.per_layer) {
    const gap = row.overlap_same !== null && row.overlap_diff !== null ? row.overlap_same - row.overlap_diff : null;
    table.push([row.layer, cell(row.overlap_same), cell(row.overlap_diff), cell(gap), cell(row.kappa_same), cell(row.kappa_diff), cell(row.auc)]);
  }
  return table.toString();
}
