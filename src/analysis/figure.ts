import type { MoeConfig } from '../models/config.js';
import type { Trace } from '../trace.js';
import type { Placement } from './balancedness.js';
import type { LayerSummary } from './layer-summary.js';
import type { OffloadingOptions } from './offloading.js';
import type { Cluster } from './placement.js';
import type { RoutingAccumulator } from './routing-stream.js';
import type { TokenRows } from './token-expert-counts.js';

/**
 * The shape of one figure of `report` on a trace. `analyseTrace` (analyse.ts) starts every figure of the
 * list in figures/index.ts, streams the trace as few times as the figures need (every figure's accumulator
 * sees the same blocks), then finishes them in list order and builds each layer's SUMMARY.json row from
 * their `summary`.
 *
 * What a figure gets: the trace and its facts (TraceInput), and `known`: the expert load of every layer
 * (counted once, by analyse, in the first pass) and the GPU placement (contiguous, or EPLB's made from that
 * load). `known` is filled in once the first pass is done, so read it in `endPass` or `finish`, or set
 * `needsPlacement` to start one pass later with it filled in.
 *
 * How to add a figure:
 *   1. write the computation as pure functions (and a RoutingAccumulator if it reads the routing) in
 *      src/analysis/<figure>.ts, tested against a hand-worked case or a second algorithm;
 *   2. wrap it as a Figure in src/analysis/figures/<figure>.ts and add it to the list in figures/index.ts
 *      (its result then appears typed as `analysis.figures.<name>`);
 *   3. if it has SUMMARY.json keys: add them to LayerSummary and layerSummaryColumns (layer-summary.ts, in
 *      contract.md's order) and return them from `summary`;
 *   4. draw it: a section function in report/report-page.ts reading `analysis.figures.<name>`.
 */
export interface Figure<Name extends string = string, Result = unknown> {
  /** The key of its result in InputAnalysis.figures. */
  name: Name;
  /** Streams only once the placement is known (an EPLB placement is made from the load: one pass later). */
  needsPlacement?: boolean;
  /** Starts the figure on one trace; undefined when the trace lacks what it needs (note why). */
  start(input: TraceInput, known: Known): FigureRun<Result> | undefined;
  /** Its SUMMARY.json keys for layer l (an index into the trace's layers). */
  summary?(result: Result, l: number): Partial<LayerSummary>;
}

/** A figure at work on one trace. */
export interface FigureRun<Result> {
  /** Passes over the trace it streams: 0 when it works from `known` alone. */
  passes: number;
  /** Its accumulator for its pass p, made when the pass begins, so only one pass's tables are held at a time. */
  accumulator?(pass: number): RoutingAccumulator;
  /** Called after its pass p. */
  endPass?(pass: number): void;
  /**
   * The figure, once every pass is done; undefined when there is nothing to show (note why). A promise where the
   * work runs on other threads (the offloading figure's cache simulations).
   */
  finish(): Result | undefined | Promise<Result | undefined>;
}

/** The trace a figure runs on, and the facts every figure needs. */
export interface TraceInput {
  trace: Trace;
  /** Model layer index of each recorded layer; per-layer results follow this order. */
  layers: number[];
  /** T tokens, L recorded layers, K experts per token, E experts per layer. */
  T: number;
  L: number;
  K: number;
  E: number;
  /** The model's routing as route reads it from the config.json the trace records; undefined where unreadable (noted). */
  config: MoeConfig | undefined;
  cluster: Cluster;
  /** Indices into `layers` of the layers shown in detail (co-activation, top tokens). */
  detail: number[];
  /** special[t] = 1 for tokens with no prompt text (BOS); undefined where the trace has no text. */
  special?: Uint8Array;
  /** Token ids that occur at least twice, as rows of the per-token-id tables. */
  rows: TokenRows;
  /** Memory for the per-token-id tables of one pass. */
  tableBudgetBytes?: number;
  /** Seed of the resampling (shuffled labels); the same seed gives the same report. */
  seed: number;
  /** --cache and --prefetch, when asked (the offloading figure runs only then). */
  offloading?: OffloadingOptions;
  /** Adds a note to the report (and stderr): what was left out or assumed, and why. */
  note(text: string): void;
}

/** What the first pass finds, for every figure: filled in once it is done. */
export interface Known {
  /** [L][E] tokens per expert. */
  load: number[][];
  /** GPU placement of each layer's experts. */
  placements: Placement[];
}
