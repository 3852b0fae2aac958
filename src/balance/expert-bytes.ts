import { Checkpoint } from '../loaders/checkpoint.js';
import { moeLayers, readModelConfig } from '../models/config.js';
import { expertTensors } from '../models/tensor-names.js';
import { fileError } from '../errors.js';

/**
 * One routed expert's weight bytes as the checkpoint stores them: its gate, up and down matrices at their
 * dtype, plus the FP8 block scales (`<name>_scale_inv`) where they exist. Read from the safetensors headers
 * only; expert 0 of the first MoE layer stands for all (they share shapes and dtypes).
 */
export function expertBytesFromModel(dir: string): number {
  const config = readModelConfig(dir);
  const [layer] = moeLayers(config);
  if (layer === undefined) throw fileError(dir, 'model-no-moe', 'config.json declares no MoE layer, so there is no routed expert to weigh');
  const checkpoint = Checkpoint.open(dir);
  try {
    return expertTensors(config, layer, 0).reduce((bytes, { name }) => {
      const scale = `${name}_scale_inv`;
      return bytes + checkpoint.info(name).byteLength + (checkpoint.has(scale) ? checkpoint.info(scale).byteLength : 0);
    }, 0);
  } finally {
    checkpoint.close();
  }
}
