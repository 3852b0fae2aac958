import { Command, Option } from 'commander';
import { routeDefaults } from '../route/route.js';
import { devices, parseDevice } from '../runtime/execution-provider.js';
import { runWic, wicDefaults } from '../wic/wic.js';
import { wordTokens } from '../wic/wic-result.js';
import { modelOption, modelOptionHelp } from './model-option.js';
import { nonNegativeInteger } from './parse.js';
import { wicTable } from '../wic/wic-table.js';
import { plural } from '../plural.js';

export function wicCommand(): Command {
  return new Command('wic')
    .summary('Word-in-Context probe: are words routed by their sense? (overlap, kappa and AUC per layer)')
    .description(
      [
        'Runs both sentences of every Word-in-Context pair through the model and compares the experts the target word is routed to in the two sentences, per MoE layer: the mean overlap |S_a ∩ S_b| / K over same-sense and over different-sense pairs, their kappa against chance K/E, and the ROC AUC of overlap as a score for "same sense" (Olson et al. 2025, arXiv 2502.10928).',
        'The word is found from its whitespace-token index: the letters and digits of that token that look like the word ("banks," for "bank"), then the model tokens whose bytes overlap them. A word split into several tokens is represented by its last token (--word-token first: its first).',
        'Writes OUT_DIR/trace.safetensors (pair i = prompts 2i and 2i+1), OUT_DIR/wic.json and OUT_DIR/report.html, and prints the per-layer figures.',
      ].join('\n\n'),
    )
    .argument('<data>', 'WiC data file, one pair per line: word<TAB>PoS<TAB>i-j<TAB>sentence1<TAB>sentence2 (i, j: 0-based whitespace-token indices of the word)')
    .requiredOption('--gold <file>', 'gold labels, line for line with DATA: T (same sense) or F (different sense)')
    .option('--model <dir>', modelOptionHelp('model folder: config.json, safetensors, tokenizer.json'))
    .requiredOption('--out <dir>', 'output folder for trace.safetensors, wic.json and report.html (created if missing)')
    .addOption(new Option('--word-token <which>', 'sub-token that stands for a word split into several tokens').choices(wordTokens).default(wicDefaults.wordToken))
    .addOption(new Option('--device <device>', 'execution provider for routing the sentences (as in route)').choices(devices).default(routeDefaults.device))
    .option('--seed <n>', 'seed of the bootstrap intervals of overlap and AUC (the same seed gives the same intervals)', nonNegativeInteger('--seed'), wicDefaults.seed)
    .option('--skip-bad-pairs', 'keep pairs whose word cannot be found as "skipped" (out of the figures) instead of stopping with an error; skip suspect pairs (whose word does not look like the target) too', wicDefaults.skipBadPairs)
    .addHelpText(
      'after',
      '\nExample:\n' +
        '  moe-inspect synth --preset tiny --out tiny-model\n' +
        '  moe-inspect wic WiC/dev/dev.data.txt --gold WiC/dev/dev.gold.txt --model tiny-model --out wic-dev',
    )
    .action(async (data: string, flags) => {
      const model = modelOption(flags.model);
      const result = await runWic({
        data,
        gold: flags.gold,
        model,
        out: flags.out,
        wordToken: flags.wordToken,
        skipBadPairs: flags.skipBadPairs,
        device: parseDevice(flags.device),
        seed: flags.seed,
        warn: (line) => process.stderr.write(`${line}
`),
      });
      // Suspect pairs were announced by the one warning line; the others are named one by one.
      for (const { index, problem } of result.skipped.filter((s) => !s.suspect)) process.stderr.write(`${data}: line ${index + 1}: skipped: ${problem}
`);
      const used = result.wic.pairs.filter((p) => !p.skipped);
      if (used.length === 0) process.stderr.write(`${data}: warning: every pair was skipped, so no figure could be computed; see the lines above\n`);
      const same = used.filter((p) => p.label).length;
      process.stdout.write(
        `${plural(used.length, 'pair')} (${same} same sense, ${used.length - same} different sense${result.skipped.length > 0 ? `, ${result.skipped.length} skipped` : ''}); ` +
          `chance overlap K/E = ${result.wic.k}/${result.wic.n_experts}\n` +
          `${wicTable(result.wic)}\n` +
          `trace:  ${result.files.trace}\nwic:    ${result.files.json}\nreport: ${result.files.report}\n`,
      );
    });
}
