import { Command } from 'commander';
import Table from 'cli-table3';
import { demoDefaults, runDemo } from '../demo/demo.js';
import { plural } from '../plural.js';

export function demoCommand(): Command {
  return new Command('demo')
    .summary('run the main job on the embedded default: synth a small planted model, route the bundled prompts, report')
    .description(
      'Needs no download. Writes into --out: model/ (a tiny DeepSeekMoE checkpoint with a planted specialization:\n' +
        'digit tokens prefer experts 0 and 1, punctuation experts 2 and 3, from layer 2 on), demo.trace.safetensors\n' +
        '(the routing of the bundled prompts), report.html and summary.json; prints a per-layer summary.',
    )
    .option('--out <dir>', 'output folder', demoDefaults.out)
    .action(async (flags) => {
      const result = await runDemo({ out: flags.out });
      const table = new Table({ head: ['layer', 'tokens', 'MaxVio', 'CV', 'dead experts', 'same-token overlap'], style: { head: [], border: [] } });
      for (const row of result.perLayer) {
        table.push([row.layer, row.tokens ?? '', row.maxvio.toFixed(3), row.cv.toFixed(3), row.dead, row.same_token_overlap?.toFixed(3) ?? '']);
      }
      process.stdout.write(
        `routed ${plural(result.tokens, 'token')} of ${plural(result.prompts, 'bundled prompt')} through ${result.model}\n` +
          `${table.toString()}\n` +
          `planted: digits -> experts ${result.planted.experts.digit.join(', ')}, punctuation -> ${result.planted.experts.punct.join(', ')} from layer ${result.planted.fromLayer}\n` +
          `trace:   ${result.trace}\nreport:  ${result.report}\nsummary: ${result.summary}\n`,
      );
    });
}
