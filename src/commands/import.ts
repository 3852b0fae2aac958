import { Command, Option } from 'commander';
import { InputError } from '../errors.js';
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
import { plural } from '../plural.js';

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

export function importCommand(): Command {
  return new Command('import')
    .summary('turn routed experts recorded by SGLang or vLLM into a trace')
    .description(
      'Reads the routed experts that serving engines return per request and writes a trace that report accepts ' +
        '(without gate weights or token text: the records do not carry them). Each sequence covers its prompt and ' +
        "output tokens minus the last; dense layers are dropped using the model's config.json. Token ids are kept " +
        'where the response has them (vLLM: request "return_token_ids": true) and are -1 elsewhere.\n\n' +
        'SGLang records physical slots when EPLB or redundant experts are on: --plan maps them back to experts with ' +
        'the placement the server ran with (PLAN.json, or the physical_to_logical_map given to --init-expert-location).',
    )
    .argument('<RECORDS...>', 'response files (.jsonl / .json) or .npy arrays')
    .option('--model <MODEL_DIR>', 'model folder whose config.json the server used (default: $MOE_INSPECT_MODEL)')
    .requiredOption('--out <TRACE.safetensors>', 'trace to write')
    .option('--plan <PLAN.json>', "placement plan (balance's PLAN.json) whose phy2log maps SGLang's physical slots to experts")
    .addOption(new Option('--engine <engine>', 'engine that wrote the records (needed for .npy)').choices(['sglang', 'vllm']))
    .addHelpText(
      'after',
      '\nRecords (JSON lines of responses, one JSON document, or saved server-sent events; or .npy arrays):\n' +
        '  SGLang POST /generate             meta_info.routed_experts: base64 int32 [tokens, hidden layers, top_k]\n' +
        '  SGLang /v1/completions, chat      sglext.routed_experts: the same, at the response level\n' +
        '  vLLM   /v1/completions, chat      choices[i].routed_experts: base64 .npy (older: nested lists, or\n' +
        '                                    prompt_routed_experts + routed_experts in v0.21)\n' +
        '  .npy                              [tokens, layers, top_k], one sequence per file (needs --engine)\n' +
        'Servers need --enable-return-routed-experts; SGLang requests also "return_routed_experts": true.\n' +
        '\nExamples:\n' +
        '  moe-inspect import responses.jsonl --model DeepSeek-V3 --out served.trace.safetensors\n' +
        '  moe-inspect import sglang.jsonl --model DeepSeek-V3 --plan plan.json --out served.trace.safetensors\n' +
        '  moe-inspect report served.trace.safetensors --out served.html',
    )
    .action((recordFiles: string[], flags: Omit<ImportOptions, 'model'> & { model?: string }) => {
      const model = flags.model ?? process.env.MOE_INSPECT_MODEL;
      if (!model) throw new InputError('import needs the model: pass --model MODEL_DIR or set MOE_INSPECT_MODEL', 'usage-no-model');
      const routing = runImport(recordFiles, { ...flags, model });
      for (const note of routing.notes) process.stderr.write(`${note}\n`);
      const sequences = routing.promptOffsets.length - 1;
      process.stdout.write(
        `imported ${plural(sequences, 'sequence')}, ${plural(routing.tokenIds.length, 'token')}, ${plural(routing.layers.length, 'MoE layer')} from ${routing.engine} records; wrote ${flags.out}\n`,
      );
    });
}
