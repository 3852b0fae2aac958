import type { InputAnalysis } from '../analysis/analyse.js';
import { layerSummaryColumns, type LayerSummary } from '../analysis/layer-summary.js';
import { randomRoutingSpread } from '../analysis/distinct-per-token.js';
import { resamplingDefaults } from '../analysis/resampling.js';
import { chartGrid, rendererFor, type HeatmapCell, type PerLayerPoint } from '../page/charts.js';
import { comparedHeatmap, comparedLineChart, loadDifferenceSections } from './comparison.js';
import { formatNumber, type ReportPage, type ReportSection } from '../page/html.js';
import { showToken } from '../page/token-display.js';
import { noun, plural } from '../plural.js';
import { overlayScript, overlayStyles } from '../page/token-overlay.js';
import { expertTokenSections } from './expert-tokens.js';
import { offloadingSections } from './offloading-report.js';
import { plantedSections } from './planted.js';
import { smallSampleNotes } from './small-sample-notes.js';
import { tokenOverlaySections } from './token-overlay.js';
import { unbiasedSections } from './unbiased-section.js';

/**
 * The sections of `report`'s HTML page, in reading order: load, imbalance, balancedness, balance losses,
 * all-to-all spread, overlap and specialization, co-activation, domains, then every number in one table.
 * Each section says what it shows and what a good or bad value is; sections whose inputs are missing
 * are left out (the notes say why).
 */
export function buildReportPage(analyses: InputAnalysis[], summaryRows: LayerSummary[]): ReportPage {
  const traces = analyses.filter((a) => a.kind === 'trace');
  const E = analyses[0].experts;
  const K = traces[0]?.k;
  const sections: ReportSection[] = [
    loadSection(analyses),
    ...loadDifferenceSections(analyses),
    imbalanceSection(analyses, E),
    balancednessSection(analyses),
    ...unbiasedSections(traces),
    ...balanceLossSection(traces),
    ...spreadSections(traces),
    ...groupsSection(traces),
    ...overlapSection(traces),
    ...plantedSections(traces),
    ...tokenSpecializationSections(traces),
    ...tokenOverlaySections(traces),
    ...coactivationSections(traces),
    ...domainSections(traces),
    ...offloadingSections(traces),
    tableSection(summaryRows, analyses.length > 1),
  ];
  const facts: Array<[string, string]> = analyses.map((a) => [a.name, inputFacts(a)]);
  facts.push(['experts', `${E} routed experts per layer${K !== undefined ? `, top-${K}` : ''}`]);
  facts.push(['placement', placementText(analyses[0])]);
  const notes = analyses.flatMap((a) => a.notes.map((note) => (analyses.length > 1 ? `${a.name}: ${note}` : note)));
  return {
    title: 'Expert routing report',
    subtitle: `${analyses.map((a) => a.name).join(', ')}: how evenly the experts are loaded, how tokens spread over GPUs, and what the experts specialise in.`,
    facts,
    notes: [...new Set(notes)],
    sections,
    ...(sections.some((s) => s.html) ? { styles: [overlayStyles], scripts: [overlayScript] } : {}),
  };
}

function inputFacts(a: InputAnalysis): string {
  if (a.kind === 'load') return `${a.file}: expert count matrix, ${plural(a.layers.length, 'MoE layer')}`;
  return `${a.file}: trace of ${a.tokens!.toLocaleString('en-US')} ${noun(a.tokens!, 'token')}, ${plural(a.layers.length, 'MoE layer')} (${a.layers[0]}..${a.layers[a.layers.length - 1]})`;
}

function placementText(a: InputAnalysis): string {
  const { gpus, nodes, replicas, groups, policy } = a.cluster;
  const where = `${gpus} GPUs on ${nodes} node${nodes > 1 ? 's' : ''}`;
  if (policy === 'contiguous') return `${where}, experts split contiguously (${a.experts / gpus} per GPU)`;
  return `${where}, ${replicas} expert slots placed by DeepSeek's EPLB (${policy} policy, ${groups} group${groups > 1 ? 's' : ''}) from each input's own load`;
}

