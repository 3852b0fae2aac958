import { Command, Option } from 'commander';
import { createProgress } from '../progress.js';
import { parsePerturbation, synthDefaults, synthDtypes, synthesize, type Perturbation } from '../synth/synth.js';
import { presets } from '../synth/presets.js';
import { nonNegativeInteger, positiveInteger } from './parse.js';
import { plural } from '../plural.js';

export function synthCommand(): Command {
  return new Command('synth')
    .summary('write a random checkpoint in the Hugging Face layout (for tests, demos and benchmarks)')
    .description(
      'Writes config.json, safetensors shards with model.safetensors.index.json, and a byte-level BPE tokenizer\n' +
        '(tokenizer.json, tokenizer_config.json) trained on the bundled prompts. Weights are seeded per tensor.\n\n' +
        'Presets:\n' +
        presets.map((p) => `  ${p.name.padEnd(18)} ${p.description}`).join('\n') +
        '\n\n--dtype fp8 stores attention, dense MLP and expert matrices as F8_E4M3 with F32 <name>_scale_inv block scales, ' +
        'as DeepSeek-V3 releases do (router, norms, embeddings stay BF16); the block size is the preset\'s, else 128x128.' +
        '\n\n--planted: tokens made of digits prefer experts 0 and 1, punctuation tokens experts 2 and 3, from the ' +
        'second MoE layer on (recorded in config.json under moe_inspect_synth.planted).',
    )
    .requiredOption('--preset <name>', `one of: ${presets.map((p) => p.name).join(', ')}`)
    .requiredOption('--out <dir>', 'output model folder (must not exist or be empty, unless --force)')
    .option('--seed <n>', 'random seed', nonNegativeInteger('--seed'), synthDefaults.seed)
    .addOption(new Option('--dtype <dtype>', 'stored weight dtype').choices(synthDtypes).default(synthDefaults.dtype))
    .option('--layers <n>', 'keep only the first N decoder layers', positiveInteger('--layers'))
    .option('--planted', 'plant a known expert specialization (see above)', synthDefaults.planted)
    .option('--perturb <layer:expert:scale>', 'multiply that routed expert\'s gate/up/down matrices by SCALE (repeatable)', collectPerturbations, [])
    .option('--force', 'replace a non-empty output folder')
    .addHelpText('after', '\nExamples:\n  moe-inspect synth --preset tiny --planted --out tiny-model\n  moe-inspect synth --preset deepseek-moe-16b --layers 3 --dtype bf16 --out ds16b-3l\n  moe-inspect synth --preset tiny-v3 --dtype fp8 --out tiny-v3-fp8')
    .action(async (flags) => {
      let progress: ReturnType<typeof createProgress> | undefined;
      const result = await synthesize({
        preset: flags.preset,
        out: flags.out,
        seed: flags.seed,
        dtype: flags.dtype,
        layers: flags.layers,
        planted: flags.planted,
        perturb: flags.perturb,
        force: flags.force,
        onProgress: (written, total) => {
          progress ??= createProgress('synth', Math.ceil(total / 2 ** 20), 'MiB');
          progress.set(written / 2 ** 20);
        },
      });
      progress?.done();
      const gib = (result.bytes / 2 ** 30).toFixed(2);
      process.stdout.write(`wrote ${result.config.modelType} model (${plural(result.config.numLayers, 'layer')}, ${plural(result.shards.length, 'shard')}, ${gib} GiB) -> ${result.dir}\n`);
    });
}

function collectPerturbations(value: string, previous: Perturbation[]): Perturbation[] {
  return [...previous, parsePerturbation(value)];
}
