import type { DistinctCount, ReplicaBuckets } from './distinct-per-token.js';

/**
 * Groups per token (analyses.md): a model with `n_group` expert groups (contiguous index ranges of
 * E / n_group experts) may limit each token to `topk_group` groups. DeepSeek-V2 (`group_limited_greedy`)
 * and V3 (`noaux_tc`) enforce it, so a trace of theirs with a token over the limit means the routing was
 * recorded wrongly.
 */
export interface GroupLimit {
  nGroup: number;
  /** Most groups a token may touch; absent where the model sets no limit. */
  topkGroup?: number;
  /** The router enforces topkGroup (V2 group_limited_greedy, V3 noaux_tc). */
  enforced: boolean;
}

const groupLimitedMethods = ['group_limited_greedy', 'noaux_tc'];

/** The group limit a model's config.json declares, or undefined where it has no groups (n_group <= 1). */
export function groupLimitFromConfig(config: Record<string, unknown>): GroupLimit | undefined {
  const nGroup = config.n_group;
  if (typeof nGroup !== 'number' || !Number.isSafeInteger(nGroup) || nGroup <= 1) return undefined;
  const topkGroup = typeof config.topk_group === 'number' ? config.topk_group : undefined;
  const enforced = topkGroup !== undefined && groupLimitedMethods.includes(String(config.topk_method));
  return { nGroup, topkGroup, enforced };
}

/** Every layer: expert i belongs to group floor(i / (E / nGroup)). */
export function groupBuckets(layers: number, experts: number, nGroup: number): ReplicaBuckets {
  if (experts % nGroup !== 0) throw new RangeError(`groupBuckets: ${experts} experts do not split into ${nGroup} groups`);
  const perExpert = Array.from({ length: experts }, (_, e) => [Math.floor(e / (experts / nGroup))]);
  return Array.from({ length: layers }, () => perExpert);
}

export interface GroupsPerToken extends DistinctCount {
  /** Tokens that touched more than topkGroup groups (only where the model sets a limit). */
  violations?: number;
}

export function groupsPerToken(count: DistinctCount, topkGroup?: number): GroupsPerToken {
  if (topkGroup === undefined) return count;
  const violations = count.histogram.reduce((sum, tokens, groups) => sum + (groups > topkGroup ? tokens : 0), 0);
  return { ...count, violations };
}
