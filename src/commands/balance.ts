import { Command, InvalidArgumentError } from 'commander';
import { type ServingBalanceOptions, runServingBalance } from '../balance/serving.js';
import { planTable } from '../balance/plan-table.js';
import type { TokenSource } from '../balance/traffic.js';
import { bandwidthSource, defaultBandwidth } from '../balance/traffic.js';
import { InputError } from '../errors.js';
import { modelOptionHelp, optionalModel } from './model-option.js';
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
        'experts] is summed over steps for the plan).\n\n' +
        'What-ifs for serving (docs/analyses.md, "Serving what-ifs"), each adding its key to PLAN.json: the plan as ' +
        'SGLang and vLLM load it (--export-sglang, --export-vllm), rebalancing over time (--simulate), redundancy and ' +
        'EP size (--sweep-gpus x --sweep-redundant), all-to-all dispatch traffic (--traffic), the move from an older ' +
        'plan (--diff), and an HTML page of it all (--html).',
    )
    .argument('<LOAD>', 'expert load: trace or count matrix (see above)')
    .option('--gpus <D>', 'number of GPUs (required unless sweeping)', positiveInteger('--gpus'))
    .option('--replicas <R>', 'physical expert slots in all, at least the number of experts and a multiple of --gpus (required unless sweeping)', positiveInteger('--replicas'))
    .option('--nodes <N>', 'number of nodes (--gpus must be a multiple)', positiveInteger('--nodes'), 1)
    .option('--groups <G>', "expert groups (the model's n_group; experts must split evenly)", positiveInteger('--groups'), 1)
    .requiredOption('--out <PLAN.json>', 'where to write the plan (with the what-ifs asked for)')
    .option('--eval <LOAD2>', 'also measure the plan on this other load (plan on yesterday, measure on today)')
    .option('--export-sglang <FILE.json>', "write the plan as SGLang's --init-expert-location file (a row per decoder layer)")
    .option('--export-vllm <FILE.jsonl>', "write the plan as vLLM's EPLB initial mapping (--eplb-config initial_mapping_path)")
    .option('--model <DIR>', modelOptionHelp("model folder: one expert's bytes from its headers, and its layers for the exports"))
    .option('--expert-bytes <N>', "one expert's weight bytes (instead of --model)", positiveInteger('--expert-bytes'))
    .option('--html <FILE.html>', 'also write an HTML page of the plan and the what-ifs')
    .option('--simulate', 'static, periodic and oracle rebalancing over time (LOAD: a time series, or a trace with --step-tokens)')
    .option('--window <W>', 'steps of load each periodic plan is made from (vLLM window_size)', positiveInteger('--window'))
    .option('--interval <I>', 'steps between periodic plans (vLLM step_interval)', positiveInteger('--interval'))
    .option('--step-tokens <N>', 'cut a trace into steps of N consecutive tokens', positiveInteger('--step-tokens'))
    .option('--sweep-gpus <list>', 'EP sizes to sweep, e.g. 8,16,32 (instead of --gpus)', integerList('--sweep-gpus', 1))
    .option('--sweep-redundant <list>', 'redundant expert counts to sweep, e.g. 0,16,32 (instead of --replicas)', integerList('--sweep-redundant', 0))
    .option('--gpus-per-node <G>', 'GPUs per node in a sweep', positiveInteger('--gpus-per-node'), 8)
    .option('--traffic', 'dispatch traffic per layer for the hierarchical and global policies (LOAD must be a trace)')
    .option('--token-source <token|prompt>', 'where a token starts: GPU t mod D, or its prompt p on GPU p mod D', tokenSource, 'token' as TokenSource)
    .option('--nvlink-GBps <x>', `intra-node GB/s per GPU (default ${defaultBandwidth.nvlinkGBps})`, positiveNumber('--nvlink-GBps'))
    .option('--rdma-GBps <x>', `inter-node GB/s per GPU (default ${defaultBandwidth.rdmaGBps})`, positiveNumber('--rdma-GBps'))
    .option('--dispatch-bytes <z>', 'bytes per dispatched value: 1 (FP8 with scales, default) or 2 (BF16)', positiveInteger('--dispatch-bytes'))
    .option('--diff <OLD_PLAN.json>', 'replicas and bytes each GPU loads to move from OLD_PLAN.json to the new plan')
    .addHelpText(
      'after',
      '\nExamples (DeepSeek-V3 decode: 256 experts, 32 redundant, 8 groups, 4 nodes of 8 GPUs):\n' +
        '  moe-inspect balance load.json --replicas 288 --groups 8 --nodes 4 --gpus 32 --out plan.json --eval today.json\n' +
        '  moe-inspect balance load.json --replicas 288 --groups 8 --nodes 4 --gpus 32 --out plan.json --export-sglang sglang.json --export-vllm vllm.jsonl\n' +
        '  moe-inspect balance series.json --replicas 288 --groups 8 --nodes 4 --gpus 32 --simulate --window 10 --interval 10 --out plan.json --html plan.html\n' +
        '  moe-inspect balance load.json --sweep-gpus 8,16,32,64 --sweep-redundant 0,64,128,192,256 --groups 8 --expert-bytes 44050944 --out sweep.json\n' +
        '  moe-inspect balance trace.safetensors --replicas 288 --groups 8 --nodes 4 --gpus 32 --traffic --out plan.json\n' +
        `\nBandwidth defaults: ${bandwidthSource}.`,
    )
    .action((loadFile: string, flags) => {
      const options: ServingBalanceOptions = {
        out: flags.out,
        eval: flags.eval,
        gpus: flags.gpus,
        replicas: flags.replicas,
        nodes: flags.nodes,
        groups: flags.groups,
        exportSglang: flags.exportSglang,
        exportVllm: flags.exportVllm,
        model: optionalModel(flags.model),
        expertBytes: flags.expertBytes,
        html: flags.html,
      };
      if (flags.simulate) {
        if (flags.window === undefined || flags.interval === undefined) throw new InputError('--simulate needs --window W and --interval I', 'usage-simulate');
        options.simulate = { window: flags.window, interval: flags.interval, stepTokens: flags.stepTokens };
      }
      if (flags.sweepGpus !== undefined || flags.sweepRedundant !== undefined) {
        if (flags.sweepGpus === undefined || flags.sweepRedundant === undefined) throw new InputError('a sweep needs both --sweep-gpus and --sweep-redundant', 'usage-sweep');
        options.sweep = { gpus: flags.sweepGpus, redundant: flags.sweepRedundant, gpusPerNode: flags.gpusPerNode };
      }
      if (flags.traffic) {
        options.traffic = { tokenSource: flags.tokenSource, bandwidth: { nvlinkGBps: flags.nvlinkGBps, rdmaGBps: flags.rdmaGBps, dispatchBytes: flags.dispatchBytes } };
      }
      if (flags.diff !== undefined) options.diff = flags.diff;
      const result = runServingBalance(loadFile, options);
      if (result.skippedLayers.length > 0) {
        process.stderr.write(`${loadFile}: left out ${plural(result.skippedLayers.length, 'layer')} with no load (dense): ${result.skippedLayers.join(', ')}\n`);
      }
      for (const note of result.notes) process.stderr.write(`${loadFile}: note: ${note}\n`);
      process.stdout.write(`${balanceSummary(result)}\n`);
      process.stdout.write(`wrote ${result.written.join(', ')}\n`);
    });
}

