import assert from 'node:assert/strict';
import { it } from 'node:test';
import { planChunks } from '../src/route/chunks.js';

it('planChunks packs whole prompts up to the budget, and gives a long prompt a chunk of its own', () => {
  // lengths 3, 4, 2, 9, 1 with a budget of 8: [3+4] (a 2 would make 9), [2], [9] alone, [1]
  const chunks = planChunks([3, 4, 2, 9, 1], 8);
  assert.deepEqual(
    chunks.map((c) => [c.promptStart, c.promptEnd, c.tokenStart, c.tokenEnd]),
    [
      [0, 2, 0, 7],
      [2, 3, 7, 9],
      [3, 4, 9, 18],
      [4, 5, 18, 19],
    ],
  );
  assert.deepEqual(chunks.map((c) => c.index), [0, 1, 2, 3]);
});

it('planChunks covers every prompt exactly once, in order, on random lengths', () => {
  let seed = 42;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let trial = 0; trial < 200; trial++) {
    const lengths = Array.from({ length: 1 + Math.floor(random() * 40) }, () => 1 + Math.floor(random() * 30));
    const budget = 1 + Math.floor(random() * 60);
    const chunks = planChunks(lengths, budget);
    let prompt = 0;
    let token = 0;
    for (const c of chunks) {
      assert.equal(c.promptStart, prompt);
      assert.equal(c.tokenStart, token);
      const size = lengths.slice(c.promptStart, c.promptEnd).reduce((a, b) => a + b, 0);
      assert.equal(c.tokenEnd - c.tokenStart, size);
      assert.ok(size <= budget || c.promptEnd - c.promptStart === 1, 'over budget only for a single long prompt');
      prompt = c.promptEnd;
      token = c.tokenEnd;
    }
    assert.equal(prompt, lengths.length);
  }
});
