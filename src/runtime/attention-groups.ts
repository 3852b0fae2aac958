/**
 * Attention over a chunk of packed prompts without the quadratic waste of one (T, T) mask: the prompts are put
 * in groups of similar length, and each group's attention runs as a padded batch (B prompts x S slots, S its
 * longest prompt), so the work is B·S² (query, key) pairs instead of T². The attention graph keeps every
 * projection on the packed tokens and moves only queries, keys and values into the padded layout and back
 * (models/attention-graphs.ts).
 */
import ort from 'onnxruntime-node';

/** Additive mask value for pairs outside a prompt's causal block; exp() of it is exactly 0 in fp32. */
const MASKED = -1e30;

/** Below this many slots a group's square blocks are too small to be worth another run of the graph. */
const SMALL_BLOCK = 64;

/**
 * Groups of a chunk's prompts (indices, ascending): taken longest first, a prompt joins the group of the longer
 * ones before it while the group's padded blocks, B·S², stay within twice its prompts' own squares (Σ n²) plus
 * one small block of slack.
 */
export function planAttentionGroups(lengths: number[]): number[][] {
  const order = lengths.map((_, p) => p).sort((a, b) => lengths[b] - lengths[a] || a - b);
  const groups: number[][] = [];
  let current: number[] = [];
  let squares = 0;
  for (const p of order) {
    const slots = current.length > 0 ? lengths[current[0]] : lengths[p];
    const n = lengths[p];
    if (current.length > 0 && (current.length + 1) * slots * slots > 2 * (squares + n * n) + SMALL_BLOCK * SMALL_BLOCK) {
      groups.push(current);
      current = [];
      squares = 0;
    }
    current.push(p);
    squares += n * n;
  }
  if (current.length > 0) groups.push(current);
  return groups.map((group) => group.sort((a, b) => a - b));
}

/** One group's attention inputs, for a chunk whose prompts have `lengths` and are packed in order. */
export interface AttentionGroup {
  /** The chunk's token rows this group holds, in its packed order; undefined when it holds them all in order. */
  rows?: Int32Array;
  tokens: number;
  feeds: {
    /** Position of each token inside its prompt, (1, Tg). */
    positions: ort.Tensor;
    /** For each padded slot (b, s), the group row it takes its query, key and value from, (B, S). */
    pad_rows: ort.Tensor;
    /** For each of the group's rows, its padded slot b·S + s, (Tg). */
    unpad_slots: ort.Tensor;
    /** Additive causal mask inside each prompt, padding masked, (B, 1, S, S). */
    mask: ort.Tensor;
  };
}

export function attentionGroups(lengths: number[]): AttentionGroup[] {
  const starts = [0];
  for (const n of lengths) starts.push(starts[starts.length - 1] + n);
  const groups = planAttentionGroups(lengths);
  return groups.map((prompts) => {
    const B = prompts.length;
    const S = Math.max(...prompts.map((p) => lengths[p]));
    const tokens = prompts.reduce((sum, p) => sum + lengths[p], 0);
    const rows = new Int32Array(tokens);
    const positions = new BigInt64Array(tokens);
    const padRows = new BigInt64Array(B * S);
    const unpadSlots = new BigInt64Array(tokens);
    const mask = new Float32Array(B * S * S).fill(MASKED);
    let row = 0;
    prompts.forEach((p, b) => {
      const n = lengths[p];
      for (let s = 0; s < S; s++) {
        // A padding slot repeats the prompt's first row: its output is never read.
        padRows[b * S + s] = BigInt(row + (s < n ? s : 0));
        // Query s sees keys 0..min(s, n - 1): causal inside the prompt, never a padding key.
        mask.fill(0, (b * S + s) * S, (b * S + s) * S + Math.min(s, n - 1) + 1);
      }
      for (let s = 0; s < n; s++) {
        rows[row + s] = starts[p] + s;
        positions[row + s] = BigInt(s);
        unpadSlots[row + s] = BigInt(b * S + s);
      }
      row += n;
    });
    return {
      rows: groups.length === 1 ? undefined : rows,
      tokens,
      feeds: {
        positions: new ort.Tensor('int64', positions, [1, tokens]),
        pad_rows: new ort.Tensor('int64', padRows, [B, S]),
        unpad_slots: new ort.Tensor('int64', unpadSlots, [tokens]),
        mask: new ort.Tensor('float32', mask, [B, 1, S, S]),
      },
    };
  });
}

