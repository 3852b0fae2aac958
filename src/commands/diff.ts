import { Command, Option } from 'commander';
import { diffCheckpoints } from '../diff/diff.js';
import { routingTable, weightsTable } from '../diff/diff-table.js';
import { routeDefaults } from '../route/route.js';
import { devices, parseDevice } from '../runtime/execution-provider.js';
import { plural } from '../plural.js';

export function diffCommand(): Command {
  return new Command('diff')
    .summary('compare two checkpoints: which experts changed, and (with prompts) how routing changed')
    .description(
      [
        'Compares checkpoint B against checkpoint A of the same architecture (e.g. a base model and its fine-tune).',
        'Weights (always): streams both checkpoints tensor by tensor, so any size works, and compares values whatever ' +
          'the dtype (F32, BF16, FP8). Per MoE layer and routed expert: the relative change ||W_B - W_A|| / ||W_A|| over ' +
          "its gate, up and down matrices and the cosine similarity of its router rows; per layer the router's relative " +
          'change. Most changed experts first.',
        'Routing (with --prompts; both models need the same tokenizer): routes the prompts through both models and ' +
          'reports per layer the overlap of the chosen experts, top-1 agreement and the Jensen-Shannon divergence of ' +
          'the loads, and the tokens whose routing changed most. The two traces are kept next to the output ' +
          '(DIFF.html.a.trace.safetensors, DIFF.html.b.trace.safetensors) and reused while models and prompts are unchanged.',
        'Both checkpoints must have the same architecture and expert layout; otherwise the error names the first difference.',
      ].join('\n\n'),
    )
    .argument('<model_a>', 'model folder A, the reference (e.g. the base model)')
    .argument('<model_b>', 'model folder B, compared against A (e.g. the fine-tune)')
    .option('--prompts <file>', 'also compare routing on these prompts: one per line, or .jsonl of {"text", "label"?}')
    .requiredOption('--out <DIFF.html>', 'HTML report to write')
    .option('--json <DIFF.json>', 'also write the figures as JSON: experts ranked by change, per-layer changes, routing agreement')
    .addOption(new Option('--device <device>', 'execution provider for routing the prompts (as in route)').choices(devices).default(routeDefaults.device))
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  moe-inspect diff deepseek-moe-16b-base deepseek-moe-16b-chat --out diff.html --json diff.json\n' +
        '  moe-inspect synth --preset tiny --seed 1 --out a && moe-inspect synth --preset tiny --seed 1 --perturb 2:5:1.5 --out b\n' +
        '  moe-inspect diff a b --prompts prompts.txt --out diff.html',
    )
    .action(async (modelA: string, modelB: string, flags: { prompts?: string; out: string; json?: string; device: string }) => {
      const result = await diffCheckpoints({
        modelA,
        modelB,
        prompts: flags.prompts,
        out: flags.out,
        json: flags.json,
        device: parseDevice(flags.device),
        warn: (line) => process.stderr.write(`${line}\n`),
      });
      process.stdout.write(`${weightsTable(result)}\n`);
      if (result.routing) {
        const how = (t: { file: string; reused: boolean }) => `${t.file}${t.reused ? ' (reused)' : ''}`;
        process.stdout.write(`${routingTable(result)}\n`);
        process.stdout.write(`routing of ${plural(result.routing.tokens, 'token')} compared; traces ${how(result.routing.traces.a)}, ${how(result.routing.traces.b)}\n`);
      }
      process.stdout.write(`wrote ${flags.out}${flags.json ? ` and ${flags.json}` : ''}\n`);
    });
}