// --- load and imbalance ----------------------------------------------------------------------------------

function loadSection(analyses: InputAnalysis[]): ReportSection {
  const cells: HeatmapCell[] = analyses.flatMap((a) =>
    a.load.flatMap((row, l) => {
      const mean = row.reduce((s, x) => s + x, 0) / row.length;
      return row.map((load, expert) => ({ trace: a.name, row: a.layers[l], column: expert, value: load / mean, details: { load } }));
    }),
  );
  return {
    title: 'Load per expert and layer',
    explanation:
      "Each cell is one expert's load at one layer (tokens routed to it) divided by the layer's mean load, so 1 (white) is exactly its fair share. " +
      'Orange cells are hot experts: in expert-parallel serving the GPU holding them works longest and every other GPU waits. Blue cells are under-used; 0 is a dead expert that holds memory and does nothing. ' +
      'A well-balanced model is pale everywhere; a vertical orange stripe is an expert that is hot at every depth. Colours stop at 3x the mean; the tooltip has the exact numbers.',
    spec: comparedHeatmap(cells, { title: 'load / mean load', rowTitle: 'layer', columnTitle: 'expert', valueTitle: 'load / mean', mid: 1, domain: [0, 3] }),
    renderer: rendererFor(cells.length),
    notes: smallSampleNotes(analyses, 'load'),
  };
}

function imbalanceSection(analyses: InputAnalysis[], E: number): ReportSection {
  const rows = analyses.flatMap((a) => a.perLayer);
  const points = (key: keyof LayerSummary): PerLayerPoint[] => rows.map((r) => ({ trace: r.trace, layer: r.layer, value: r[key] as number | undefined }));
  const hot = Math.ceil(E / 10);
  const small = { width: 480, height: 170 };
  return {
    title: 'Load imbalance per layer',
    explanation:
      'How unevenly each layer spreads its tokens over its experts. MaxVio = busiest expert / mean - 1 (the measure of the DeepSeek-V3 report): 0 is perfect, 1 means the busiest expert gets twice its share, and expert-parallel throughput falls with it. ' +
      'CV = standard deviation / mean of the loads: 0 is perfect. Gini: 0 is perfect, near 1 means a few experts take almost everything. Normalised entropy of the load shares: 1 is perfect, lower is more concentrated.' +
      `\n\nDead experts got no token at all (0 is good). Hot share is the share of all load carried by the ${hot === 1 ? 'busiest expert' : `${hot} busiest experts`} (ceil(E/10)); an even layer gives ${formatNumber(hot / E)}.`,
    spec: chartGrid([
      comparedLineChart(points('maxvio'), { title: 'MaxVio (0 = balanced)', yTitle: 'MaxVio', rule: { value: 0, label: 'balanced' }, ...small }),
      comparedLineChart(points('cv'), { title: 'coefficient of variation (0 = balanced)', yTitle: 'CV', rule: { value: 0, label: 'balanced' }, ...small }),
      comparedLineChart(points('gini'), { title: 'Gini (0 = balanced)', yTitle: 'Gini', rule: { value: 0, label: 'balanced' }, ...small }),
      comparedLineChart(points('entropy'), { title: 'normalised entropy (1 = balanced)', yTitle: 'entropy', rule: { value: 1, label: 'balanced' }, ...small }),
      comparedLineChart(points('dead'), { title: 'dead experts (0 = good)', yTitle: 'experts with no load', integer: true, ...small }),
      comparedLineChart(points('hot_share'), { title: `load share of the ${hot === 1 ? 'busiest expert' : `${hot} busiest experts`}`, yTitle: 'hot share', rule: { value: hot / E, label: 'even share' }, ...small }),
    ]),
    notes: smallSampleNotes(analyses, 'load'),
  };
}

