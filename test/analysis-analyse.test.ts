import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { analyseLoadMatrix, analyseTrace, detailLayerIndices, type AnalysisOptions, type InputAnalysis } from '../src/analysis/analyse.js';
import { rebalanceExperts } from '../src/analysis/eplb.js';
import { loadStats } from '../src/analysis/load-stats.js';
import { overlap } from '../src/analysis/overlap.js';
import { InputError } from '../src/errors.js';
import { parseModelConfig } from '../src/models/config.js';
import { loadMatrixFromRows } from '../src/loaders/load-matrix.js';
import { openTrace, writeTrace } from '../src/trace.js';
import { seededRandom, tempDir } from './helpers/safetensors-bytes.js';

const dir = tempDir('analyse');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const T = 300;
const L = 3;
const K = 2;
const E = 8;
const promptTokens = 30;

/** The routing fields of a config.json with the trace's shape: 4 layers, the first dense, E experts, top-K. */
const routingConfig = { num_hidden_layers: 4, first_k_dense_replace: 1, n_routed_experts: E, num_experts_per_tok: K };

/** A random trace with BOS tokens (empty text), labels, router score sums and 4 expert groups (V2, greedy). */
function makeTrace(name: string, options: { probSum?: boolean; text?: boolean; config?: object } = {}) {
  const { probSum = true, text = true, config = { model_type: 'deepseek_v2', ...routingConfig, n_group: 4, topk_group: 2, topk_method: 'greedy' } } = options;
  const random = seededRandom(21);
  const tokenIds = Int32Array.from({ length: T }, (_, t) => (t % promptTokens === 0 ? 1 : 2 + Math.floor(random() ** 2 * 25)));
  const sets: number[][][] = [];
  for (let t = 0; t < T; t++) {
    sets.push(
      Array.from({ length: L }, (_, l) => {
        const set: number[] = [];
        while (set.length < K) {
          const e = random() < 0.5 ? (tokenIds[t] + l + set.length) % E : Math.floor(random() ** 1.5 * E);
          if (!set.includes(e)) set.push(e);
        }
        return set;
      }),
    );
  }
  const pieces = Array.from(tokenIds, (id) => (id === 1 ? '' : ` w${id}`));
  const offsets = [0];
  for (const piece of pieces) offsets.push(offsets[offsets.length - 1] + piece.length);
  const routerProbSum = Float64Array.from({ length: L * E }, () => (T / E) * (0.5 + random()));
  const file = path.join(dir, name);
  writeTrace(file, {
    metadata: {
      model_type: 'deepseek',
      n_routed_experts: E,
      num_experts_per_tok: K,
      model_config: JSON.stringify(config),
      model_dir: 'test',
      labels: ['code', 'prose'],
      source: 'route',
    },
    layers: [1, 2, 3],
    tokenIds,
    promptOffsets: Array.from({ length: T / promptTokens + 1 }, (_, p) => p * promptTokens),
    topkIds: [Int32Array.from(sets.flat(2))],
    routerProbSum: probSum ? routerProbSum : undefined,
    tokenText: text ? { bytes: new Uint8Array(Buffer.from(pieces.join(''))), offsets } : undefined,
    promptLabels: Int32Array.from({ length: T / promptTokens }, (_, p) => (p % 3) - 1),
  });
  return { file, tokenIds, sets, routerProbSum, special: pieces.map((p) => p === '') };
}

async function analyse(file: string, options: Partial<AnalysisOptions> = {}): Promise<InputAnalysis> {
  const trace = openTrace(file);
  try {
    return await analyseTrace(trace, { name: 'test', ...options });
  } finally {
    trace.close();
  }
}

const near = (actual: number | undefined, expected: number, what: string) => assert.ok(actual !== undefined && Math.abs(actual - expected) < 1e-9, `${what}: expected ${expected}, found ${actual}`);

