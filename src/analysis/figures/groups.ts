import type { Figure } from '../figure.js';
import { DistinctPerTokenCounter } from '../distinct-per-token.js';
import { groupBuckets, groupLimitFromConfig, groupsPerToken, type GroupLimit, type GroupsPerToken } from '../groups-per-token.js';
import { noun, plural } from '../../plural.js';

export interface GroupsFigure {
  limit: GroupLimit;
  perLayer: GroupsPerToken[];
}

/**
 * Expert groups per token, under the model's own groups and group limit (n_group / topk_group as its router
 * uses them, groups-per-token.ts), or else the `--groups` partition without a limit; left out when neither
 * splits the experts into several groups.
 */
export const groupsFigure: Figure<'groups', GroupsFigure> = {
  name: 'groups',
  start: ({ config, cluster, layers, L, K, E, note }) => {
    const limit = (config && groupLimitFromConfig(config)) ?? (cluster.groups > 1 ? { nGroup: cluster.groups, enforced: false } : undefined);
    if (!limit) return undefined;
    if (E % limit.nGroup !== 0) {
      note(`${plural(limit.nGroup, 'group')} ${noun(limit.nGroup, 'does', 'do')} not split ${plural(E, 'expert')} evenly, so groups per token are left out`);
      return undefined;
    }
    const counter = new DistinctPerTokenCounter(L, K, E, groupBuckets(L, E, limit.nGroup));
    return {
      passes: 1,
      accumulator: () => counter,
      finish: () => {
        const perLayer = Array.from({ length: L }, (_, l) => groupsPerToken(counter.layer(l), limit.topkGroup));
        if (limit.enforced) {
          const bad = perLayer.flatMap((g, l) => (g.violations ? [`layer ${layers[l]}: ${plural(g.violations, 'token')}`] : []));
          if (bad.length > 0) note(`routing breaks the model's group limit (at most ${limit.topkGroup} of ${plural(limit.nGroup, 'group')} per token), which a correct V2/V3 trace never does: ${bad.join('; ')}`);
        }
        return { limit, perLayer };
      },
    };
  },
  summary: (result, l) => ({ groups_per_token: result.perLayer[l].mean }),
};
