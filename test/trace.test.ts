import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { InputError } from '../src/errors.js';
import { float32ToF16 } from '../src/loaders/dtypes.js';
import { SafetensorsFile } from '../src/loaders/safetensors.js';
import { TensorSpec, writeSafetensors } from '../src/loaders/safetensors-writer.js';
import { openTrace, TraceContent, traceFormat, writeTrace } from '../src/trace.js';
import { version } from '../src/version.js';
import { seededRandom, tempDir } from './helpers/safetensors-bytes.js';

const dir = tempDir('trace');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const T = 9;
const L = 3;
const K = 2;
const E = 5;

/** A small trace of hand-made arrays: 3 prompts ("hé", "", "routing!") over 9 tokens. */
function sampleContent() {
  const random = seededRandom(7);
  const topkIds = Int32Array.from({ length: T * L * K }, () => Math.floor(random() * E));
  const topkWeights = Float32Array.from({ length: T * L * K }, () => Math.fround(random()));
  const unbiasedTopkIds = Int32Array.from({ length: T * L * K }, () => Math.floor(random() * E));
  // Values exactly representable in f16, so decoding gives them back.
  const probs = Float32Array.from({ length: T * L * E }, () => Math.round(random() * 1024) / 1024);
  const routerProbSum = Float64Array.from({ length: L * E }, (_, i) => i * 0.5);
  // The speculative choice: -1 at the first recorded layer, as for a model whose layer 0 is MoE.
  const specTopkIds = Int32Array.from({ length: T * L * K }, (_, i) => (Math.floor(i / K) % L === 0 ? -1 : Math.floor(random() * E)));
  const prompts = ['hé', '', 'routing!'];
  const promptBytes = Buffer.from(prompts.join(''), 'utf8');
  // Token spans over prompt bytes: a BOS (empty) then pieces; "é" is split across two tokens on purpose.
  const tokenPieces: number[][] = [[], [0x68], [0xc3], [0xa9], [], [0x72, 0x6f], [0x75, 0x74], [0x69, 0x6e, 0x67], [0x21]];
  const tokenText = Uint8Array.from(tokenPieces.flat());
  const tokenTextOffsets = [0];
  for (const piece of tokenPieces) tokenTextOffsets.push(tokenTextOffsets[tokenTextOffsets.length - 1] + piece.length);
  const content: TraceContent = {
    metadata: {
      model_type: 'deepseek', n_routed_experts: E, num_experts_per_tok: K, model_config: JSON.stringify({ hidden_size: 16, n_routed_experts: E }),
      model_dir: '/models/tiny', labels: ['code', 'prose'], source: 'route', batch_tokens: 2048,
    },
    layers: [1, 2, 4],
    tokenIds: Int32Array.from({ length: T }, (_, i) => 100 + i),
    promptOffsets: [0, 4, 5, 9],
    // Uneven chunks, including an empty one, that together make [T, L, K].
    topkIds: [topkIds.subarray(0, 6), topkIds.subarray(6, 6), topkIds.subarray(6, 30), topkIds.subarray(30)],
    topkWeights: [topkWeights.subarray(0, 12), topkWeights.subarray(12)],
    routerProbSum,
    routerProbs: [float32ToF16(probs.subarray(0, 40)), float32ToF16(probs.subarray(40))],
    tokenText: { bytes: tokenText, offsets: tokenTextOffsets },
    promptText: { bytes: new Uint8Array(promptBytes), offsets: [0, 3, 3, 11] },
    promptLabels: Int32Array.of(1, -1, 0),
    specTopkIds: [specTopkIds.subarray(0, 10), specTopkIds.subarray(10)],
    unbiasedTopkIds: [unbiasedTopkIds.subarray(0, 12), unbiasedTopkIds.subarray(12)],
  };
  return { content, topkIds, topkWeights, probs, routerProbSum, specTopkIds, prompts, unbiasedTopkIds };
}

