import { Command, InvalidArgumentError } from 'commander';
import { prefetchPredictors, type PrefetchPredictor } from '../analysis/prefetch.js';
import { expertBytesFromModel } from '../balance/expert-bytes.js';
import { InputError } from '../errors.js';
import { createProgress, type Progress } from '../progress.js';
import { runReport } from '../report/report.js';
import { summaryTable } from '../report/summary.js';
import { plural } from '../plural.js';
import { modelOptionHelp, optionalModel } from './model-option.js';
import { nonNegativeInteger, positiveInteger, positiveIntegerList } from './parse.js';

export function reportCommand(): Command {
  return new Command('report')
    .summary('analyse routing traces (or expert load counts) into an HTML report, a table and JSON')
    .description(
      // Paragraphs without hard line breaks: commander wraps them to the terminal.
      [
        'Computes every figure of the analyses per MoE layer: load imbalance (MaxVio, CV, entropy, Gini, dead and hot experts), GPU balancedness for a placement, the DeepSeekMoE balance losses, GPUs/nodes/groups per token, same-token overlap, co-activation, token and domain specialization. Writes one self-contained HTML file (opens from disk, makes no network request) and prints the headline figures per layer.',
        'Inputs: traces (.safetensors, from route or import) and/or expert count matrices (.json, .csv, .npy, as for balance), which give the figures counts allow. Several inputs are compared side by side per layer; they must have the same number of experts.',
        "Placement: without --replicas, experts are split contiguously, E/D per GPU. With --replicas R, each input gets DeepSeek's EPLB plan made from its own load (R - E redundant experts; --groups defaults to the model's n_group).",
        'Offloading (traces only): --cache simulates a per-layer expert cache (LRU, LFU and Belady hit rates against cache size, the size needed for 90/95/99%); --prefetch measures how well the next layer\'s experts can be guessed early (history of the previous layer, or the speculative gate recorded by route --speculate) and, with --cache, the hit rate of cache + prefetch. The prompt tokens stand in for decoded tokens.',
      ].join('\n\n'),
    )
    .argument('<inputs...>', 'traces (.safetensors) or expert count matrices (.json, .csv, .npy)')
    .requiredOption('--out <REPORT.html>', 'where to write the HTML report')
    .option('--json <SUMMARY.json>', 'also write the per-layer figures as JSON')
    .option('--gpus <D>', 'GPUs in the placement (default 8, or the largest divisor of E below 8)', positiveInteger('--gpus'))
    .option('--nodes <N>', 'nodes the GPUs are spread over (default 1)', positiveInteger('--nodes'))
    .option('--replicas <R>', 'physical expert slots in all: place experts with EPLB (at least E, a multiple of --gpus)', positiveInteger('--replicas'))
    .option('--groups <G>', "EPLB expert groups (default: the model's n_group, else 1)", positiveInteger('--groups'))
    .option('--plan <PLAN.json>', 'also show a balance plan measured on the first input: balancedness before (contiguous) and after, GPU loads, expert memory (not with --replicas)')
    .option('--expert-bytes <N>', "one expert's weight bytes, for the plan's memory", positiveInteger('--expert-bytes'))
    .option('--model <DIR>', modelOptionHelp("model folder whose headers give one expert's bytes, for --plan's memory (instead of --expert-bytes)"))
    .option('--layers <list>', 'model layers to show in detail (co-activation, top tokens), e.g. 1,5,10-12 (default: 4 spread over depth)', layerList)
    .option('--seed <n>', 'seed of the shuffled-label baseline of domain specialization (the same seed gives the same report)', nonNegativeInteger('--seed'), 0)
    .option('--cache', 'simulate a per-layer expert cache: LRU, LFU and Belady hit rate against cache size')
    .option('--cache-sizes <list>', 'cache sizes (experts per layer) to report, e.g. 8,16,32 (default: every size from min(E, B x K) to E)', positiveIntegerList('--cache-sizes'))
    .option('--cache-batch <B>', 'prompts decoded together, one token each per step (default 1)', positiveInteger('--cache-batch'))
    .option('--prefetch [predictors]', 'prefetch predictors, history and/or speculative (default: history, and speculative where the trace records spec_topk_ids)', predictorList)
    .option('--prefetch-experts <p>', 'experts each predictor guesses per token and layer (default K)', positiveInteger('--prefetch-experts'))
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  moe-inspect report prompts.trace.safetensors --out report.html --json summary.json\n' +
        '  moe-inspect report base.trace.safetensors tuned.trace.safetensors --out compare.html --layers 3,12\n' +
        '  moe-inspect report trace.safetensors --gpus 32 --nodes 4 --replicas 288 --groups 8 --out eplb.html\n' +
        '  moe-inspect report spec.trace.safetensors --cache --prefetch history,speculative --out offload.html',
    )
    .action(async (inputs: string[], flags) => {
      const duplicate = inputs.find((input, i) => inputs.indexOf(input) !== i);
      if (duplicate !== undefined) throw new InputError(`${duplicate}: given twice; each input is one column of the report`, 'usage-duplicate-input');
      for (const [option, needs] of [['cacheSizes', 'cache'], ['cacheBatch', 'cache'], ['prefetchExperts', 'prefetch']] as const) {
        if (flags[option] !== undefined && !flags[needs]) throw new InputError(`--${kebab(option)} is an option of --${needs}; add --${needs}`, 'usage-offloading');
      }
      if (flags.plan !== undefined && flags.replicas !== undefined) {
        throw new InputError(`${flags.plan}: --plan shows a given plan, --replicas makes one per input; use one or the other`, 'plan-with-replicas');
      }
      const progress = new Map<string, Progress>();
      const { analyses, summary } = await runReport(inputs, {
        out: flags.out,
        json: flags.json,
        gpus: flags.gpus,
        nodes: flags.nodes,
        replicas: flags.replicas,
        groups: flags.groups,
        layers: flags.layers,
        seed: flags.seed,
        offloading: flags.cache || flags.prefetch ? {
          cache: flags.cache ? { sizes: flags.cacheSizes, batch: flags.cacheBatch ?? 1 } : undefined,
          prefetch: flags.prefetch ? { predictors: flags.prefetch === true ? undefined : flags.prefetch, experts: flags.prefetchExperts } : undefined,
        } : undefined,
        plan: flags.plan,
        expertBytes: flags.plan === undefined ? undefined : planExpertBytes(flags.expertBytes, optionalModel(flags.model)),
        onProgress: (input, done, total) => {
          if (!progress.has(input)) progress.set(input, createProgress(`report ${input}`, total, 'tok'));
          const bar = progress.get(input)!;
          bar.set(done);
          if (done === total) bar.done();
        },
      });
      for (const analysis of analyses) {
        for (const note of analysis.notes) process.stderr.write(`${analysis.file}: note: ${note}\n`);
      }
      // The HTML marks these next to the figure; the terminal table has no room, so one line per input says it.
      for (const analysis of analyses) {
        const small = analysis.figures.smallSample ?? [];
        if (small.length === 0) continue;
        const figures = small.map((flag) => `${flag.figure.replaceAll('_', ' ')} from ${plural(flag.tokens, 'token')}`).join(', ');
        process.stderr.write(`${analysis.file}: note: small samples (under ${small[0].threshold.toLocaleString('en-US')} tokens): ${figures}; read those figures with care\n`);
      }
      process.stdout.write(`${summaryTable(summary)}\n`);
      process.stdout.write(`wrote ${flags.out}${flags.json ? ` and ${flags.json}` : ''}\n`);
    });
}

