/**
 * The float64 reference forward pass (reference/reference-forward.ts) against independent computations: YaRN
 * frequencies from architecture.md 4.4's stated values and from the fast path's rope.ts, interleaved RoPE against
 * HF-remote's permute-then-rotate-half, MLA and standard attention against outputs worked out by hand on small
 * random weights, and the V3 and Qwen2-MoE routing rules on whole prompts.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, it } from 'node:test';
import { assetPath } from '../src/assets.js';
import { moeLayers, parseModelConfig, type MhaAttention, type ModelConfig, type RopeSettings } from '../src/models/config.js';
import { inverseFrequencies, ropeAmplitude } from '../src/models/rope.js';
import { checkpointTensors, tensorNames } from '../src/models/tensor-names.js';
import {
  referenceAttention,
  referenceInverseFrequencies,
  referenceRoute,
  ropeAngles,
  rotateHalf,
  rotateInterleavedPairs,
  type WeightSource,
} from '../src/reference/reference-forward.js';
import { seededRandom } from './helpers/safetensors-bytes.js';

const presetConfig = (file: string) => parseModelConfig(JSON.parse(fs.readFileSync(assetPath('presets', file), 'utf8')), file);

// ---- Small independent linear algebra, so expectations do not lean on the code under test. ----

function randomVector(n: number, random: () => number): Float64Array {
  return Float64Array.from({ length: n }, () => 2 * random() - 1);
}

/** W [rows, x.length] @ x */
function times(w: Float64Array, x: Float64Array): Float64Array {
  const n = x.length;
  return Float64Array.from({ length: w.length / n }, (_, r) => x.reduce((sum, v, i) => sum + w[r * n + i] * v, 0));
}

function rmsNormed(x: Float64Array, w: Float64Array, eps: number): Float64Array {
  const rms = Math.sqrt(x.reduce((s, v) => s + v * v, 0) / x.length + eps);
  return x.map((v, i) => (v / rms) * w[i]);
}

