import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { compareTraces, jsDivergenceBits, RoutingComparison } from '../src/analysis/routing-diff.js';
import { openTrace, writeTrace, type TraceContent } from '../src/trace.js';
import { seededRandom, tempDir } from './helpers/safetensors-bytes.js';

const dir = tempDir('diff-routing');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const close = (actual: number, expected: number, what: string) => assert.ok(Math.abs(actual - expected) < 1e-12, `${what}: ${actual} vs ${expected}`);

describe('jsDivergenceBits', () => {
  test('identical distributions: 0; disjoint ones: 1 bit', () => {
    assert.equal(jsDivergenceBits([3, 1, 0], [3, 1, 0]), 0);
    assert.equal(jsDivergenceBits([1, 0], [0, 1]), 1);
    assert.equal(jsDivergenceBits([2, 2, 0, 0], [0, 0, 5, 1]), 1);
  });

  test('[1/2, 1/2] vs [1, 0]: H(m) - (H(p) + H(q))/2 = H(3/4, 1/4) - 1/2', () => {
    const hm = -(0.75 * Math.log2(0.75) + 0.25 * Math.log2(0.25));
    close(jsDivergenceBits([1, 1], [1, 0]), hm - 0.5, 'js');
    close(jsDivergenceBits([0.5, 0.5], [7, 0]), hm - 0.5, 'counts and shares give the same');
  });

  test('symmetric', () => {
    close(jsDivergenceBits([5, 1, 2], [1, 1, 6]), jsDivergenceBits([1, 1, 6], [5, 1, 2]), 'js');
  });

  test('empty or mismatched distributions are refused', () => {
    assert.throws(() => jsDivergenceBits([0, 0], [1, 0]), /empty distribution/);
    assert.throws(() => jsDivergenceBits([1], [1, 0]), /1 and 2 outcomes/);
  });
});

/**
 * Hand-worked case, L = 2 layers, K = 2, E = 4, T = 3; per token and layer: S_a, S_b, |S_a ∩ S_b|/K, same top-1?
 *   t0  l0 [0,1] [1,0] 1   no    l1 [2,3] [2,3] 1   yes
 *   t1  l0 [1,2] [3,0] 0   no    l1 [0,1] [0,2] 1/2 yes
 *   t2  l0 [3,0] [3,1] 1/2 yes   l1 [1,2] [0,3] 0   no
 */
const idsA = [[0, 1, 2, 3], [1, 2, 0, 1], [3, 0, 1, 2]];
const idsB = [[1, 0, 2, 3], [3, 0, 0, 2], [3, 1, 0, 3]];

describe('RoutingComparison', () => {
  test('hand-worked case: overlap, top-1 agreement, loads and JS divergence per layer', () => {
    const comparison = new RoutingComparison([1, 2], 2, 4);
    // Two blocks, to check that blocks add up.
    comparison.add(Int32Array.from(idsA[0]), Int32Array.from(idsB[0]));
    comparison.add(Int32Array.from(idsA.slice(1).flat()), Int32Array.from(idsB.slice(1).flat()));
    const result = comparison.result();
    assert.equal(result.tokens, 3);
    const [l0, l1] = result.layers;
    assert.equal(l0.layer, 1);
    close(l0.overlap, 0.5, 'layer 0 overlap');
    close(l0.top1Agreement, 1 / 3, 'layer 0 top-1');
    close(l1.overlap, 0.5, 'layer 1 overlap');
    close(l1.top1Agreement, 2 / 3, 'layer 1 top-1');
    assert.deepEqual(l0.loadA, [2, 2, 1, 1]);
    assert.deepEqual(l0.loadB, [2, 2, 0, 2]);
    // p = [1/3, 1/3, 1/6, 1/6], q = [1/3, 1/3, 0, 1/3], m = [1/3, 1/3, 1/12, 1/4]:
    // KL(p||m) = (2 - log2 3)/6, KL(q||m) = (2 - log2 3)/3, JS = (2 - log2 3)/4.
    close(l0.loadJsDivergence, (2 - Math.log2(3)) / 4, 'layer 0 JS');
    assert.deepEqual(l1.loadA, [1, 2, 2, 1]);
    assert.deepEqual(l1.loadB, [2, 0, 2, 2]);
  });

  test('most changed tokens: lowest mean overlap first, ties by top-1 agreement then token order', () => {
    const comparison = new RoutingComparison([1, 2], 2, 4);
    comparison.add(Int32Array.from(idsA.flat()), Int32Array.from(idsB.flat()));
    const { mostChanged } = comparison.result(2);
    assert.deepEqual(mostChanged, [
      { token: 1, overlap: 0.25, top1Agreement: 0.5 },
      { token: 2, overlap: 0.25, top1Agreement: 0.5 },
    ]);
  });

  test('a repeated expert id counts once in the intersection', () => {
    const comparison = new RoutingComparison([0], 2, 4);
    comparison.add(Int32Array.of(1, 2), Int32Array.of(1, 1));
    assert.equal(comparison.result().layers[0].overlap, 0.5);
  });

  test('the same routing on both sides: overlap 1, top-1 1, JS 0, no changed tokens', () => {
    const random = seededRandom(3);
    // Each (token, layer) picks two distinct experts, as routing does.
    const ids = Int32Array.from(
      Array.from({ length: 50 * 3 }, () => Math.floor(random() * 8)).flatMap((first) => [first, (first + 1 + Math.floor(random() * 7)) % 8]),
    );
    const comparison = new RoutingComparison([0, 1, 2], 2, 8);
    comparison.add(ids, ids);
    const result = comparison.result();
    for (const layer of result.layers) {
      assert.deepEqual([layer.overlap, layer.top1Agreement, layer.loadJsDivergence], [1, 1, 0]);
    }
    assert.deepEqual(result.mostChanged, [], 'no token changed, so none is listed');
  });
});