function balancednessSection(analyses: InputAnalysis[]): ReportSection {
  const points = analyses.flatMap((a) => a.perLayer.map((r) => ({ trace: r.trace, layer: r.layer, value: r.balancedness })));
  const eplb = analyses[0].cluster.policy !== 'contiguous';
  return {
    title: 'GPU balancedness',
    explanation:
      'Mean GPU load / busiest GPU load, the figure SGLang and vLLM log: 1 means every GPU does the same work; 0.5 means the busiest GPU does twice the average, so the others idle half the time. ' +
      `Placement: ${placementText(analyses[0])}.` +
      (eplb ? ' EPLB planned on the same traffic it is measured on here, so this is its best case; a replica carries its expert\'s load divided by the replica count.' : ' Add --replicas R to see what DeepSeek\'s EPLB placement would reach with R - E redundant experts.'),
    spec: comparedLineChart(points, { title: 'balancedness (1 = every GPU equally busy)', yTitle: 'mean / max GPU load', rule: { value: 1, label: 'perfect' }, width: 960 }),
    notes: smallSampleNotes(analyses, 'load'),
  };
}

function balanceLossSection(traces: InputAnalysis[]): ReportSection[] {
  const rows = traces.flatMap((a) => a.perLayer).filter((r) => r.expert_balance_loss !== undefined);
  if (rows.length === 0) return [];
  const point = (key: 'expert_balance_loss' | 'device_balance_loss') => rows.map((r) => ({ trace: r.trace, layer: r.layer, value: r[key] }));
  return [
    {
      title: 'DeepSeekMoE balance losses',
      explanation:
        "The auxiliary losses DeepSeekMoE trains with (section 3.3), measured on this routing. Expert-level: sum over experts of f_i P_i, where f_i is the expert's load relative to a fair share and P_i its mean routing score. " +
        `Device-level: the same over groups of E/D contiguous experts (D = ${traces[0].cluster.gpus}). Both are 1 for perfectly balanced softmax routing and grow as tokens and probability mass gather on few experts. ` +
        'With sigmoid scores (DeepSeek-V3) the scores do not sum to 1, so compare layers of one model, not models.',
      spec: chartGrid([
        comparedLineChart(point('expert_balance_loss'), { title: 'expert-level balance loss (1 = balanced)', yTitle: 'L_ExpBal', rule: { value: 1, label: 'balanced softmax' } }),
        comparedLineChart(point('device_balance_loss'), { title: 'device-level balance loss (1 = balanced)', yTitle: 'L_DevBal', rule: { value: 1, label: 'balanced softmax' } }),
      ]),
      notes: smallSampleNotes(traces, 'load'),
    },
  ];
}

// --- spread over GPUs, nodes and groups --------------------------------------------------------------------

function spreadSections(traces: InputAnalysis[]): ReportSection[] {
  if (traces.length === 0) return [];
  const { gpus, nodes, policy } = traces[0].cluster;
  const E = traces[0].experts;
  const K = traces[0].k!;
  const contiguous = policy === 'contiguous';
  const mean = (level: 'gpus' | 'nodes') =>
    traces.flatMap((a) => a.figures.devices!.map((d, l) => ({ trace: a.name, layer: a.layers[l], value: d[level].mean })));
  const charts = [
    comparedLineChart(mean('gpus'), {
      title: 'GPUs per token (mean)',
      yTitle: 'distinct GPUs',
      rule: contiguous ? { value: randomRoutingSpread(E, E / gpus, K), label: 'uniformly random routing' } : undefined,
    }),
  ];
  if (nodes > 1) {
    charts.push(comparedLineChart(mean('nodes'), { title: 'nodes per token (mean)', yTitle: 'distinct nodes', rule: contiguous ? { value: randomRoutingSpread(E, E / nodes, K), label: 'uniformly random routing' } : undefined }));
  }
  const cells: HeatmapCell[] = traces.flatMap((a) =>
    a.figures.devices!.flatMap((d, l) => {
      const tokens = d.gpus.histogram.reduce((s, x) => s + x, 0);
      return d.gpus.histogram.flatMap((count, n) => (n === 0 ? [] : [{ trace: a.name, row: a.layers[l], column: n, value: count / tokens, details: { tokens: count } }]));
    }),
  );
  return [
    {
      title: 'GPUs per token',
      explanation:
        `How many distinct GPUs (of ${gpus}) each token's ${plural(K, 'expert')} ${noun(K, 'lives', 'live')} on: each one is a message in the expert-parallel all-to-all, so fewer is cheaper. ` +
        (contiguous ? 'The dashed line is what uniformly random routing would give. ' : "With replicas, an expert's tokens go round robin over its replicas. ") +
        (nodes > 1 ? 'Nodes per token counts the same for whole nodes, whose links are slower. ' : '') +
        'Routing that keeps related experts on one GPU lowers it; the heatmap shows the share of tokens that touch 1, 2, ... GPUs.',
      spec: chartGrid(charts),
      notes: smallSampleNotes(traces, 'load'),
    },
    {
      title: 'GPUs per token: distribution',
      explanation: 'Share of tokens touching exactly n GPUs, per layer. Mass on the left is cheap routing; mass at the right edge means most tokens fan out to as many GPUs as they have experts.',
      spec: comparedHeatmap(cells, { title: 'share of tokens', rowTitle: 'layer', columnTitle: 'GPUs touched', valueTitle: 'share of tokens', maxWidth: 360 }),
    },
  ];
}