function dotProduct(a: Float64Array, b: Float64Array): number {
  return a.reduce((s, v, i) => s + v * b[i], 0);
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= tolerance, `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}

function maxDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

/** Random values for every tensor the config implies, in a Map a WeightSource reads (unknown names throw). */
function randomWeights(config: ModelConfig, seed: number): Map<string, Float64Array> {
  const random = seededRandom(seed);
  return new Map(checkpointTensors(config).map(({ name, shape }) => [name, randomVector(shape.reduce((a, b) => a * b, 1), random)]));
}

function source(weights: Map<string, Float64Array>): WeightSource {
  return (name) => {
    const tensor = weights.get(name);
    if (!tensor) throw new Error(`no tensor ${name}`);
    return tensor;
  };
}

const prompt = (config: ModelConfig, tokens: number, seed: number) => {
  const random = seededRandom(seed);
  return Array.from({ length: tokens }, () => randomVector(config.hiddenSize, random));
};

/** HF-remote V2/V3 (architecture.md 4.3): permute [x0, x2, ..., x62, x1, x3, ..., x63], then rotate-half. */
const permute = (x: Float64Array) => Float64Array.from([...x.filter((_, i) => i % 2 === 0), ...x.filter((_, i) => i % 2 === 1)]);
const hfRotateHalf = (x: Float64Array, rope: RopeSettings, position: number) => {
  const half = x.length / 2;
  const amplitude = ropeAmplitude(rope);
  const frequencies = inverseFrequencies(rope);
  // q·cos + rotate_half(q)·sin, with cos and sin repeated over both halves and rotate_half(q) = [-q2, q1].
  return x.map((v, j) => {
    const angle = position * frequencies[j % half];
    const rotated = j < half ? -x[j + half] : x[j - half];
    return amplitude * (v * Math.cos(angle) + rotated * Math.sin(angle));
  });
};

// ---- Small configs of each attention kind, parsed like any config.json. ----

function mlaConfig(qLoraRank: number | null): ModelConfig {
  return parseModelConfig(
    {
      model_type: qLoraRank === null ? 'deepseek_v2' : 'deepseek_v3',
      hidden_size: 12,
      num_hidden_layers: 3,
      num_attention_heads: 3,
      q_lora_rank: qLoraRank,
      kv_lora_rank: 5,
      qk_nope_head_dim: 4,
      qk_rope_head_dim: 8,
      v_head_dim: 3,
      intermediate_size: 16,
      moe_intermediate_size: 4,
      n_routed_experts: 16,
      n_shared_experts: 1,
      num_experts_per_tok: 4,
      first_k_dense_replace: 1,
      ...(qLoraRank === null
        ? { scoring_func: 'softmax', topk_method: 'greedy' }
        : { scoring_func: 'sigmoid', topk_method: 'noaux_tc', n_group: 4, topk_group: 2, norm_topk_prob: true, routed_scaling_factor: 2.5 }),
      rope_scaling: { type: 'yarn', factor: 40, original_max_position_embeddings: 4096, beta_fast: 32, beta_slow: 1, mscale: 0.707, mscale_all_dim: 0.707 },
      max_position_embeddings: 163840,
      vocab_size: 20,
    },
    'mla test config',
  );
}

function mhaConfig(modelType: 'mixtral' | 'qwen2_moe' | 'olmoe', numKvHeads: number, extra: Record<string, unknown> = {}): ModelConfig {
  return parseModelConfig(
    {
      model_type: modelType,
      hidden_size: 16,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: numKvHeads,
      intermediate_size: 8,
      moe_intermediate_size: 4,
      shared_expert_intermediate_size: 6,
      num_local_experts: 6,
      num_experts: 6,
      num_experts_per_tok: 2,
      max_position_embeddings: 256,
      vocab_size: 20,
      ...extra,
    },
    `${modelType} test config`,
  );
}

describe('reference RoPE', () => {
  const v3 = presetConfig('DeepSeek-R1.config.json');

  it('YaRN on the real V3 config: dims 0-10 unchanged, dims >= 23 divided by 40, a linear blend between', () => {
    const frequencies = referenceInverseFrequencies(v3.rope);
    assert.equal(frequencies.length, 32);
    for (let i = 0; i < 32; i++) {
      const plain = Math.pow(10000, (-2 * i) / 64);
      // architecture.md 4.4: low = 10, high = 23 for d = 64, L0 = 4096, betas 32 and 1.
      const ramp = Math.min(Math.max((i - 10) / 13, 0), 1);
      const expected = i <= 10 ? plain : i >= 23 ? plain / 40 : plain * (1 - ramp) + (plain / 40) * ramp;
      assert.ok(Math.abs(frequencies[i] - expected) <= 1e-15 * plain, `dim ${i}: ${frequencies[i]} vs ${expected}`);
      if (i > 10 && i < 23) assert.ok(frequencies[i] < plain && frequencies[i] > plain / 40, `dim ${i} is blended`);
    }
  });

  it('agrees with the fast path (models/rope.ts) on frequencies and amplitude', () => {
    const ropes: RopeSettings[] = [
      v3.rope,
      presetConfig('DeepSeek-V2-Lite.config.json').rope,
      presetConfig('deepseek-moe-16b-base.config.json').rope,
      // mscale differing from mscale_all_dim, so the amplitude is not 1.
      { ...v3.rope, yarn: { ...v3.rope.yarn!, mscale: 1, mscaleAllDim: 0.707 } },
    ];
    for (const rope of ropes) {
      assertClose(referenceInverseFrequencies(rope), inverseFrequencies(rope), 1e-12, 'inv_freq');
      const position = 777;
      const angles = ropeAngles(rope, position);
      const amplitude = ropeAmplitude(rope);
      assertClose(angles.cos, Array.from(inverseFrequencies(rope), (f) => amplitude * Math.cos(position * f)), 1e-12, 'cos');
      assertClose(angles.sin, Array.from(inverseFrequencies(rope), (f) => amplitude * Math.sin(position * f)), 1e-12, 'sin');
    }
    // Dim 0 keeps inv_freq 1, so its cos at position 3 is the amplitude g(40, 1) / g(40, 0.707) times cos(3).
    const handAmplitude = (0.1 * Math.log(40) + 1) / (0.1 * 0.707 * Math.log(40) + 1);
    assert.ok(Math.abs(ropeAngles(ropes[3], 3).cos[0] - handAmplitude * Math.cos(3)) < 1e-12);
  });

  it('interleaved pairs equal permute-then-rotate-half, and differ from rotate-half on unpermuted dims', () => {
    const random = seededRandom(11);
    for (const [qPosition, kPosition] of [[5, 2], [1000, 3], [40000, 39999]]) {
      const q = randomVector(64, random);
      const k = randomVector(64, random);
      const qRotated = rotateInterleavedPairs(q, ropeAngles(v3.rope, qPosition));
      const kRotated = rotateInterleavedPairs(k, ropeAngles(v3.rope, kPosition));
      assertClose(permute(qRotated), hfRotateHalf(permute(q), v3.rope, qPosition), 1e-12, 'permuted q');
      const score = dotProduct(qRotated, kRotated);
      const hfScore = dotProduct(hfRotateHalf(permute(q), v3.rope, qPosition), hfRotateHalf(permute(k), v3.rope, kPosition));
      assert.ok(Math.abs(score - hfScore) < 1e-12, `q·k ${score} vs ${hfScore}`);
      const unpermutedScore = dotProduct(hfRotateHalf(q, v3.rope, qPosition), hfRotateHalf(k, v3.rope, kPosition));
      assert.ok(Math.abs(score - unpermutedScore) > 1e-3, `plain rotate-half must differ: ${score} vs ${unpermutedScore}`);
    }
  });

  it('rotate-half (standard attention) equals the HF formula', () => {
    const rope = presetConfig('deepseek-moe-16b-base.config.json').rope;
    const x = randomVector(128, seededRandom(3));
    assertClose(rotateHalf(x, ropeAngles(rope, 9)), hfRotateHalf(x, rope, 9), 1e-12, 'rotate-half');
  });
});

describe('reference MLA attention', () => {
  for (const qLoraRank of [null, 6]) {
    it(`on one token is o_proj of the per-head values (q_lora_rank ${qLoraRank})`, () => {
      const config = mlaConfig(qLoraRank);
      const weights = randomWeights(config, 21);
      const names = tensorNames(config).layer(1);
      const [x] = prompt(config, 1, 5);
      // A single key gets attention weight 1, so each head outputs its own value:
      // v_h = rows [h·(dn+dv) + dn, (h+1)·(dn+dv)) of kv_b(RMSNorm(c_kv)), c_kv = first kv_lora rows of kv_a(x).
      const latent = times(weights.get(names.kvA)!, x).subarray(0, 5);
      const kv = times(weights.get(names.kvB)!, rmsNormed(latent, weights.get(names.kvANorm)!, 1e-6));
      const values = Float64Array.from([0, 1, 2].flatMap((h) => Array.from(kv.subarray(h * 7 + 4, h * 7 + 7))));
      const expected = times(weights.get(names.o)!, values);
      const [actual] = referenceAttention(config, source(weights), 1, [x]);
      assertClose(actual, expected, 1e-12, 'attention output');
    });

    it(`on three tokens matches a by-hand MLA with HF-remote's permute-then-rotate-half RoPE (q_lora_rank ${qLoraRank})`, () => {
      const config = mlaConfig(qLoraRank);
      const weights = randomWeights(config, 23);
      const w = (name: string) => weights.get(name)!;
      const names = tensorNames(config).layer(0);
      const tokens = prompt(config, 3, 4);
      // nh 3, dn 4, dr 8, dv 3, kv_lora 5; scale (dn + dr)^-1/2 · (0.1 · 0.707 · ln 40 + 1)².
      const scale = Math.pow(0.1 * 0.707 * Math.log(40) + 1, 2) / Math.sqrt(12);
      const perToken = tokens.map((x, position) => {
        const q = qLoraRank === null ? times(w(names.q), x) : times(w(names.qB), rmsNormed(times(w(names.qA), x), w(names.qANorm), 1e-6));
        const compressed = times(w(names.kvA), x);
        const kv = times(w(names.kvB), rmsNormed(compressed.subarray(0, 5), w(names.kvANorm), 1e-6));
        const ropeKey = hfRotateHalf(permute(compressed.subarray(5)), config.rope, position);
        return [0, 1, 2].map((h) => ({
          queryNope: q.subarray(h * 12, h * 12 + 4),
          queryRope: hfRotateHalf(permute(q.subarray(h * 12 + 4, h * 12 + 12)), config.rope, position),
          keyNope: kv.subarray(h * 7, h * 7 + 4),
          ropeKey,
          value: kv.subarray(h * 7 + 4, h * 7 + 7),
        }));
      });
      const actual = referenceAttention(config, source(weights), 0, tokens);
      perToken.forEach((heads, t) => {
        const concatenated = heads.flatMap(({ queryNope, queryRope }, h) => {
          const logits = perToken.slice(0, t + 1).map((key) => (dotProduct(queryNope, key[h].keyNope) + dotProduct(queryRope, key[h].ropeKey)) * scale);
          const exps = logits.map((z) => Math.exp(z - Math.max(...logits)));
          const total = exps.reduce((a, b) => a + b, 0);
          return [0, 1, 2].map((i) => exps.reduce((sum, e, s) => sum + (e / total) * perToken[s][h].value[i], 0));
        });
        assertClose(actual[t], times(w(names.o), Float64Array.from(concatenated)), 1e-12, `token ${t}`);
      });
    });

    it(`is causal: a token's output does not depend on later tokens (q_lora_rank ${qLoraRank})`, () => {
      const config = mlaConfig(qLoraRank);
      const weight = source(randomWeights(config, 22));
      const tokens = prompt(config, 4, 6);
      const full = referenceAttention(config, weight, 0, tokens);
      const firstTwo = referenceAttention(config, weight, 0, tokens.slice(0, 2));
      assertClose(full[1], firstTwo[1], 1e-12, 'second token');
      assert.ok(maxDifference(full[1], full[2]) > 1e-6, 'tokens differ');
    });
  }
});

