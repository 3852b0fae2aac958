import Table from 'cli-table3';
import type { ModelInfo } from './model-info.js';
import { plural } from '../plural.js';

/** The facts `info` prints about a model folder, one per table row. */
export function modelInfoTable(info: ModelInfo): string {
  const table = new Table({ style: { head: [], border: [] } });
  const count = (n: number) => `${(n / 1e9).toFixed(3)} B (${n.toLocaleString('en-US')})`;
  const ranges = (layers: number[]) => (layers.length === 0 ? 'none' : compactRanges(layers));
  table.push(
    { 'model folder': info.dir },
    { architecture: `${info.modelType} (${info.architectures.join(', ') || 'no architectures field'})` },
    { 'hidden size / vocab': `${info.hiddenSize} / ${info.vocabSize}, max positions ${info.maxPositionEmbeddings}` },
    { attention: info.attention.description },
    { layers: `${info.layers.total}: dense ${ranges(info.layers.dense)}; MoE ${ranges(info.layers.moe)}` },
    { experts: `${info.experts.routed} routed (width ${info.experts.intermediateSize}) + ${sharedText(info.experts)}; top-${info.experts.perToken} per token` },
    { routing: `${info.routing.method}: ${info.routing.description}` },
    ...(info.fp8BlockSize ? [{ quantization: `FP8 e4m3 weights, scale_inv per ${info.fp8BlockSize.join('x')} block` }] : []),
    { 'parameters, total': count(info.parameters.total) },
    { 'parameters, active per token': count(info.parameters.activePerToken) },
    ...(info.parameters.notRun > 0 ? [{ 'parameters, not run': `${count(info.parameters.notRun)}: layers past num_hidden_layers ${info.layers.total} (the MTP layer)` }] : []),
    { dtypes: Object.entries(info.dtypes).map(([dtype, d]) => `${dtype}: ${plural(d.tensors, 'tensor')}, ${formatBytes(d.bytes)}`).join('; ') },
    { shards: shardSummary(info.shards) },
    { 'bytes on disk': `${formatBytes(info.bytesOnDisk)} (${info.bytesOnDisk.toLocaleString('en-US')})` },
  );
  return table.toString();
}

function sharedText(experts: ModelInfo['experts']): string {
  if (experts.sharedWidth === 0) return 'no shared expert';
  return `${experts.shared} shared (width ${experts.sharedWidth}${experts.sharedGated ? ', sigmoid-gated' : ''})`;
}

/** One line whatever the shard count: the names when few, the first and last otherwise (--json lists all). */
function shardSummary(shards: ModelInfo['shards']): string {
  const named = (s: ModelInfo['shards'][number]) => `${s.file} (${formatBytes(s.bytes)})`;
  if (shards.length <= 2) return shards.map(named).join(', ');
  return `${shards.length} files, ${named(shards[0])} … ${named(shards[shards.length - 1])}`;
}

function compactRanges(values: number[]): string {
  const parts: string[] = [];
  let start = values[0];
  for (let i = 1; i <= values.length; i++) {
    if (i < values.length && values[i] === values[i - 1] + 1) continue;
    const end = values[i - 1];
    parts.push(start === end ? `${start}` : `${start}-${end}`);
    start = values[i];
  }
  return parts.join(', ');
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}