function groupsSection(traces: InputAnalysis[]): ReportSection[] {
  const withGroups = traces.filter((a) => a.figures.groups);
  if (withGroups.length === 0) return [];
  const { limit } = withGroups[0].figures.groups!;
  const E = withGroups[0].experts;
  const points = withGroups.flatMap((a) =>
    a.figures.groups!.perLayer.map((g, l) => ({ trace: a.name, layer: a.layers[l], value: g.mean, details: g.violations === undefined ? {} : { 'tokens over the limit': g.violations } })),
  );
  const notes = withGroups.flatMap((a) =>
    a.figures.groups!.limit.enforced && a.figures.groups!.perLayer.some((g) => g.violations)
      ? [`${a.name}: some tokens touch more than ${plural(a.figures.groups!.limit.topkGroup!, 'group')} although the model enforces that limit; the trace is suspect.`]
      : [],
  );
  return [
    {
      title: 'Expert groups per token',
      explanation:
        `The ${E} experts form ${plural(limit.nGroup, 'group')} of ${plural(E / limit.nGroup, 'contiguous expert')}; this counts the distinct groups each token's experts fall in. ` +
        (limit.topkGroup !== undefined
          ? `The model allows at most ${plural(limit.topkGroup, 'group')} per token (the dashed line)${limit.enforced ? ' and its router enforces it, so no token may ever exceed it (the tooltip counts tokens over the limit)' : ''}. Group-limited routing keeps a token on few nodes when each node holds whole groups.`
          : "The model's router limits no token to a number of groups (it is greedy); the groups are the model's n_group, or else the ones given with --groups."),
      spec: comparedLineChart(points, {
        title: 'groups per token (mean)',
        yTitle: 'distinct groups',
        rule: limit.topkGroup !== undefined ? { value: limit.topkGroup, label: 'topk_group limit' } : { value: randomRoutingSpread(E, E / limit.nGroup, withGroups[0].k!), label: 'uniformly random routing' },
        width: 960,
      }),
      notes: [...notes, ...smallSampleNotes(withGroups, 'load')],
    },
  ];
}

// --- overlap and specialization ------------------------------------------------------------------------------