/** "1,5,10-12" -> [1, 5, 10, 11, 12]. */
function layerList(value: string): number[] {
  const layers: number[] = [];
  for (const part of value.split(',')) {
    const match = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    if (!match) throw new InvalidArgumentError(`--layers expects layer numbers and ranges like 1,5,10-12, found "${value}"`);
    const first = Number(match[1]);
    const last = match[2] === undefined ? first : Number(match[2]);
    if (last < first) throw new InvalidArgumentError(`--layers range ${part.trim()} runs backwards`);
    for (let layer = first; layer <= last; layer++) if (!layers.includes(layer)) layers.push(layer);
  }
  return layers;
}

/** "history,speculative" -> the predictors, each named once. */
function predictorList(value: string): PrefetchPredictor[] {
  const names = value.split(',').map((name) => name.trim());
  const unknown = names.find((name) => !(prefetchPredictors as readonly string[]).includes(name));
  if (unknown !== undefined) throw new InvalidArgumentError(`--prefetch expects ${prefetchPredictors.join(' and/or ')}, found "${unknown}"`);
  return [...new Set(names)] as PrefetchPredictor[];
}

function kebab(camel: string): string {
  return camel.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** One expert's bytes for the plan's memory: given, or read from the model's headers, or unknown. */
function planExpertBytes(given: number | undefined, model: string | undefined): number | undefined {
  return given ?? (model === undefined ? undefined : expertBytesFromModel(model));
}
