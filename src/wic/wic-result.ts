/** What `wic` finds: wic.json's content and what the page and the terminal table show besides. */
import type { SuspectPair } from './suspect-pairs.js';

export const wordTokens = ['last', 'first'] as const;
/** Which sub-token of a word split into several stands for it: its last (the default) or its first. */
export type WordToken = (typeof wordTokens)[number];

/** wic.json, keys in the contract's order. Figures of a condition without pairs are null. */
export interface WicJson {
  layers: number[];
  k: number;
  n_experts: number;
  word_token: WordToken;
  pairs: WicPairJson[];
  /** Sentences whose word at the given index does not look like the target (suspect-pairs.ts). */
  suspect_pairs: SuspectPair[];
  per_layer: WicLayerJson[];
}

export interface WicPairJson {
  index: number;
  word: string;
  /** Gold: same sense. */
  label: boolean;
  skipped: boolean;
  /** Global token indices [first, last] (inclusive) of the word in each sentence; null where it was not found (skipped pairs). */
  tokens: [[number, number] | null, [number, number] | null];
}

export interface WicLayerJson {
  layer: number;
  overlap_same: number | null;
  overlap_diff: number | null;
  kappa_same: number | null;
  kappa_diff: number | null;
  auc: number | null;
  /** 95% bootstrap intervals [lo, hi] (analyses.md, "Honest small samples"); null where the figure is. */
  overlap_same_ci: [number, number] | null;
  overlap_diff_ci: [number, number] | null;
  auc_ci: [number, number] | null;
}

export interface SkippedPair {
  /** 0-based line number in the data file. */
  index: number;
  problem: string;
  /** Skipped as a suspect pair (the word was found, but does not look like the target). */
  suspect: boolean;
}

export interface WicAnalysis {
  wic: WicJson;
  skipped: SkippedPair[];
  /** Per pair and sentence, the bytes of the word's tokens (null where not found), for the report. */
  wordTokenBytes: Array<[Uint8Array[] | null, Uint8Array[] | null]>;
}

export interface WicResult extends WicAnalysis {
  files: { trace: string; json: string; report: string };
}