describe('reference standard attention', () => {
  it('grouped-query: 4 heads over 2 kv heads equals 4 kv heads holding kv head floor(h / 2)', () => {
    const grouped = mhaConfig('mixtral', 2);
    const full = mhaConfig('mixtral', 4);
    const weights = randomWeights(grouped, 31);
    const names = tensorNames(grouped).layer(0);
    const D = 4;
    const duplicated = (w: Float64Array, kvHeadOf: (h: number) => number) =>
      Float64Array.from([0, 1, 2, 3].flatMap((h) => Array.from(w.subarray(kvHeadOf(h) * D * 16, (kvHeadOf(h) + 1) * D * 16))));
    const withKvHeads = (kvHeadOf: (h: number) => number) =>
      new Map([...weights, [names.k, duplicated(weights.get(names.k)!, kvHeadOf)], [names.v, duplicated(weights.get(names.v)!, kvHeadOf)]]);
    const tokens = prompt(grouped, 3, 7);
    const actual = referenceAttention(grouped, source(weights), 0, tokens);
    const expected = referenceAttention(full, source(withKvHeads((h) => Math.floor(h / 2))), 0, tokens);
    actual.forEach((row, t) => assertClose(row, expected[t], 1e-12, `token ${t}`));
    // The comparison can tell the head mapping apart: h % 2 instead gives another result.
    const interleaved = referenceAttention(full, source(withKvHeads((h) => h % 2)), 0, tokens);
    assert.ok(maxDifference(actual[2], interleaved[2]) > 1e-6);
  });

  it('q/k/v biases: zero biases change nothing, and a bias acts as a weight column fed by a constant 1', () => {
    const biased = mhaConfig('qwen2_moe', 2);
    const H = biased.hiddenSize;
    assert.equal(biased.attention.kind === 'mha' && biased.attention.qkvBias, true);
    const unbiased: ModelConfig = { ...biased, attention: { ...(biased.attention as MhaAttention), qkvBias: false } };
    const weights = randomWeights(biased, 41);
    const names = tensorNames(biased).layer(0);
    const tokens = prompt(biased, 3, 8);

    const zeroBiases = new Map([...weights, ...[names.qBias, names.kBias, names.vBias].map((n) => [n, new Float64Array(weights.get(n)!.length)] as const)]);
    const withZero = referenceAttention(biased, source(zeroBiases), 0, tokens);
    const without = referenceAttention(unbiased, source(weights), 0, tokens);
    withZero.forEach((row, t) => assertClose(row, without[t], 1e-12, `zero bias, token ${t}`));

    // One more input dimension fixed at 1: each projection row gains its bias as the last column, and o_proj
    // gains a zero row for the extra output dimension, which is dropped.
    const widened: ModelConfig = { ...unbiased, hiddenSize: H + 1 };
    const appendColumn = (w: Float64Array, column: Float64Array) =>
      Float64Array.from(Array.from(column).flatMap((b, r) => [...w.subarray(r * H, (r + 1) * H), b]));
    const widenedWeights = new Map([
      [names.q, appendColumn(weights.get(names.q)!, weights.get(names.qBias)!)],
      [names.k, appendColumn(weights.get(names.k)!, weights.get(names.kBias)!)],
      [names.v, appendColumn(weights.get(names.v)!, weights.get(names.vBias)!)],
      [names.o, Float64Array.from([...weights.get(names.o)!, ...new Float64Array(weights.get(names.o)!.length / H)])],
    ]);
    const withOne = tokens.map((x) => Float64Array.from([...x, 1]));
    const expected = referenceAttention(widened, source(widenedWeights), 0, withOne);
    const actual = referenceAttention(biased, source(weights), 0, tokens);
    actual.forEach((row, t) => assertClose(row, expected[t].subarray(0, H), 1e-12, `bias, token ${t}`));
    assert.ok(maxDifference(actual[2], without[2]) > 1e-6, 'the biases matter');
  });

  for (const part of ['q', 'k'] as const) {
    it(`OLMoE ${part}-norm runs over all heads together, before the split: huge head-0 ${part} rows silence the other heads`, () => {
      // Head 0's rows of the ${part} projection are scaled by 1e6, so after an RMSNorm over the whole projection
      // the other heads' ${part} is ~1e-6: their attention logits are ~0 and they average the values uniformly.
      // o_proj's columns of head 0 are zeroed, so the output is o_proj of heads 1-3's mean values, worked out by hand.
      const config = mhaConfig('olmoe', 4);
      const weights = randomWeights(config, 51);
      const names = tensorNames(config).layer(0);
      const D = 4;
      const H = config.hiddenSize;
      const projection = part === 'q' ? names.q : names.k;
      const loud = weights.get(projection)!.map((w, i) => (Math.floor(i / H) < D ? w * 1e6 : w));
      const headZeroSilent = weights.get(names.o)!.map((w, i) => (i % (4 * D) < D ? 0 : w));
      const tuned = new Map([...weights, [projection, loud], [names.o, headZeroSilent]]);
      const tokens = prompt(config, 3, 9);
      const actual = referenceAttention(config, source(tuned), 0, tokens);
      tokens.forEach((_, t) => {
        const meanValue = new Float64Array(4 * D);
        for (let s = 0; s <= t; s++) {
          const v = times(weights.get(names.v)!, tokens[s]);
          for (let i = D; i < 4 * D; i++) meanValue[i] += v[i] / (t + 1);
        }
        assertClose(actual[t], times(headZeroSilent, meanValue), 1e-5, `token ${t}`);
      });
    });
  }
});

