/**
 * The LRU stack of one layer's cache without prefetch (analysis/expert-cache.ts): experts in order of last use,
 * most recent first, the experts of one step among themselves higher index first (LRU's tie-break keeps the
 * higher index longer). A cache of C experts holds the first C entries.
 *
 * Serving a step needs no comparison of priorities: the step's experts go on top and every other expert keeps
 * its order, so an expert moves down by the number of the step's experts that were below it. The entries
 * between two consecutive positions of the step's experts form a segment that moves as one, which makes the
 * move a plain copy with no test per entry.
 */
export class RecencyStack {
  /** entries[0 .. length): experts, most recent first. */
  private readonly entries: Int32Array;
  /** position[e]: e's index in `entries`, or -1 before its first use. */
  readonly position: Int32Array;
  private length = 0;
  /** The old positions of one step's experts already on the stack, deepest first. */
  private readonly vacated: Int32Array;

  constructor(experts: number) {
    this.entries = new Int32Array(experts);
    this.position = new Int32Array(experts).fill(-1);
    this.vacated = new Int32Array(experts);
  }

  /** Puts set[from .. to) (distinct experts) on top, higher index first; the rest moves down past them. */
  serve(set: Int32Array, from: number, to: number): void {
    const { entries, position, vacated } = this;
    let seen = 0;
    let unseen = 0;
    for (let i = from; i < to; i++) {
      const p = position[set[i]];
      if (p < 0) {
        unseen++;
        continue;
      }
      let j = seen++;
      for (; j > 0 && vacated[j - 1] < p; j--) vacated[j] = vacated[j - 1];
      vacated[j] = p;
    }
    // Experts never seen lengthen the stack, so every entry moves down by that many more; below the deepest
    // vacated position nothing else moves. Walking up, each vacated position adds one to the shift.
    let shift = unseen;
    let segmentEnd = this.length;
    this.length += unseen;
    for (let m = 0; m <= seen; m++) {
      const segmentStart = m < seen ? vacated[m] + 1 : 0;
      if (shift > 0) {
        for (let r = segmentEnd - 1; r >= segmentStart; r--) {
          const e = entries[r];
          entries[r + shift] = e;
          position[e] = r + shift;
        }
      }
      shift++;
      segmentEnd = segmentStart - 1;
    }
    // The step's experts on top, higher index first (insertion sort: a step holds a few experts).
    for (let i = 0; i < to - from; i++) {
      const e = set[from + i];
      let j = i;
      for (; j > 0 && entries[j - 1] < e; j--) {
        entries[j] = entries[j - 1];
        position[entries[j]] = j;
      }
      entries[j] = e;
      position[e] = j;
    }
  }
}