/** What `balance` prints: the plan table and its means, or the sweep, and one line per what-if. */
function balanceSummary({ plan, sweep }: ReturnType<typeof runServingBalance>): string {
  const fixed = (x: number | null) => (x === null ? 'n/a' : x.toFixed(4));
  if (sweep) {
    const lines = sweep.points.map((p) => `${p.gpus} GPUs, ${p.redundant} redundant: balancedness ${fixed(p.balancedness)}`);
    lines.push(`knee (smallest redundancy within 1% of the best): ${Object.entries(sweep.knee).map(([gpus, r]) => `${gpus} GPUs: ${r}`).join('; ')}`);
    for (const d of sweep.drops) lines.push(`drop: ${d.gpus} GPUs, ${d.from_redundant} -> ${d.to_redundant} redundant lowered balancedness ${d.from.toFixed(6)} -> ${d.to.toFixed(6)}`);
    return lines.join('\n');
  }
  const p = plan!;
  const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
  const evalText = p.eval ? `, on ${p.eval.load} ${fixed(mean(p.eval.balancedness))}` : '';
  const lines = [planTable(p), `${p.policy} plan for ${plural(p.layers.length, 'layer')}, mean balancedness ${fixed(mean(p.balancedness_before))} -> ${fixed(mean(p.balancedness_after))}${evalText}`];
  // EPLB packs greedily, so on a small or lucky load the default placement can be better; say so, not hide it.
  // Equal placements can differ in the last bits of their balancedness, so only a real difference counts.
  const worse = p.layers.filter((_, i) => p.balancedness_after[i] < p.balancedness_before[i] * (1 - 1e-9));
  if (worse.length > 0) {
    lines.push(`EPLB's plan is less balanced than the default placement on ${plural(worse.length, 'layer')} (${worse.join(', ')}): its packing is greedy, and on a small or lucky load the default split can do better (the plan and exports keep EPLB's layout there)`);
  }
  if (p.simulate) {
    const { policies, steps, window, interval } = p.simulate;
    const moved = policies.periodic.moved_replicas.reduce((a, b) => a + b, 0);
    lines.push(`simulate over ${steps} steps (W ${window}, I ${interval}): mean balancedness static ${fixed(policies.static.mean)}, periodic ${fixed(policies.periodic.mean)}, oracle ${fixed(policies.oracle.mean)}; periodic rebalances moved ${moved} replicas`);
  }
  if (p.traffic) {
    for (const policy of ['hierarchical', 'global']) {
      const entries = p.traffic.per_layer.filter((e) => e.policy === policy);
      if (entries.length === 0) continue;
      const time = entries.reduce((sum, e) => sum + e.time_s, 0);
      const nodes = mean(entries.map((e) => e.nodes_per_token.mean));
      lines.push(`traffic, ${policy}: dispatch + combine ${(time * 1e3).toFixed(3)} ms over ${entries.length} layers, ${nodes.toFixed(3)} nodes per token`);
    }
  }
  if (p.diff) {
    const total = (values: number[]) => values.reduce((a, b) => a + b, 0);
    lines.push(`move from the old plan: ${total(p.diff.moved_replicas_per_gpu)} replicas as numbered, ${total(p.diff.relabelled.moved_replicas_per_gpu)} after relabelling GPUs`);
  }
  return lines.join('\n');
}

/** "8,16,32" -> [8, 16, 32], each at least `min`. */
function integerList(flag: string, min: number): (value: string) => number[] {
  return (value) => {
    const items = value.split(',').map((item) => item.trim());
    if (items.some((item) => !/^\d+$/.test(item) || Number(item) < min)) throw new InvalidArgumentError(`${flag} expects a comma-separated list of integers of at least ${min}, found "${value}"`);
    return items.map(Number);
  };
}

function positiveNumber(flag: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+(\.\d+)?$/.test(value) || !(n > 0)) throw new InvalidArgumentError(`${flag} must be a positive number, found "${value}"`);
    return n;
  };
}

function tokenSource(value: string): TokenSource {
  if (value !== 'token' && value !== 'prompt') throw new InvalidArgumentError(`--token-source must be token or prompt, found "${value}"`);
  return value;
}
