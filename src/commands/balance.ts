import { Command } from 'commander';
import { runBalance, type BalanceOptions } from '../balance/balance.js';
import { planTable } from '../balance/plan-table.js';
import { positiveInteger } from './parse.js';
import { plural } from '../plural.js';

export function balanceCommand(): Command {
  return new Command('balance')
    .summary('place experts on GPUs for expert-parallel serving (DeepSeek EPLB)')
    .description(
      "Plans which experts each GPU holds, with DeepSeek's Expert Parallelism Load Balancer (EPLB): experts with " +
        'more load get redundant replicas, and replicas are packed so that the busiest GPU carries as little as possible. ' +
        'The hierarchical policy (groups a multiple of nodes) first packs expert groups to nodes, so a token stays ' +
        'within few nodes; otherwise the global policy packs over all GPUs.\n\n' +
        'Balancedness = mean GPU load / max GPU load (1 is perfect). "before" is the engines\' default placement for ' +
        'the same slots (slot s holds expert s mod E). Layers with no load (dense layers) are left out.\n\n' +
        'LOAD is a trace (.safetensors), or per-layer expert counts with row i = model layer i: JSON ' +
        '{"logical_count": [[...]...]} as SGLang records it, JSON [[...]...], CSV, or .npy (3-D [steps, layers, ' +
        'experts] is summed over steps).',
    )
    .argument('<LOAD>', 'expert load: trace or count matrix (see above)')
    .requiredOption('--gpus <D>', 'number of GPUs', positiveInteger('--gpus'))
    .requiredOption('--replicas <R>', 'physical expert slots in all, at least the number of experts and a multiple of --gpus', positiveInteger('--replicas'))
    .option('--nodes <N>', 'number of nodes (--gpus must be a multiple)', positiveInteger('--nodes'), 1)
    .option('--groups <G>', "expert groups (the model's n_group; experts must split evenly)", positiveInteger('--groups'), 1)
    .requiredOption('--out <PLAN.json>', 'where to write the plan')
    .option('--eval <LOAD2>', 'also measure the plan on this other load (plan on yesterday, measure on today)')
    .addHelpText(
      'after',
      '\nExample (DeepSeek-V3 decode: 256 experts, 32 redundant, 8 groups, 4 nodes of 8 GPUs):\n' +
        '  moe-inspect balance load.json --replicas 288 --groups 8 --nodes 4 --gpus 32 --out plan.json --eval today.json',
    )
    .action((loadFile: string, flags: BalanceOptions) => {
      const { plan, skippedLayers } = runBalance(loadFile, flags);
      if (skippedLayers.length > 0) {
        process.stderr.write(`${loadFile}: left out ${plural(skippedLayers.length, 'layer')} with no load (dense): ${skippedLayers.join(', ')}\n`);
      }
      process.stdout.write(`${planTable(plan)}\n`);
      const mean = (values: number[]) => (values.reduce((a, b) => a + b, 0) / values.length).toFixed(4);
      const evalText = plan.eval ? `, on ${plan.eval.load} ${mean(plan.eval.balancedness)}` : '';
      process.stdout.write(
        `${plan.policy} plan for ${plural(plan.layers.length, 'layer')}, mean balancedness ${mean(plan.balancedness_before)} -> ${mean(plan.balancedness_after)}${evalText}; wrote ${flags.out}\n`,
      );
    });
}
