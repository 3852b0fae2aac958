/**
 * The host pipeline alone: every layer `route` runs is loaded (read, converted to fp32 into the graph buffers, on
 * two threads) as `route` loads it, with no onnxruntime run in between, twice in one process: the first time into
 * fresh buffers (as in a route pass), the second into the same buffers again. Prints one JSON line with the
 * values loaded and the seconds of each time. Run it with the page cache warm (after a route run of the model).
 * Usage: node dist/bench/load-bench.js MODEL_DIR
 */
import { Checkpoint } from '../src/loaders/checkpoint.js';
import { readModelConfig } from '../src/models/config.js';
import { routeDefaults } from '../src/route/route.js';
import { ffnKindOf, layersToRun, LayerWeightLoader, layerWeightBytes } from '../src/runtime/layer-weights.js';

const [model] = process.argv.slice(2);
const config = readModelConfig(model);
const kindOf = ffnKindOf(config, routeDefaults.expertBudgetBytes);
const loader = new LayerWeightLoader(Checkpoint.open(model), config, false, kindOf);
const layers = Array.from({ length: layersToRun(config) }, (_, l) => l);
const values = layers.reduce((sum, l) => sum + layerWeightBytes(config, l, kindOf(l)) / 4, 0);
const seconds: number[] = [];
try {
  for (const round of [0, 1]) {
    const started = performance.now();
    for (const layer of layers) await loader.load(layer);
    seconds[round] = (performance.now() - started) / 1000;
  }
} finally {
  await loader.close();
}
process.stdout.write(`${JSON.stringify({ values, freshBuffersSeconds: seconds[0], reusedBuffersSeconds: seconds[1] })}\n`);