function overlapSection(traces: InputAnalysis[]): ReportSection[] {
  const points = traces.flatMap((a) =>
    a.figures.tokenTables!.overlap.flatMap((o, l) => (o ? [{ trace: a.name, layer: a.layers[l], value: o.overlap, details: { kappa: o.kappa, 'pairs compared': o.pairs, 'token ids': o.ids } }] : [])),
  );
  if (points.length === 0) return [];
  const { k, experts } = traces[0];
  return [
    {
      title: 'Same-token overlap',
      explanation:
        'For every token id that occurs at least twice, the share of experts two of its occurrences have in common (|S_a ∩ S_b| / K), averaged over all pairs; special tokens such as BOS are left out. ' +
        `Uniformly random routing gives K/E = ${formatNumber(k! / experts)} (dashed line); 1 means a token always goes to the same experts whatever its context. ` +
        'High values mean the router keys on the token itself (typical of early layers); lower values deeper in the model mean routing follows context. Kappa in the tooltip rescales it so that 0 is chance.',
      spec: comparedLineChart(points, { title: 'same-token overlap', yTitle: 'overlap', rule: { value: k! / experts, label: 'chance K/E' }, yDomain: [0, 1], width: 960 }),
      notes: smallSampleNotes(traces, 'same_token_overlap'),
    },
  ];
}

function tokenSpecializationSections(traces: InputAnalysis[]): ReportSection[] {
  const points = traces.flatMap((a) =>
    a.figures.tokenTables!.specialization.flatMap((s, l) => (s ? [{ trace: a.name, layer: a.layers[l], value: s.topExpertShare, details: { 'token ids': s.ids } }] : [])),
  );
  if (points.length === 0) return [];
  const { k, experts } = traces[0];
  const sections: ReportSection[] = [
    {
      title: 'Token specialization',
      explanation:
        'For token ids seen at least 10 times, the share of their occurrences routed to the expert each id uses most (OLMoE\'s measure). ' +
        `1 means every token id has an expert that takes all its occurrences; a random expert would take K/E = ${formatNumber(k! / experts)} (dashed line), and random routing still scores somewhat above that because the busiest of E counts is picked. ` +
        'The tables below list the most specialized tokens and, per expert, the tokens it receives most.',
      spec: comparedLineChart(points, { title: "share of a token's occurrences at its top expert", yTitle: 'top-expert share', rule: { value: k! / experts, label: 'K/E' }, yDomain: [0, 1], width: 960 }),
      notes: smallSampleNotes(traces, 'token_specialization'),
      table: {
        columns: [...(traces.length > 1 ? ['input'] : []), 'layer', 'token', 'id', 'occurrences', 'top expert', 'routed there', 'share'],
        rows: traces.flatMap((a) =>
          a.figures.tokenTables!.details.flatMap((d) => (d.mostSpecialized ?? []).map((s) => [...(traces.length > 1 ? [a.name] : []), d.layer, showToken(s.token), s.id, s.occurrences, s.expert, s.count, s.share])),
        ),
      },
    },
  ];
  sections.push(...expertTokenSections(traces));
  return sections;
}

function coactivationSections(traces: InputAnalysis[]): ReportSection[] {
  return detailLayers(traces).flatMap((layer) => {
    const cells: HeatmapCell[] = traces.flatMap((a) => {
      const c = a.figures.coactivation?.find((d) => d.layer === layer)?.coactivation;
      if (!c) return [];
      return c.lift.flatMap((row, i) =>
        row.flatMap((lift, j) => (i === j ? [] : [{ trace: a.name, row: i, column: j, value: lift, details: { 'share of i with j': c.share[i][j], 'tokens with both': c.both[i][j] } }])),
      );
    });
    if (cells.length === 0) return [];
    return [
      {
        title: `Co-activation, layer ${layer}`,
        explanation:
          "Row expert i, column expert j: the lift of choosing j given i, C[i][j] / (load_j / T), where C[i][j] is the share of i's tokens that also go to j (OLMoE's co-activation, in the tooltip). " +
          '1 (white) means i and j are chosen independently. Orange pairs fire together more than chance: experts that behave as a team, which placement can keep on one GPU. Blue pairs avoid each other. Colours stop at 3.',
        spec: comparedHeatmap(cells, { title: `co-activation lift, layer ${layer}`, rowTitle: 'expert i', columnTitle: 'expert j', valueTitle: 'lift', mid: 1, domain: [0, 3] }),
        renderer: rendererFor(cells.length),
        notes: smallSampleNotes(traces, 'load'),
      },
    ];
  });
}

