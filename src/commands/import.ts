import { Command, Option } from 'commander';
import { runImport, type ImportOptions } from '../import/import.js';
import { modelOption, modelOptionHelp } from './model-option.js';
import { plural } from '../plural.js';

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
    .option('--model <MODEL_DIR>', modelOptionHelp('model folder whose config.json the server used'))
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
      const routing = runImport(recordFiles, { ...flags, model: modelOption(flags.model) });
      for (const note of routing.notes) process.stderr.write(`${note}\n`);
      const sequences = routing.promptOffsets.length - 1;
      process.stdout.write(
        `imported ${plural(sequences, 'sequence')}, ${plural(routing.tokenIds.length, 'token')}, ${plural(routing.layers.length, 'MoE layer')} from ${routing.engine} records; wrote ${flags.out}\n`,
      );
    });
}
