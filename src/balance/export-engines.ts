import type { PlacementPlan } from './balance.js';
import { InputError } from '../errors.js';

/**
 * A plan in the forms the serving engines load (docs/serving-engines.md cites the engine code):
 * - SGLang `--init-expert-location FILE.json`: `{"physical_to_logical_map": [[...], ...]}`, one row per
 *   decoder layer (SGLang's DeepSeek model class declares num_hidden_layers rows);
 * - vLLM `--eplb-config '{"initial_mapping_path": "FILE.jsonl"}'`: one `eplb_initial_mapping` record whose
 *   `initial_global_assignments` are keyed by the 0-based MoE-layer index, as vLLM's
 *   tools/eplb/generate_static_mapping.py writes them.
 * Layers the plan does not cover (dense layers, MoE layers without load) get the engines' own default, the
 * trivial map: slot s holds expert s mod E.
 */
export interface SglangExpertLocation {
  physical_to_logical_map: number[][];
}

export interface VllmInitialMapping {
  record_type: 'eplb_initial_mapping';
  version: 1;
  num_redundant_experts: number;
  num_slots: number;
  initial_global_assignments: Record<string, number[]>;
}

/** `decoderLayers`: the model's num_hidden_layers; row i is decoder layer i. */
export function sglangExpertLocation(plan: PlacementPlan, decoderLayers: number): SglangExpertLocation {
  const beyond = plan.layers.find((layer) => layer >= decoderLayers);
  if (beyond !== undefined) throw new InputError(`the plan has layer ${beyond}, but the model has ${decoderLayers} decoder layers`, 'export-layers');
  return { physical_to_logical_map: Array.from({ length: decoderLayers }, (_, layer) => rowFor(plan, layer)) };
}

/** `moeLayers`: the model's MoE layers (model layer indices, ascending); key j is moeLayers[j]. */
export function vllmInitialMapping(plan: PlacementPlan, moeLayers: number[]): VllmInitialMapping {
  const stray = plan.layers.find((layer) => !moeLayers.includes(layer));
  if (stray !== undefined) throw new InputError(`the plan has layer ${stray}, which is not one of the model's MoE layers (${moeLayers.join(', ')})`, 'export-layers');
  const experts = plan.logcnt[0].length;
  return {
    record_type: 'eplb_initial_mapping',
    version: 1,
    num_redundant_experts: plan.replicas - experts,
    num_slots: plan.replicas,
    initial_global_assignments: Object.fromEntries(moeLayers.map((layer, j) => [String(j), rowFor(plan, layer)])),
  };
}

/** The plan's row for a model layer, or the trivial map where the plan has none. */
function rowFor(plan: PlacementPlan, layer: number): number[] {
  const i = plan.layers.indexOf(layer);
  if (i >= 0) return plan.phy2log[i];
  const experts = plan.logcnt[0].length;
  return Array.from({ length: plan.replicas }, (_, slot) => slot % experts);
}

/** SGLang's file: one row per line so it reads by layer. */
export function formatSglangExpertLocation(location: SglangExpertLocation): string {
  return `{"physical_to_logical_map": [\n  ${location.physical_to_logical_map.map((row) => JSON.stringify(row)).join(',\n  ')}\n]}\n`;
}

/** vLLM's file: JSONL, the one record on one line. */
export function formatVllmInitialMapping(record: VllmInitialMapping): string {
  return `${JSON.stringify(record)}\n`;
}