function domainSections(traces: InputAnalysis[]): ReportSection[] {
  const labelled = traces.filter((a) => a.figures.domain);
  if (labelled.length === 0) return [];
  // Each input's real mutual information, compared across inputs; beside it, not compared, the mean over
  // shuffles of that input's labels among its prompts.
  const points = labelled.flatMap((a) =>
    a.figures.domain!.perLayer.flatMap((d, l) => (d ? [{ trace: a.name, layer: a.layers[l], value: d.mutualInformation, details: { 'label entropy (bits)': d.labelEntropy } }] : [])),
  );
  const shuffled = new Map(
    labelled.map((a) => [
      a.name,
      a.figures.domain!.perLayer.flatMap((d, l) => (d ? [{ trace: `${a.name}, labels shuffled`, layer: a.layers[l], value: a.figures.domain!.shuffledMutualInformation[l] }] : [])),
    ]),
  );
  const sections: ReportSection[] = [
    {
      title: 'Domain specialization',
      explanation:
        'Mutual information in bits between the label of a prompt and the experts its tokens are routed to (each of a token\'s K choices counts once). ' +
        "0 means the experts ignore the domain; the most it can be is the labels' entropy (tooltip), reached only if every label had experts of its own. " +
        'Rising values with depth are the usual sign of experts specializing in domains rather than in surface tokens. ' +
        `The line "labels shuffled" is the mean over ${resamplingDefaults.shuffles} shuffles of the labels among the labelled prompts (seeded by --seed): what a sample of this size shows when labels and experts are unrelated. Only the distance above it is evidence of specialization.`,
      spec: comparedLineChart(points, { title: 'mutual information between label and expert', yTitle: 'bits', width: 960 }, shuffled),
      notes: smallSampleNotes(labelled, 'domain_specialization'),
    },
  ];
  for (const layer of detailLayers(labelled)) {
    const cells: HeatmapCell[] = labelled.flatMap((a) => {
      const index = a.layers.indexOf(layer);
      const d = index >= 0 ? a.figures.domain!.perLayer[index] : undefined;
      if (!d) return [];
      return d.lift.flatMap((row, label) =>
        row.map((lift, expert) => ({ trace: a.name, row: label, column: expert, value: lift, details: { 'tokens of the label routed here': d.counts[label][expert] } })),
      );
    });
    if (cells.length === 0) continue;
    sections.push({
      title: `Domains per expert, layer ${layer}`,
      explanation:
        "Each cell: the share of the expert's load that comes from the label, divided by that label's share of all labelled tokens. " +
        '1 (white) means the expert takes the label in proportion; orange means the expert prefers the label, blue that it avoids it. Colours stop at 3.',
      spec: comparedHeatmap(cells, { title: `label lift per expert, layer ${layer}`, rowTitle: 'label', columnTitle: 'expert', valueTitle: 'lift', mid: 1, domain: [0, 3], rowNames: labelled[0].figures.domain!.labels }),
      renderer: rendererFor(cells.length),
    });
  }
  return sections;
}

// --- every number --------------------------------------------------------------------------------------------

function tableSection(rows: LayerSummary[], several: boolean): ReportSection {
  const present = layerSummaryColumns.filter(({ key }) => key !== 'trace' && rows.some((r) => r[key] !== undefined));
  return {
    title: 'All figures per layer',
    explanation: 'The numbers behind the charts (also in SUMMARY.json with --json), to 4 significant digits.',
    table: {
      columns: [...(several ? ['input'] : []), ...present.map(({ page }) => page)],
      rows: rows.map((r) => [...(several ? [r.trace] : []), ...present.map(({ key }) => r[key] as number | undefined)]),
    },
  };
}

/** Model layers shown in detail by any input, ascending. */
function detailLayers(analyses: InputAnalysis[]): number[] {
  return [...new Set(analyses.flatMap((a) => a.detailLayers))].sort((a, b) => a - b);
}
