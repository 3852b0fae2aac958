import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { coactivation, CoactivationCounter } from '../src/analysis/coactivation.js';
import { DomainCounter, domainSpecialization } from '../src/analysis/domain-specialization.js';
import { TokenExpertCounter, tokenRows } from '../src/analysis/token-expert-counts.js';
import { expertTopTokens, tokenSpecialization } from '../src/analysis/token-specialization.js';

const close = (actual: number, expected: number, what: string) => assert.ok(Math.abs(actual - expected) < 1e-12, `${what}: expected ${expected}, found ${actual}`);

describe('token specialization', () => {
  // K = 2, E = 4, 7 tokens. id 10 ("A") 4 times: {0,1} {0,2} {1,3} {0,3}; id 20 ("B") 3 times: {2,3} {2,1} {2,0}.
  const tokenIds = Int32Array.of(10, 20, 10, 20, 10, 20, 10);
  const sets = [[0, 1], [2, 3], [0, 2], [2, 1], [1, 3], [2, 0], [0, 3]];
  const rows = tokenRows(tokenIds);
  const counter = new TokenExpertCounter(rows, tokenIds, undefined, 1, 2, 4, [0]);
  counter.add({ start: 0, tokens: 7, ids: Int32Array.from(sets.flat()) });
  const counts = counter.counts[0];

  test('top-expert share by hand', () => {
    // A: expert 0 takes 3 of 4; B: expert 2 takes 3 of 3. Share = (3 + 3) / (4 + 3).
    const result = tokenSpecialization(counts, rows, 4, { minOccurrences: 3 })!;
    close(result.topExpertShare, 6 / 7, 'topExpertShare');
    assert.equal(result.ids, 2);
    assert.deepEqual(
      result.mostSpecialized.map(({ id, expert, count, occurrences, share }) => ({ id, expert, count, occurrences, share })),
      [
        { id: 20, expert: 2, count: 3, occurrences: 3, share: 1 },
        { id: 10, expert: 0, count: 3, occurrences: 4, share: 0.75 },
      ],
    );
    // With the default minimum of 10 occurrences no id qualifies.
    assert.equal(tokenSpecialization(counts, rows, 4), undefined);
  });

  test('tokens each expert receives most, with lift, by hand', () => {
    // load: e0 = A3 + B1 = 4, e1 = A2 + B1 = 3, e2 = A1 + B3 = 4, e3 = A2 + B1 = 3 (sum 14 = T*K).
    const top = expertTopTokens(counts, rows, [4, 3, 4, 3], 7, { minOccurrences: 3 });
    const plain = top.map((list) => list.map(({ id, count, lift }) => [id, count, lift]));
    // e2: B 3 times, lift (3/4) / (3/7) = 1.75; A once, lift (1/4) / (4/7) = 7/16.
    assert.deepEqual(plain[2], [[20, 3, (3 / 4) / (3 / 7)], [10, 1, (1 / 4) / (4 / 7)]]);
    close(plain[2][0][2], 1.75, 'lift of B at e2');
    // Shares of the token's occurrences: B 3 of 3 at e2, A 1 of 4.
    assert.deepEqual(top[2].map((t) => t.share), [1, 0.25]);
    // e0: A 3 times, lift (3/4) / (4/7) = 21/16; B once, lift (1/4) / (3/7) = 7/12.
    close(plain[0][0][2], 21 / 16, 'lift of A at e0');
    close(plain[0][1][2], 7 / 12, 'lift of B at e0');
    // e1 and e3: A twice, then B once.
    assert.deepEqual(plain[1].map(([id, count]) => [id, count]), [[10, 2], [20, 1]]);
    assert.deepEqual(expertTopTokens(counts, rows, [4, 3, 4, 3], 7, { minOccurrences: 3, listed: 1 })[3].length, 1);
  });
});