describe('reference routing over whole prompts', () => {
  it('V3 gate: each token draws its experts from topk_group kept groups, and the F32 bias steers the choice', () => {
    const config = mlaConfig(6);
    const weights = randomWeights(config, 61);
    // A large bias on expert 13 makes it every token's choice at layer 2, while its weight stays unbiased.
    const bias = new Float64Array(16);
    bias[13] = 10;
    weights.set(tensorNames(config).layer(2).routerBias, bias);
    const routing = referenceRoute(config, source(weights), [1, 4, 9, 16, 3], {});
    for (const perLayer of routing) {
      assert.deepEqual(perLayer.map((r) => r.layer), moeLayers(config));
      for (const { ids, groups, weights: w, layer } of perLayer) {
        assert.equal(groups.length, 2);
        assert.equal(new Set(ids).size, 4);
        for (const e of ids) assert.ok(groups.includes(Math.floor(e / 4)), `expert ${e} outside kept groups ${groups}`);
        assert.ok(Math.abs(w.reduce((a, b) => a + b, 0) - 2.5) < 1e-12, 'normalised, then scaled by 2.5');
        if (layer === 2) assert.ok(ids.includes(13), `layer 2 picks the biased expert: ${ids}`);
      }
    }
  });

  it('speculative gate: none at layer 0; where the previous layer adds nothing, it is exactly the real choice', () => {
    // With layer l-1's FFN output and layer l's attention output zeroed, and the two post-attention norms equal,
    // layer l's FFN input equals layer l-1's, so layer l's gate applied to the latter is its real decision.
    const cases: Array<[string, ModelConfig]> = [
      ['V3 (dense layer 0 before MoE layer 1, MoE before MoE)', mlaConfig(6)],
      ['Mixtral (MoE from layer 0)', mhaConfig('mixtral', 2, { shared_expert_intermediate_size: 0 })],
    ];
    for (const [what, config] of cases) {
      const weights = randomWeights(config, 83);
      const tokens = [3, 1, 4, 1, 5];
      const original = referenceRoute(config, source(weights), tokens);
      const silenced = new Map(weights);
      const zero = (name: string) => silenced.set(name, new Float64Array(weights.get(name)!.length));
      for (let l = 1; l < config.numLayers; l++) {
        const previous = tensorNames(config).layer(l - 1);
        const names = tensorNames(config).layer(l);
        if (moeLayers(config).includes(l - 1)) {
          for (let e = 0; e < config.nRoutedExperts; e++) zero(previous.expertDown(e));
          if (config.sharedIntermediateSize > 0) zero(previous.sharedDown);
        } else zero(previous.denseDown);
        zero(names.o);
        silenced.set(names.postNorm, silenced.get(previous.postNorm)!);
      }
      const routing = referenceRoute(config, source(silenced), tokens);
      let differedBefore = 0;
      routing.forEach((perLayer, t) =>
        perLayer.forEach((decision, slot) => {
          if (decision.layer === 0) return assert.equal(decision.speculative, undefined, `${what}: layer 0 has no previous layer`);
          assert.ok(decision.speculative, `${what}: layer ${decision.layer} speculates`);
          assert.deepEqual(decision.speculative.ids, decision.ids, `${what}: token ${t} layer ${decision.layer}`);
          assertClose(decision.speculative.scores, decision.scores, 1e-12, `${what}: scores`);
          const before = original[t][slot];
          if (before.speculative!.ids.join() !== before.ids.join()) differedBefore++;
        }),
      );
      assert.ok(differedBefore > 0, `${what}: with the original weights the speculative choice differs somewhere`);
    }
  });

  it("Qwen2-MoE shared expert: a zero gate weight halves the shared expert's output (sigmoid(0) = 1/2)", () => {
    const gated = mhaConfig('qwen2_moe', 4);
    assert.deepEqual(moeLayers(gated), [0, 1]);
    const weights = randomWeights(gated, 71);
    const layer0 = tensorNames(gated).layer(0);
    const closedGate = new Map([...weights, [layer0.sharedExpertGate, new Float64Array(gated.hiddenSize)]]);
    const halvedShared = new Map([...weights, [layer0.sharedDown, weights.get(layer0.sharedDown)!.map((w) => w / 2)]]);
    // Layer 0's output feeds layer 1's router, so layer 1's scores tell the two apart.
    const tokens = [2, 7, 11];
    const actual = referenceRoute(gated, source(closedGate), tokens);
    const expected = referenceRoute({ ...gated, sharedExpertGate: false }, source(halvedShared), tokens);
    const unhalved = referenceRoute({ ...gated, sharedExpertGate: false }, source(weights), tokens);
    actual.forEach((perLayer, t) => {
      assertClose(perLayer[1].scores, expected[t][1].scores, 1e-12, `token ${t}`);
      assert.ok(maxDifference(perLayer[1].scores, unhalved[t][1].scores) > 1e-9, 'the gate matters');
    });
  });
});
