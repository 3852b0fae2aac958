import type { MoeConfig } from '../models/config.js';
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

/**
 * The expert groups of a model as its router sees them (config.json read by parseMoeConfig, as route reads
 * it), or undefined where it has none (n_group <= 1, as for every V1 model whatever its config says). Only a
 * group-limited router (V2 group_limited_greedy, V3 noaux_tc) keeps a token within topk_group groups; a greedy
 * one ignores topk_group, so it declares no limit.
 */
export function groupLimitFromConfig({ nGroup, topkGroup, topkMethod }: Pick<MoeConfig, 'nGroup' | 'topkGroup' | 'topkMethod'>): GroupLimit | undefined {
  if (nGroup <= 1) return undefined;
  return topkMethod === 'greedy' ? { nGroup, enforced: false } : { nGroup, topkGroup, enforced: true };
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