/** A token's context as strings (the routing diff keeps bytes: a token may hold part of a character). */
function decoded(text: { before: Uint8Array; token: Uint8Array; after: Uint8Array }) {
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  return { before: utf8.decode(text.before), token: utf8.decode(text.token), after: utf8.decode(text.after) };
}

describe('compareTraces', () => {
  /** Three tokens in two prompts ("ab", "c"), with the routing of the hand-worked case. */
  function trace(name: string, ids: number[][], tokenIds = [10, 11, 12], promptLines?: number[]): string {
    const file = path.join(dir, name);
    const content: TraceContent = {
      metadata: { model_type: 'deepseek', n_routed_experts: 4, num_experts_per_tok: 2, model_config: '{}', model_dir: dir, labels: [], source: 'route' },
      layers: [1, 2],
      tokenIds: Int32Array.from(tokenIds),
      promptOffsets: [0, 2, 3],
      topkIds: [Int32Array.from(ids.flat())],
      tokenText: { bytes: new TextEncoder().encode('a<b'), offsets: [0, 1, 2, 3] },
      promptText: { bytes: new TextEncoder().encode('a<b'), offsets: [0, 2, 3] },
      promptLines: promptLines && Int32Array.from(promptLines),
    };
    writeTrace(file, content);
    return file;
  }

  test('streams both traces in blocks and locates the changed tokens with their text', () => {
    const a = openTrace(trace('a.trace.safetensors', idsA));
    const b = openTrace(trace('b.trace.safetensors', idsB));
    try {
      const result = compareTraces(a, b, { blockTokens: 2, mostChanged: 3 });
      close(result.layers[0].loadJsDivergence, (2 - Math.log2(3)) / 4, 'layer 0 JS');
      const { text, ...located } = result.mostChanged[0];
      assert.deepEqual(located, { token: 1, overlap: 0.25, top1Agreement: 0.5, tokenId: 11, prompt: 0, promptName: 'prompt 1', position: 1 });
      assert.deepEqual(decoded(text!), { before: 'a', token: '<', after: '' });
      assert.deepEqual(decoded(result.mostChanged[1].text!), { before: '', token: 'b', after: '' });
      assert.equal(result.mostChanged[1].prompt, 1);
      assert.equal(result.mostChanged[2].token, 0);
    } finally {
      a.close();
      b.close();
    }
  });

  test('names the changed tokens\' prompts by their line in the prompts file where the trace records it', () => {
    // Prompts from lines 3 and 7 of their file (blank lines between); a trace without prompt_lines says "prompt 1".
    const a = openTrace(trace('lines-a.trace.safetensors', idsA, undefined, [3, 7]));
    const b = openTrace(trace('lines-b.trace.safetensors', idsB, undefined, [3, 7]));
    try {
      assert.deepEqual(Array.from(a.promptLines!), [3, 7]);
      const result = compareTraces(a, b, { mostChanged: 3 });
      assert.deepEqual(result.mostChanged.map((t) => [t.prompt, t.promptName]), [[0, 'line 3'], [1, 'line 7'], [0, 'line 3']]);
    } finally {
      a.close();
      b.close();
    }
  });

  test('traces of different token ids are refused, naming the first different token', () => {
    const a = openTrace(trace('c.trace.safetensors', idsA));
    const b = openTrace(trace('d.trace.safetensors', idsB, [10, 99, 12]));
    try {
      assert.throws(() => compareTraces(a, b), (error: Error & { code?: string }) => error.code === 'diff-traces' && /token 1 id 11 vs 99/.test(error.message));
    } finally {
      a.close();
      b.close();
    }
  });
});
