/**
 * One row of SUMMARY.json's per_layer (contract.md, "Report summary"): what every figure reports for one
 * MoE layer of one input. A key whose input is missing is absent.
 */
export interface LayerSummary {
  trace: string;
  layer: number;
  tokens?: number;
  maxvio: number;
  cv: number;
  entropy: number;
  gini: number;
  dead: number;
  hot_share: number;
  balancedness?: number;
  expert_balance_loss?: number;
  device_balance_loss?: number;
  same_token_overlap?: number;
  groups_per_token?: number;
  gpus_per_token?: number;
}

/**
 * The per-layer keys in contract.md's order, which is the order of SUMMARY.json's keys, of the terminal
 * table's columns and of the page's table of every number. `digits`: decimals in the terminal table;
 * `terminal` absent: not in the terminal table.
 */
export const layerSummaryColumns: Array<{ key: keyof LayerSummary; page: string; terminal?: string; digits?: number }> = [
  { key: 'trace', page: 'input', terminal: 'input' },
  { key: 'layer', page: 'layer', terminal: 'layer', digits: 0 },
  { key: 'tokens', page: 'tokens' },
  { key: 'maxvio', page: 'MaxVio', terminal: 'MaxVio', digits: 3 },
  { key: 'cv', page: 'CV', terminal: 'CV', digits: 3 },
  { key: 'entropy', page: 'entropy', terminal: 'entropy', digits: 3 },
  { key: 'gini', page: 'Gini', terminal: 'Gini', digits: 3 },
  { key: 'dead', page: 'dead', terminal: 'dead', digits: 0 },
  { key: 'hot_share', page: 'hot share', terminal: 'hot share', digits: 3 },
  { key: 'balancedness', page: 'balancedness', terminal: 'balanced', digits: 3 },
  { key: 'expert_balance_loss', page: 'expert loss', terminal: 'exp loss', digits: 3 },
  { key: 'device_balance_loss', page: 'device loss', terminal: 'dev loss', digits: 3 },
  { key: 'same_token_overlap', page: 'same-token overlap', terminal: 'same-tok ovl', digits: 3 },
  { key: 'groups_per_token', page: 'groups / token', terminal: 'groups/tok', digits: 2 },
  { key: 'gpus_per_token', page: 'GPUs / token', terminal: 'GPUs/tok', digits: 2 },
];

/** The row with its keys in contract.md's order and undefined values left out. */
export function orderedRow(values: Partial<LayerSummary>): LayerSummary {
  const row: Partial<Record<keyof LayerSummary, unknown>> = {};
  for (const { key } of layerSummaryColumns) if (values[key] !== undefined) row[key] = values[key];
  return row as LayerSummary;
}
