/**
 * The stack of a cache policy that evicts by a priority (analysis/expert-cache.ts): LFU, Belady, and LRU with
 * prefetch. entries[0 .. length) are experts, and a cache of C experts holds the first C of them (Mattson et al.,
 * 1970). Unlike LRU's, this stack is not sorted by priority: an expert a step needs goes on top whatever its
 * priority, and sinks only as later steps displace it.
 *
 * Serving a step puts its experts on top and keeps, for each size C, the best (by priority) of what that cache
 * held outside the step. Walking down the old stack, a pool holds the experts that lost their place, best first;
 * each position takes the better of the pool's best and the expert already there. Below the deepest expert of
 * the step nothing moves, unless the step holds experts never seen (they lengthen the stack).
 *
 * Why priorities are stored by position (`rankAt`) rather than by expert: the walk then reads one array in order,
 * and the step's experts are marked in it as holes (-Infinity, below every priority), so the common case, an
 * expert that keeps its place, costs one load and one comparison.
 */
const hole = -Infinity;

export class PriorityStack {
  /** entries[0 .. length): experts, best kept first. */
  private readonly entries: Int32Array;
  /** rankAt[c]: the priority of entries[c]; larger is kept longer. */
  private readonly rankAt: Float64Array;
  /** position[e]: e's index in `entries`, or -1 before its first use. */
  readonly position: Int32Array;
  private length = 0;
  /** The pool of one step: pool[head .. tail), sorted by descending priority. */
  private readonly pool: Int32Array;
  private readonly poolRank: Float64Array;

  constructor(experts: number) {
    this.entries = new Int32Array(experts);
    this.rankAt = new Float64Array(experts);
    this.position = new Int32Array(experts).fill(-1);
    // One step adds at most one expert to the pool for each position it walks.
    this.pool = new Int32Array(2 * experts);
    this.poolRank = new Float64Array(2 * experts);
  }

  /**
   * Puts set[from .. to) (distinct experts) on top, in that order, and reorders the rest for every size. Give
   * each of the set's experts its priority with `rank` afterwards, before the next step.
   */
  serve(set: Int32Array, from: number, to: number): void {
    const { entries, rankAt, position, pool, poolRank } = this;
    const d = to - from;
    let deepest = -1;
    let unseen = 0;
    for (let i = from; i < to; i++) {
      const p = position[set[i]];
      if (p < 0) unseen++;
      else {
        rankAt[p] = hole;
        if (p > deepest) deepest = p;
      }
    }
    const oldLength = this.length;
    // The experts in the top d positions make way for the set.
    let head = 0;
    let tail = 0;
    for (let c = 0; c < d && c < oldLength; c++) {
      if (rankAt[c] !== hole) tail = addToPool(pool, poolRank, head, tail, entries[c], rankAt[c]);
    }
    for (let i = 0; i < d; i++) {
      entries[i] = set[from + i];
      position[set[from + i]] = i;
    }
    this.length = oldLength + unseen;
    const end = unseen > 0 ? this.length : Math.max(d, deepest + 1);
    const walked = Math.min(end, oldLength);
    let c = d;
    while (c < walked) {
      // An empty pool takes nothing: every expert keeps its place.
      const best = head < tail ? poolRank[head] : hole;
      let here = rankAt[c];
      // The common case: the expert here is better than every expert waiting, so it keeps its place.
      while (here > best && ++c < walked) here = rankAt[c];
      if (c === walked) break;
      // A worse expert waits in the pool (a hole, one of the set, waits for nothing).
      if (here !== hole) tail = addToPool(pool, poolRank, head, tail, entries[c], here);
      const e = pool[head];
      entries[c] = e;
      rankAt[c] = poolRank[head++];
      position[e] = c++;
    }
    // Positions past the old end, for experts never seen: the pool's rest, best first.
    for (; c < end; c++) {
      const e = pool[head];
      entries[c] = e;
      rankAt[c] = poolRank[head++];
      position[e] = c;
    }
  }

  /** Sets the priority of an expert on the stack (one of the set just served). */
  rank(expert: number, priority: number): void {
    this.rankAt[this.position[expert]] = priority;
  }
}

/** Inserts into the sorted pool[head .. tail) (by hand: the pool holds a few experts); returns the new tail. */
function addToPool(pool: Int32Array, poolRank: Float64Array, head: number, tail: number, expert: number, priority: number): number {
  let j = tail;
  for (; j > head && poolRank[j - 1] < priority; j--) {
    pool[j] = pool[j - 1];
    poolRank[j] = poolRank[j - 1];
  }
  pool[j] = expert;
  poolRank[j] = priority;
  return tail + 1;
}
