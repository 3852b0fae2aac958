import path from 'node:path';
import { mulberry32 } from '../../src/random.js';
import { writeTrace } from '../../src/trace.js';

/** A trace of `tokens` tokens in prompts of 10, 2 MoE layers (model layers 1 and 2) of 8 experts, top-2, hidden size 64. */
export function smallTrace(dir: string, tokens: number, name = 'small.trace.safetensors'): { file: string; ids: number[][][] } {
  const random = mulberry32(5);
  const ids = Array.from({ length: tokens }, () =>
    [0, 1].map(() => {
      const first = Math.floor(random() * random() * 8); // skewed: low experts are hot
      let second = Math.floor(random() * 8);
      if (second === first) second = (second + 1) % 8;
      return [first, second];
    }),
  );
  const file = path.join(dir, name);
  const config = { model_type: 'deepseek_v3', num_hidden_layers: 3, hidden_size: 64, n_routed_experts: 8, num_experts_per_tok: 2, first_k_dense_replace: 1 };
  writeTrace(file, {
    metadata: { model_type: 'deepseek_v3', n_routed_experts: 8, num_experts_per_tok: 2, model_config: JSON.stringify(config), model_dir: 'test', labels: [], source: 'route' },
    layers: [1, 2],
    tokenIds: new Int32Array(tokens),
    promptOffsets: Array.from({ length: Math.ceil(tokens / 10) + 1 }, (_, p) => Math.min(tokens, p * 10)),
    topkIds: [Int32Array.from(ids.flat(2))],
  });
  return { file, ids };
}