describe('analyseTrace', () => {
  const { file, tokenIds, sets, routerProbSum, special } = makeTrace('random.trace.safetensors');
  let analysis: InputAnalysis;
  before(async () => {
    analysis = await analyse(file, { gpus: 4 });
  });

  test('per-layer figures equal a direct computation from the token sets', () => {
    assert.equal(analysis.perLayer.length, L);
    for (let l = 0; l < L; l++) {
      const row = analysis.perLayer[l];
      const load = new Array(E).fill(0);
      for (const token of sets) for (const e of token[l]) load[e] += 1;
      const stats = loadStats(load);
      assert.equal(row.layer, l + 1);
      assert.equal(row.tokens, T);
      assert.deepEqual([row.maxvio, row.cv, row.entropy, row.gini, row.dead, row.hot_share], [stats.maxvio, stats.cv, stats.entropy, stats.gini, stats.dead, stats.hotShare]);

      // Balancedness: 4 GPUs of 2 contiguous experts.
      const perGpu = [0, 1, 2, 3].map((g) => load[2 * g] + load[2 * g + 1]);
      near(row.balancedness, perGpu.reduce((a, b) => a + b) / 4 / Math.max(...perGpu), 'balancedness');

      const P = routerProbSum.subarray(l * E, (l + 1) * E);
      near(row.expert_balance_loss, load.reduce((s, x, i) => s + ((E / (K * T)) * x * P[i]) / T, 0), 'expert balance loss');

      // Same-token overlap: all pairs of non-special occurrences of one id.
      let pairs = 0;
      let sum = 0;
      for (let a = 0; a < T; a++) {
        for (let b = a + 1; b < T; b++) {
          if (tokenIds[a] === tokenIds[b] && !special[a] && !special[b]) {
            pairs += 1;
            sum += overlap(sets[a][l], sets[b][l]);
          }
        }
      }
      near(row.same_token_overlap, sum / pairs, 'same-token overlap');

      const distinct = (bucket: (e: number) => number) => sets.reduce((s, token) => s + new Set(token[l].map(bucket)).size, 0) / T;
      near(row.groups_per_token, distinct((e) => Math.floor(e / 2)), 'groups per token');
      near(row.gpus_per_token, distinct((e) => Math.floor(e / 2)), 'GPUs per token');
    }
  });

  test('domain counts follow the prompt labels; token tables show token text', () => {
    const labelled = analysis.figures.domain!.perLayer[0]!;
    // Prompts p % 3 == 0 have no label (-1), p % 3 == 1 label 0, p % 3 == 2 label 1: 3 prompts of 30 tokens each.
    assert.deepEqual(labelled.labelTokens, [90, 90]);
    const top = analysis.figures.tokenTables!.details[0].topTokens!.flat();
    assert.ok(top.length > 0);
    for (const entry of top) assert.equal(Buffer.from(entry.token.bytes!).toString('utf8'), ` w${entry.id}`);
  });

  test('small blocks and one layer per pass give exactly the same analysis', async () => {
    const split = await analyse(file, { gpus: 4, blockTokens: 7, tableBudgetBytes: 1 });
    assert.deepEqual(split, analysis);
  });

  test('progress runs over every pass to the total', async () => {
    const seen: Array<[number, number]> = [];
    await analyse(file, { tableBudgetBytes: 1, blockTokens: 100, onProgress: (done, total) => seen.push([done, total]) });
    // 3 layers, one per pass: 3 passes of 3 blocks.
    assert.equal(seen.length, 9);
    assert.deepEqual(seen[seen.length - 1], [3 * T, 3 * T]);
  });

  test('with --replicas: EPLB placement from the trace\'s own load, tokens round robin over replicas', async () => {
    const withReplicas = await analyse(file, { gpus: 4, replicas: 12 });
    assert.equal(withReplicas.cluster.policy, 'hierarchical');
    const plan = rebalanceExperts(analysis.load, 12, 4, 1, 4);
    for (let l = 0; l < L; l++) {
      const load = analysis.load[l];
      const replicas = new Array(E).fill(0);
      for (const e of plan.phy2log[l]) replicas[e] += 1;
      const perGpu = [0, 1, 2, 3].map((g) => plan.phy2log[l].slice(3 * g, 3 * g + 3).reduce((s, e) => s + load[e] / replicas[e], 0));
      near(withReplicas.perLayer[l].balancedness, perGpu.reduce((a, b) => a + b) / 4 / Math.max(...perGpu), 'balancedness');

      const gpusOf = Array.from({ length: E }, (_, e) => plan.phy2log[l].flatMap((x, slot) => (x === e ? [Math.floor(slot / 3)] : [])));
      const routed = new Array(E).fill(0);
      let touched = 0;
      for (const token of sets) touched += new Set(token[l].map((e) => gpusOf[e][routed[e]++ % gpusOf[e].length])).size;
      near(withReplicas.perLayer[l].gpus_per_token, touched / T, 'GPUs per token');
    }
    // The same with the device pass riding along a later table pass.
    assert.deepEqual(await analyse(file, { gpus: 4, replicas: 12, tableBudgetBytes: 1 }), withReplicas);
  });

  test('a trace without scores or text: no balance losses, a note, special tokens counted', async () => {
    const bare = makeTrace('bare.trace.safetensors', { probSum: false, text: false });
    const result = await analyse(bare.file, { gpus: 4 });
    assert.equal(result.perLayer[0].expert_balance_loss, undefined);
    assert.ok(!('expert_balance_loss' in result.perLayer[0]));
    assert.ok(result.notes.some((n) => /router_prob_sum/.test(n)));
    assert.ok(result.notes.some((n) => /special tokens/.test(n)));
    // BOS (id 1) now has a row of its own.
    assert.ok(result.figures.tokenTables!.details[0].topTokens!.flat().every((entry) => entry.token.bytes === undefined));
    assert.notEqual(result.perLayer[0].same_token_overlap, analysis.perLayer[0].same_token_overlap);
  });

  test('a V3 trace over its enforced group limit is flagged, layer by layer', async () => {
    // Same routing, but the config claims V3's noaux_tc with at most 1 group per token.
    const v3 = makeTrace('v3.trace.safetensors', { config: { model_type: 'deepseek_v3', ...routingConfig, n_group: 4, topk_group: 1, topk_method: 'noaux_tc' } });
    const result = await analyse(v3.file, { gpus: 4 });
    assert.deepEqual(result.figures.groups!.limit, { nGroup: 4, topkGroup: 1, enforced: true });
    for (let l = 0; l < L; l++) {
      const over = v3.sets.filter((token) => new Set(token[l].map((e) => Math.floor(e / 2))).size > 1).length;
      assert.equal(result.figures.groups!.perLayer[l].violations, over);
    }
    assert.ok(result.notes.some((n) => /breaks the model's group limit \(at most 1 of 4 groups per token\).*layer 1: \d+ tokens/.test(n)));
    // The greedy config above declares the same groups but enforces nothing: counted, not flagged.
    assert.equal(analysis.figures.groups!.limit.enforced, false);
    assert.ok(!analysis.notes.some((n) => /group limit/.test(n)));
  });

  test("transformers' native DeepSeek-V3 config (no gate fields): the report sees the group limit route routes with", async () => {
    const native = { model_type: 'deepseek_v3', ...routingConfig };
    const result = await analyse(makeTrace('native-v3.trace.safetensors', { config: native }).file, { gpus: 4 });
    // route's reading of the same config, with the forward fields added: noaux_tc, 8 groups keep 4.
    const forward = { hidden_size: 64, num_attention_heads: 4, q_lora_rank: 16, kv_lora_rank: 16, qk_nope_head_dim: 8, qk_rope_head_dim: 8, v_head_dim: 8, intermediate_size: 128, moe_intermediate_size: 32, max_position_embeddings: 64, vocab_size: 100 };
    const routed = parseModelConfig({ ...native, ...forward }, 'config.json');
    assert.deepEqual([routed.topkMethod, routed.nGroup, routed.topkGroup], ['noaux_tc', 8, 4]);
    assert.deepEqual(result.figures.groups!.limit, { nGroup: routed.nGroup, topkGroup: routed.topkGroup, enforced: true });
    assert.equal(result.cluster.groups, 8, "EPLB's groups default to the model's n_group");
    // Groups of one expert: a token touches exactly K groups, within the limit of 4.
    for (const layer of result.figures.groups!.perLayer) assert.deepEqual([layer.mean, layer.violations], [K, 0]);
  });

  test('a DeepSeekMoE V1 config with stray gate fields: route routes plain top-K, so the report declares no group limit and flags nothing', async () => {
    const stray = { model_type: 'deepseek', ...routingConfig, n_group: 4, topk_group: 1, topk_method: 'group_limited_greedy' };
    const forward = { hidden_size: 64, num_attention_heads: 4, intermediate_size: 128, moe_intermediate_size: 32, max_position_embeddings: 64, vocab_size: 100 };
    assert.equal(parseModelConfig({ ...stray, ...forward }, 'config.json').topkMethod, 'greedy', 'route reads V1 as greedy');
    const result = await analyse(makeTrace('v1-stray.trace.safetensors', { config: stray }).file, { gpus: 4 });
    assert.equal(result.figures.groups, undefined, 'no model groups (and no --groups)');
    assert.equal(result.cluster.groups, 1);
    assert.ok(!result.notes.some((n) => /group limit/.test(n)), result.notes.join('\n'));
    // With --groups the same partition is counted, still without a limit.
    const grouped = await analyse(makeTrace('v1-stray-groups.trace.safetensors', { config: stray }).file, { gpus: 4, groups: 4 });
    assert.deepEqual(grouped.figures.groups!.limit, { nGroup: 4, enforced: false });
    assert.ok(grouped.figures.groups!.perLayer.every((layer) => layer.violations === undefined));
  });

  test('a model_config that cannot be read gives a note, not an error', async () => {
    const result = await analyse(makeTrace('no-config.trace.safetensors', { config: {} }).file, { gpus: 4 });
    assert.equal(result.figures.groups, undefined);
    assert.ok(result.notes.some((n) => /config\.json recorded in the trace cannot be read \(.*field "model_type" is missing\)/.test(n)), result.notes.join('\n'));
  });

  test('placement errors name the trace', async () => {
    await assert.rejects(() => analyse(file, { gpus: 3 }), (error: unknown) => error instanceof InputError && error.message.includes(file) && /--gpus 3 does not divide the 8 experts/.test(error.message));
    await assert.rejects(() => analyse(file, { gpus: 4, replicas: 6 }), (error: unknown) => error instanceof InputError && /replicas 6 must be at least/.test(error.message));
  });
});

describe('detail layers', () => {
  test('default: up to 4 spread over depth; asked layers must exist', () => {
    assert.deepEqual(detailLayerIndices([1, 2, 3], undefined, 'f'), [0, 1, 2]);
    assert.deepEqual(detailLayerIndices([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], undefined, 'f'), [0, 3, 6, 9]);
    assert.deepEqual(detailLayerIndices([3, 5, 9], [9, 3], 'f'), [2, 0]);
    assert.throws(() => detailLayerIndices([3, 5, 9], [4], 'x.trace'), /x\.trace: --layers asks for layer 4, but the trace records MoE layers 3, 5, 9/);
  });
});

describe('analyseLoadMatrix', () => {
  test('load figures for the loaded layers; the default GPU count divides E', () => {
    const matrix = loadMatrixFromRows([[0, 0, 0, 0, 0, 0], [6, 2, 0, 4, 1, 5], [3, 3, 3, 3, 3, 3]], 'load.json');
    const result = analyseLoadMatrix(matrix, { name: 'load.json' });
    assert.deepEqual(result.layers, [1, 2]);
    // 8 GPUs do not split 6 experts: 6 GPUs, one expert each, with a note.
    assert.equal(result.cluster.gpus, 6);
    assert.ok(result.notes.some((n) => /uses 6 GPUs/.test(n)));
    assert.deepEqual(Object.keys(result.perLayer[0]), ['trace', 'layer', 'maxvio', 'cv', 'entropy', 'gini', 'dead', 'hot_share', 'balancedness']);
    // One expert per GPU: balancedness = mean / max load = 3 / 6.
    near(result.perLayer[0].balancedness, 0.5, 'balancedness');
    assert.equal(result.perLayer[1].maxvio, 0);
  });
});