describe('trace', () => {
  test('writeTrace then openTrace: every tensor and metadata field comes back', () => {
    const { content, topkIds, topkWeights, probs, routerProbSum, specTopkIds, prompts } = sampleContent();
    const file = path.join(dir, 'full.trace.safetensors');
    writeTrace(file, content);
    const trace = openTrace(file);
    try {
      assert.equal(trace.file, file);
      assert.equal(trace.metadata.format, traceFormat);
      assert.equal(trace.metadata.tool_version, version);
      assert.equal(trace.metadata.source, 'route');
      assert.equal(trace.metadata.model_dir, '/models/tiny');
      assert.equal(trace.metadata.batch_tokens, '2048'); // non-strings are JSON-encoded
      assert.equal(trace.metadata.labels, '["code","prose"]');
      assert.equal(trace.modelType, 'deepseek');
      assert.equal(trace.nExperts, E);
      assert.equal(trace.k, K);
      assert.deepEqual(trace.layers, [1, 2, 4]);
      assert.equal(trace.nTokens, T);
      assert.equal(trace.nPrompts, 3);
      assert.deepEqual(trace.tokenIds, content.tokenIds);
      assert.deepEqual(trace.promptOffsets, [0, 4, 5, 9]);
      assert.deepEqual(trace.labels, ['code', 'prose']);
      assert.deepEqual(trace.promptLabels, Int32Array.of(1, -1, 0));
      assert.deepEqual([trace.hasWeights, trace.hasProbSum, trace.hasProbs, trace.hasText, trace.hasPromptText], [true, true, true, true, true]);
      assert.deepEqual(trace.routerProbSum, routerProbSum);
      assert.deepEqual(trace.readTopkIds(0, T), topkIds);
      assert.deepEqual(trace.readTopkWeights(0, T), topkWeights);
      assert.deepEqual(trace.readRouterProbs(0, T), probs);
      assert.equal(trace.hasSpeculative, true);
      assert.deepEqual(trace.readSpecTopkIds(0, T), specTopkIds);
      assert.deepEqual(trace.readSpecTopkIds(3, 7), specTopkIds.slice(3 * L * K, 7 * L * K));
      assert.deepEqual(trace.modelConfig(), { hidden_size: 16, n_routed_experts: E });
      assert.deepEqual(prompts.map((_, p) => trace.promptText(p)), prompts);
      assert.equal(trace.tokenText(0), '');
      assert.equal(trace.tokenText(1), 'h');
      assert.deepEqual(trace.tokenBytes(2), Uint8Array.of(0xc3));
      assert.equal(trace.tokenText(7), 'ing');
      // A prompt's tokens concatenate to its bytes.
      const promptTwo = Buffer.concat([5, 6, 7, 8].map((t) => trace.tokenBytes(t))).toString('utf8');
      assert.equal(promptTwo, 'routing!');
    } finally {
      trace.close();
    }
    // Python-side readers see plain safetensors: check the raw layout too.
    const raw = SafetensorsFile.open(file);
    assert.deepEqual(raw.tensors.get('topk_ids')!.shape, [T, L, K]);
    assert.equal(raw.tensors.get('prompt_offsets')!.dtype, 'I64');
    assert.equal(raw.tensors.get('router_probs')!.dtype, 'F16');
    assert.deepEqual(raw.tensors.get('unbiased_topk_ids')!.shape, [T, L, K]);
    raw.close();
  });

  test('readTopkIds / readTopkWeights / readRouterProbs read just the token range asked for', () => {
    const { content, topkIds, topkWeights, probs, unbiasedTopkIds } = sampleContent();
    const file = path.join(dir, 'ranges.trace.safetensors');
    writeTrace(file, content);
    const trace = openTrace(file);
    try {
      for (const [start, end] of [[0, 1], [3, 7], [8, 9], [4, 4], [0, 9]]) {
        assert.deepEqual(trace.readTopkIds(start, end), topkIds.slice(start * L * K, end * L * K), `ids ${start}..${end}`);
        assert.deepEqual(trace.readTopkWeights(start, end), topkWeights.slice(start * L * K, end * L * K));
        assert.deepEqual(trace.readRouterProbs(start, end), probs.slice(start * L * E, end * L * E));
        assert.deepEqual(trace.readUnbiasedTopkIds(start, end), unbiasedTopkIds.slice(start * L * K, end * L * K));
      }
      assert.throws(() => trace.readTopkIds(5, 10), RangeError);
      assert.throws(() => trace.readTopkIds(-1, 2), RangeError);
      assert.throws(() => trace.readTopkIds(3, 2), RangeError);
    } finally {
      trace.close();
    }
  });

  test('a trace without the optional tensors (as import may write)', () => {
    const { content } = sampleContent();
    const file = path.join(dir, 'minimal.trace.safetensors');
    writeTrace(file, { metadata: { ...content.metadata, source: 'import:vllm' }, layers: content.layers, tokenIds: content.tokenIds, promptOffsets: content.promptOffsets, topkIds: content.topkIds });
    const trace = openTrace(file);
    try {
      assert.deepEqual([trace.hasWeights, trace.hasProbSum, trace.hasProbs, trace.hasText, trace.hasPromptText], [false, false, false, false, false]);
      assert.equal(trace.promptLabels, undefined);
      assert.equal(trace.routerProbSum, undefined);
      assert.equal(trace.hasSpeculative, false);
      assert.throws(() => trace.readSpecTopkIds(0, 1), { code: 'trace-no-speculative', message: /route --speculate/ });
      assert.throws(() => trace.readTopkWeights(0, 1), { code: 'trace-no-weights' });
      assert.throws(() => trace.readRouterProbs(0, 1), { code: 'trace-no-probs' });
      assert.throws(() => trace.tokenText(0), { code: 'trace-no-text' });
      assert.equal(trace.hasUnbiased, false);
      assert.throws(() => trace.readUnbiasedTopkIds(0, 1), { code: 'trace-no-unbiased' });
    } finally {
      trace.close();
    }
  });

  test('writeTrace refuses inconsistent content and leaves no file', () => {
    const file = path.join(dir, 'bad.trace.safetensors');
    const { content } = sampleContent();
    assert.throws(() => writeTrace(file, { ...content, promptOffsets: [0, 4, 9, 5] }), { code: 'trace-offsets', message: /must not decrease/ });
    assert.throws(() => writeTrace(file, { ...content, promptOffsets: [0, 4, 8] }), { code: 'trace-offsets', message: /must end at 9/ });
    assert.throws(() => writeTrace(file, { ...content, promptLabels: Int32Array.of(0, 2, 0) }), { code: 'trace-labels' });
    // One chunk short of [T, L, K]: found when the writer finishes.
    assert.throws(() => writeTrace(file, { ...sampleContent().content, topkIds: [new Int32Array(T * L * K - 1)] }), { code: 'writer-incomplete', message: /tensor "topk_ids"/ });
    assert.deepEqual(fs.readdirSync(dir).filter((name) => name.includes('bad.trace')), []);
  });

  test('openTrace errors: not a trace, missing tensor, shapes that disagree, bad metadata', () => {
    const { content } = sampleContent();
    const expectError = (file: string, code: string, message: RegExp) =>
      assert.throws(() => openTrace(file), (error: unknown) => {
        assert.ok(error instanceof InputError, String(error));
        assert.equal(error.code, code);
        assert.ok(error.message.startsWith(`${file}: `), error.message);
        assert.match(error.message, message);
        return true;
      });

    const plain = path.join(dir, 'model.safetensors');
    writeSafetensors(plain, [{ name: 'w', dtype: 'F32', shape: [1], data: Float32Array.of(1) }], { format: 'pt' });
    expectError(plain, 'trace-format', /not a moe-inspect trace: metadata "format" expected "moe-inspect\/trace@1", found "pt"/);

    const metadata = { ...content.metadata, format: traceFormat, tool_version: version } as unknown as Record<string, string>;
    const encoded = Object.fromEntries(Object.entries(metadata).map(([key, value]) => [key, typeof value === 'string' ? value : JSON.stringify(value)]));
    const base: Array<TensorSpec & { data: ArrayBufferView }> = [
      { name: 'token_ids', dtype: 'I32', shape: [T], data: content.tokenIds },
      { name: 'prompt_offsets', dtype: 'I64', shape: [4], data: BigInt64Array.of(0n, 4n, 5n, 9n) },
      { name: 'layers', dtype: 'I32', shape: [L], data: Int32Array.of(1, 2, 4) },
      { name: 'topk_ids', dtype: 'I32', shape: [T, L, K], data: new Int32Array(T * L * K) },
    ];
    const variant = (name: string, tensors: typeof base, meta = encoded) => {
      const file = path.join(dir, `${name}.trace.safetensors`);
      writeSafetensors(file, tensors, meta);
      return file;
    };

    expectError(variant('no-topk', base.slice(0, 3)), 'trace-missing-tensor', /tensor "topk_ids" is missing/);
    expectError(variant('wrong-k', [...base.slice(0, 3), { ...base[3], shape: [T, L, K + 1], data: new Int32Array(T * L * (K + 1)) }]), 'trace-tensor-shape', /"topk_ids": shape expected \[9, 3, 2\], found \[9, 3, 3\]/);
    expectError(variant('wrong-dtype', [...base.slice(0, 3), { ...base[3], dtype: 'U32' }]), 'trace-tensor-dtype', /"topk_ids": dtype expected I32, found U32/);
    expectError(variant('bad-offsets', [base[0], { ...base[1], data: BigInt64Array.of(0n, 4n, 5n, 8n) }, base[2], base[3]]), 'trace-offsets', /must end at 9, found 8/);
    expectError(variant('prob-sum-shape', [...base, { name: 'router_prob_sum', dtype: 'F64', shape: [L, E + 1], data: new Float64Array(L * (E + 1)) }]), 'trace-tensor-shape', /router_prob_sum/);
    expectError(variant('half-text', [...base, { name: 'token_text', dtype: 'U8', shape: [0], data: new Uint8Array(0) }]), 'trace-missing-tensor', /"token_text" needs "token_text_offsets"/);
    expectError(variant('bad-k', base, { ...encoded, num_experts_per_tok: 'two' }), 'trace-metadata', /"num_experts_per_tok" expected a positive integer, found "two"/);
    expectError(variant('no-type', base, Object.fromEntries(Object.entries(encoded).filter(([key]) => key !== 'model_type'))), 'trace-metadata', /"model_type" is missing/);
    expectError(variant('bad-labels', [...base, { name: 'prompt_labels', dtype: 'I32', shape: [3], data: Int32Array.of(0, 5, -1) }]), 'trace-labels', /prompt 1 has label index 5/);

    const outOfRange = variant('bad-expert', [...base.slice(0, 3), { ...base[3], data: new Int32Array(T * L * K).fill(E, 20, 21) }]);
    const trace = openTrace(outOfRange);
    assert.deepEqual(trace.readTopkIds(0, 3), new Int32Array(3 * L * K));
    assert.throws(() => trace.readTopkIds(0, T), { code: 'trace-expert-id', message: /token 3 has expert 5, expected 0..4/ });
    trace.close();

    // spec_topk_ids may hold -1 (no previous layer) but nothing lower, and nothing past E - 1.
    const speculative = (name: string, data: Int32Array) => variant(name, [...base, { name: 'spec_topk_ids', dtype: 'I32', shape: [T, L, K], data }]);
    expectError(variant('spec-shape', [...base, { name: 'spec_topk_ids', dtype: 'I32', shape: [T, L, K + 1], data: new Int32Array(T * L * (K + 1)) }]), 'trace-tensor-shape', /"spec_topk_ids": shape expected \[9, 3, 2\]/);
    const allowed = openTrace(speculative('spec-minus-one', new Int32Array(T * L * K).fill(-1)));
    assert.deepEqual(allowed.readSpecTopkIds(0, T), new Int32Array(T * L * K).fill(-1));
    allowed.close();
    for (const [name, bad] of [['spec-minus-two', -2], ['spec-too-big', E]] as const) {
      const refused = openTrace(speculative(name, new Int32Array(T * L * K).fill(bad, 13, 14)));
      assert.throws(() => refused.readSpecTopkIds(0, T), { code: 'trace-expert-id', message: new RegExp(`"spec_topk_ids": token 2 has expert ${bad}, expected -1..4`) });
      refused.close();
    }

  });
});