describe('co-activation', () => {
  test('share and lift by hand', () => {
    // E = 3, K = 2, T = 4: {0,1} {0,1} {0,2} {1,2}. load 3, 3, 2; both(0,1) = 2, both(0,2) = 1, both(1,2) = 1.
    const counter = new CoactivationCounter(1, 2, 3, [0]);
    counter.add({ start: 0, tokens: 4, ids: Int32Array.of(0, 1, 0, 1, 0, 2, 1, 2) });
    const c = coactivation(counter.both[0], 3, 4);
    assert.deepEqual(c.both, [[3, 2, 1], [2, 3, 1], [1, 1, 2]]);
    close(c.share[0][1], 2 / 3, 'C[0][1]');
    close(c.share[2][0], 1 / 2, 'C[2][0]');
    close(c.share[1][1], 1, 'C[1][1]');
    // lift[i][j] = C[i][j] / (load_j / T): (2/3) / (3/4) = 8/9; (1/3) / (2/4) = 2/3.
    close(c.lift[0][1], 8 / 9, 'lift[0][1]');
    close(c.lift[0][2], 2 / 3, 'lift[0][2]');
    close(c.lift[2][0], 2 / 3, 'lift is symmetric');
  });

  test('an expert without load gives NaN, not a division by zero', () => {
    const c = coactivation(Float64Array.of(2, 0, 0, 0), 2, 2);
    assert.ok(Number.isNaN(c.share[1][0]));
    assert.ok(Number.isNaN(c.lift[0][1]));
  });
});

describe('domain specialization', () => {
  test('mutual information and lift by hand', () => {
    // K = 1, E = 2: label 0 tokens go to experts 0,0,0,1; label 1 tokens to 0,1,1,1.
    const counter = new DomainCounter(1, 1, 2, 2, Int32Array.from({ length: 9 }, (_, t) => t), Int32Array.of(0, 0, 0, 0, 1, 1, 1, 1, -1));
    counter.add({ start: 0, tokens: 9, ids: Int32Array.of(0, 0, 0, 1, 0, 1, 1, 1, 0) });
    const d = counter.layer(0)!;
    assert.deepEqual(d.counts, [[3, 1], [1, 3]]);
    assert.deepEqual(d.labelTokens, [4, 4]);
    // p(l, e) = 3/8, 1/8, 1/8, 3/8; p(l) = p(e) = 1/2.
    // I = 2 (3/8) log2((3/8) / (1/4)) + 2 (1/8) log2((1/8) / (1/4)) = (3/4) log2 1.5 - 1/4.
    close(d.mutualInformation, 0.75 * Math.log2(1.5) - 0.25, 'mutual information');
    close(d.labelEntropy, 1, 'label entropy');
    // Expert 0's load is 3/4 label 0, which is half the tokens: lift 1.5.
    close(d.lift[0][0], 1.5, 'lift');
    close(d.lift[1][0], 0.5, 'lift');
  });

  test('independent routing gives 0 bits; one expert per label gives the label entropy', () => {
    close(domainSpecialization([2, 2, 5, 5], [2, 5], 2)!.mutualInformation, 0, 'independent');
    // Three labels of 1, 1, 2 tokens each on its own expert: H = 1.5 bits.
    const separate = domainSpecialization([1, 0, 0, 0, 1, 0, 0, 0, 2], [1, 1, 2], 3)!;
    close(separate.mutualInformation, 1.5, 'separate');
    close(separate.labelEntropy, 1.5, 'entropy');
  });

  test('with K = 2, each choice counts once', () => {
    // Label 0's token picks {0,1}, label 1's token {2,3}: the label fixes the expert pair, I = H(label) = 1 bit.
    const counter = new DomainCounter(1, 2, 4, 2, Int32Array.of(0, 1), Int32Array.of(0, 1));
    counter.add({ start: 0, tokens: 2, ids: Int32Array.of(0, 1, 2, 3) });
    close(counter.layer(0)!.mutualInformation, 1, 'mutual information');
  });

  test('undefined without labelled tokens', () => {
    assert.equal(domainSpecialization([0, 0], [0], 2), undefined);
  });
});
