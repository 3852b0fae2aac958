import {
  fitToModel,
  readMoeLayout,
  readPhysicalMap,
  readServingRecords,
  type Engine,
  type ImportedRouting,
  type ServingRecords,
} from '../loaders/serving-records.js';
import { writeTrace, type TraceContent } from '../trace.js';
import { checkOutputFiles } from '../files.js';

export interface ImportOptions {
  /** Model folder with the config.json the records were served with. */
  model: string;
  out: string;
  /** PLAN.json whose phy2log maps SGLang's physical slots back to logical experts. */
  plan?: string;
  /** Which engine wrote the records; required for `.npy`, checked against JSON records. */
  engine?: Engine;
}

/** Reads every records file, fits the routing to the model, and writes it as a trace (without weights or text). */
export function runImport(recordFiles: string[], options: ImportOptions): ImportedRouting {
  checkOutputFiles(options.out);
  const layout = readMoeLayout(options.model);
  const plan = options.plan === undefined ? undefined : readPhysicalMap(options.plan);
  const records = recordFiles.map((file) => readServingRecords(file, layout, options.engine));
  const merged: ServingRecords = { sequences: records.flatMap((r) => r.sequences), notes: records.flatMap((r) => r.notes) };
  const routing = fitToModel(merged, layout, plan);

  const content: TraceContent = {
    metadata: {
      model_type: layout.modelType,
      n_routed_experts: layout.experts,
      num_experts_per_tok: layout.k,
      model_config: JSON.stringify(layout.config),
      model_dir: options.model,
      labels: [],
      source: `import:${routing.engine}`,
      imported_from: recordFiles,
      ...(options.plan === undefined ? {} : { physical_to_logical_plan: options.plan }),
    },
    layers: routing.layers,
    tokenIds: routing.tokenIds,
    promptOffsets: routing.promptOffsets,
    topkIds: [routing.topkIds],
  };
  writeTrace(options.out, content);
  return routing;
}
