/**
 * Attention groups (issue 13): a chunk's prompts in padded batches of similar length, so attention computes each
 * prompt's own causal block and not every pair of the chunk. Checked on a hand-worked case and on the grouping
 * rule's promises; route-parity.test.ts holds the routing through them to the float64 reference.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { attentionGroups, planAttentionGroups } from '../src/runtime/attention-groups.js';

const M = -1e30;

describe('attention groups', () => {
  it('lays two short prompts out as one padded batch (hand-worked)', () => {
    // Prompt 0 has 2 tokens (rows 0, 1), prompt 1 has 3 (rows 2, 3, 4): one group of B = 2, S = 3.
    const [group, ...rest] = attentionGroups([2, 3]);
    assert.equal(rest.length, 0);
    assert.equal(group.rows, undefined, 'one group holds the chunk in order');
    assert.deepEqual(Array.from(group.feeds.positions.data as BigInt64Array, Number), [0, 1, 0, 1, 2]);
    assert.deepEqual(group.feeds.pad_rows.dims, [2, 3]);
    assert.deepEqual(Array.from(group.feeds.pad_rows.data as BigInt64Array, Number), [0, 1, 0, 2, 3, 4]);
    assert.deepEqual(Array.from(group.feeds.unpad_slots.data as BigInt64Array, Number), [0, 1, 3, 4, 5]);
    assert.deepEqual(group.feeds.mask.dims, [2, 1, 3, 3]);
    assert.deepEqual(Array.from(group.feeds.mask.data as Float32Array), [
      0, M, M,  0, 0, M,  0, 0, M, // prompt 0; its padding slot (row 3) sees the prompt's keys only
      0, M, M,  0, 0, M,  0, 0, 0,
    ].map(Math.fround));
  });

  it('keeps a long prompt away from many short ones, and gathers each group\'s rows', () => {
    const lengths = [5, 400, ...Array.from({ length: 40 }, (_, i) => 20 + (i % 7))];
    const groups = attentionGroups(lengths);
    assert.ok(groups.length >= 2);
    const seen = new Set<number>();
    for (const g of groups) {
      for (const r of g.rows!) seen.add(r);
      const [B, S] = g.feeds.pad_rows.dims;
      // The long prompt's group holds no prompt much shorter than itself.
      if (S === 400) assert.ok(B <= 2, `the 400-token prompt shares its group with ${B - 1} prompts`);
    }
    assert.equal(seen.size, lengths.reduce((a, b) => a + b, 0), "every token in exactly one group");
    const computed = groups.reduce((sum, g) => sum + g.feeds.mask.size, 0);
    const total = lengths.reduce((a, b) => a + b, 0);
    assert.ok(computed < total * total / 5, `${computed} pairs computed against ${total * total} packed`);
  });

  it('partitions the prompts within twice their own squares plus a 64x64 block per group', () => {
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let trial = 0; trial < 50; trial++) {
      const lengths = Array.from({ length: 1 + Math.floor(random() * 60) }, () => 1 + Math.floor(random() ** 3 * 500));
      const groups = planAttentionGroups(lengths);
      assert.deepEqual(groups.flat().sort((a, b) => a - b), lengths.map((_, p) => p));
      for (const g of groups) {
        const S = Math.max(...g.map((p) => lengths[p]));
        const squares = g.reduce((sum, p) => sum + lengths[p] ** 2, 0);
        assert.ok(g.length * S * S <= 2 * squares + 64 * 64, `group of ${g.length} up to ${S}`);
      }
    }
  });
});
