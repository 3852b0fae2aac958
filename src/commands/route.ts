import { Command, Option } from 'commander';
import { route, routeDefaults } from '../route/route.js';
import { devices, parseDevice } from '../runtime/execution-provider.js';
import { modelOption, modelOptionHelp } from './model-option.js';
import { gibibytes, positiveInteger } from './parse.js';
import { plural } from '../plural.js';

export function routeCommand(): Command {
  return new Command('route')
    .summary('run prompts through a model and record which experts every token is routed to')
    .description(
      'Runs every prompt through the model with onnxruntime (fp32 from the stored weights) and writes a routing trace:\n' +
        'for each token and MoE layer, the chosen experts, their gate weights and the routing scores (contract.md).\n' +
        'Work goes in chunks of whole prompts; finished chunks are kept in TRACE.partial/ until the trace is complete.\n' +
        'Ctrl-C (SIGINT) or SIGTERM stops at the next layer or chunk, after saving; --resume continues from there.\n' +
        'Architectures (config.json model_type): deepseek, deepseek_v2, deepseek_v3 (FP8 included), mixtral, qwen2_moe, olmoe.\n' +
        'A MoE layer whose routed experts exceed --expert-memory in fp32 (DeepSeek-V3: 45 GB) loads them one at a time.',
    )
    .argument('<prompts>', 'UTF-8 text file, one prompt per line (blank lines skipped), or .jsonl of {"text", "label"?}')
    .option('--model <dir>', modelOptionHelp('model folder: config.json, safetensors (sharded or not), tokenizer.json'))
    .option('--out <trace>', 'output trace (default: PROMPTS with .trace.safetensors)')
    .addOption(new Option('--device <device>', 'execution provider; a provider that fails to load falls back to cpu with a warning').choices(devices).default(routeDefaults.device))
    .option('--batch-tokens <n>', 'tokens per chunk of whole prompts', positiveInteger('--batch-tokens'), routeDefaults.batchTokens)
    .option('--max-prompt-tokens <n>', 'truncate longer prompts to N tokens instead of refusing prompts longer than the model allows', positiveInteger('--max-prompt-tokens'))
    .option('--save-probs', 'also store every expert\'s routing score per token (F16, T x L x E)', routeDefaults.saveProbs)
    .option('--speculate', 'also record each MoE layer\'s router applied to the previous layer\'s FFN input (spec_topk_ids, for report --prefetch speculative)', routeDefaults.speculate)
    .option('--resume', 'continue an interrupted run from its last finished chunk or layer', routeDefaults.resume)
    .option('--no-bos', 'do not add the BOS token even where tokenizer_config.json asks for it')
    .addOption(
      new Option('--expert-memory <GiB>', 'fp32 size above which a MoE layer\'s routed experts are loaded one at a time')
        .argParser(gibibytes('--expert-memory'))
        .default(routeDefaults.expertBudgetBytes, String(routeDefaults.expertBudgetBytes / 1024 ** 3)),
    )
    .addOption(
      new Option('--weight-memory <GiB>', 'fp32 size up to which every layer stays loaded; above, layers are loaded one at a time and each pass saves its state after every layer')
        .argParser(gibibytes('--weight-memory'))
        .default(routeDefaults.weightBudgetBytes, String(routeDefaults.weightBudgetBytes / 1024 ** 3)),
    )
    .addHelpText('after', '\nExample:\n  moe-inspect synth --preset tiny --planted --out tiny-model\n  moe-inspect route prompts.txt --model tiny-model --out prompts.trace.safetensors')
    .action(async (prompts: string, flags) => {
      const model = modelOption(flags.model);
      const out = flags.out ?? defaultTracePath(prompts);
      const result = await route({
        prompts,
        model,
        out,
        device: parseDevice(flags.device),
        batchTokens: flags.batchTokens,
        maxPromptTokens: flags.maxPromptTokens,
        saveProbs: flags.saveProbs,
        speculate: flags.speculate,
        resume: flags.resume,
        bos: flags.bos,
        expertBudgetBytes: flags.expertMemory,
        weightBudgetBytes: flags.weightMemory,
      });
      const pass = result.resumedPass && `, and pass ${result.resumedPass.pass} of ${result.resumedPass.passes} after layer ${result.resumedPass.afterLayer}`;
      const resumed = result.resumedChunks > 0 || pass ? ` (${result.resumedChunks} of ${plural(result.chunks, 'chunk')} from the interrupted run${pass ?? ''})` : '';
      const skipped = [
        result.blankLines > 0 ? `${plural(result.blankLines, 'blank line')} skipped` : '',
        result.truncatedPrompts > 0 ? `${plural(result.truncatedPrompts, 'prompt')} cut to ${flags.maxPromptTokens} tokens by --max-prompt-tokens` : '',
      ].filter(Boolean);
      const read = skipped.length > 0 ? ` (${skipped.join(', ')})` : '';
      process.stdout.write(`routed ${plural(result.tokens, 'token')} of ${plural(result.prompts, 'prompt')}${read} on ${result.provider}${resumed} -> ${result.out}\n`);
    });
}

export function defaultTracePath(prompts: string): string {
  return prompts.replace(/\.(txt|jsonl)$/i, '') + '.trace.safetensors';
}
