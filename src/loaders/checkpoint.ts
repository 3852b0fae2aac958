import fs from 'node:fs';
import path from 'node:path';
import { fileError } from '../errors.js';
import { checkModelFolder, readFp8BlockSize } from '../models/config.js';
import { dequantizeFp8Blocks, toFloat32, toFloat64 } from './dtypes.js';
import { SafetensorsFile, TensorInfo } from './safetensors.js';

/**
 * The weights of a Hugging Face model folder: `model.safetensors`, or `model.safetensors.index.json`
 * (`{metadata: {total_size}, weight_map: {tensor: shard}}`) plus its shards. Tensors are always resolved
 * through weight_map (architecture.md 3.1), never by assuming an order. Every shard header is read and
 * checked at open; data is read tensor by tensor with positioned reads.
 */

export const defaults = {
  /** DeepSeek-V3's quantization_config.weight_block_size. */
  fp8BlockSize: [128, 128] as [number, number],
};

/** Shards whose descriptors stay open between reads; V3 has 163 shards, more than we want open at once. */
const maxOpenShards = 8;

const singleFileName = 'model.safetensors';
const indexFileName = 'model.safetensors.index.json';

interface ShardTensor {
  info: TensorInfo;
  shard: SafetensorsFile;
}

export class Checkpoint {
  /** Shards with an open descriptor, least recently used first. */
  private readonly openShards: SafetensorsFile[] = [];
  /** Reused for every tensor's raw bytes (a fresh ArrayBuffer, so its views are aligned), grown as needed. */
  private scratch = new Uint8Array(0);
  /** Reused for FP8 block scales. */
  private scaleScratch = new Float32Array(0);

  private constructor(
    readonly dir: string,
    /** Paths of the shard files, in name order. */
    readonly shards: string[],
    /** Bytes on disk of all shards. */
    readonly totalBytes: number,
    private readonly fp8BlockSize: [number, number],
    /** config.json declares block-quantised FP8 weights, so every FP8 matrix needs its scale_inv. */
    private readonly fp8Quantized: boolean,
    /** Every tensor, in shard order then file order. */
    private readonly tensors: Map<string, ShardTensor>,
  ) {}

  /** `fp8BlockSize` overrides the block size config.json gives (for folders without one). */
  static open(dir: string, options: { fp8BlockSize?: [number, number] } = {}): Checkpoint {
    checkModelFolder(dir, 'model-dir-missing');
    // The one reading of config.json's quantization_config (models/config.ts), so route and the weights agree.
    const configured = readFp8BlockSize(dir);
    const fp8BlockSize = options.fp8BlockSize ?? configured ?? defaults.fp8BlockSize;
    const weightMap = readWeightMap(dir);

    const shardNames = [...new Set(weightMap.values())].sort();
    const files: SafetensorsFile[] = [];
    try {
      for (const shardName of shardNames) {
        const shardPath = path.join(dir, shardName);
        if (!fs.existsSync(shardPath)) {
          const example = [...weightMap].find(([, shard]) => shard === shardName)![0];
          throw fileError(path.join(dir, indexFileName), 'shard-missing', `shard "${shardName}" (holding tensor "${example}" and maybe others) not found in ${dir}`);
        }
        const file = SafetensorsFile.open(shardPath);
        file.close(); // headers only for now: reads reopen the shard and count against maxOpenShards
        files.push(file);
      }
    } catch (error) {
      for (const file of files) file.close();
      throw error;
    }

    const byShard = new Map(shardNames.map((name, i) => [name, files[i]]));
    for (const [tensor, shardName] of weightMap) {
      if (!byShard.get(shardName)!.tensors.has(tensor)) {
        throw fileError(path.join(dir, indexFileName), 'tensor-not-in-shard', `weight_map puts tensor "${tensor}" in shard "${shardName}", but that shard has no such tensor`);
      }
    }
    const tensors = new Map<string, ShardTensor>();
    for (const shard of files) {
      for (const info of shard.tensors.values()) {
        if (weightMap.has(info.name)) tensors.set(info.name, { info, shard });
      }
    }
    const totalBytes = files.reduce((sum, file) => sum + file.size, 0);
    return new Checkpoint(dir, files.map((file) => file.file), totalBytes, fp8BlockSize, configured !== null, tensors);
  }

  /** Tensor names in file order (shard by shard). */
  names(): string[] {
    return [...this.tensors.keys()];
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  info(name: string): TensorInfo {
    return this.entry(name).info;
  }

  readRaw(name: string, out?: Uint8Array): Uint8Array {
    const { info, shard } = this.entry(name);
    this.touch(shard);
    return shard.read(info.name, out);
  }

  /**
   * Any dtype as float32 (exact for BF16, F16, F8). An F8_E4M3 matrix with a companion `${name}_scale_inv`
   * (F32 [ceil(rows/br), ceil(cols/bc)]) is block-dequantised. With a reused `out`, this allocates nothing
   * beyond growing the checkpoint's scratch buffers.
   */
  readFloat32(name: string, out?: Float32Array): Float32Array {
    const entry = this.entry(name);
    const scaleName = `${name}_scale_inv`;
    if (entry.info.dtype === 'F8_E4M3' && this.tensors.has(scaleName)) return this.dequantize(entry, this.entry(scaleName), out);
    if (entry.info.dtype === 'F8_E4M3' && this.fp8Quantized) {
      throw fileError(entry.info.file, 'fp8-scale-missing', `tensor "${name}" is FP8 but its "${scaleName}" is missing (config.json declares block-quantised weights)`);
    }
    return toFloat32(entry.info.dtype, this.readScratch(entry), out);
  }

  /**
   * Where a tensor's bytes (and an FP8 matrix's block scales) are, for readers on other threads
   * (runtime/weight-conversion.ts), checked as readFloat32 checks them.
   */
  stored(name: string): { tensor: TensorInfo; scales?: { tensor: TensorInfo; block: [number, number] } } {
    const entry = this.entry(name);
    const scaleName = `${name}_scale_inv`;
    if (entry.info.dtype === 'F8_E4M3' && this.tensors.has(scaleName)) {
      const scale = this.entry(scaleName);
      this.checkScales(entry.info, scale.info);
      return { tensor: entry.info, scales: { tensor: scale.info, block: this.fp8BlockSize } };
    }
    if (entry.info.dtype === 'F8_E4M3' && this.fp8Quantized) {
      throw fileError(entry.info.file, 'fp8-scale-missing', `tensor "${name}" is FP8 but its "${scaleName}" is missing (config.json declares block-quantised weights)`);
    }
    return { tensor: entry.info };
  }

  /**
   * The same as float64, for the reference forward pass. Dequantised FP8 goes through the float32 product on
   * purpose, so both forward passes see identical weights; every other dtype converts exactly.
   */
  readFloat64(name: string): Float64Array {
    const entry = this.entry(name);
    if (entry.info.dtype === 'F8_E4M3') return Float64Array.from(this.readFloat32(name));
    return toFloat64(entry.info.dtype, this.readScratch(entry));
  }

  /** Releases every open descriptor. */
  close(): void {
    // Only shards in openShards hold a descriptor: open() closes each one after reading its header.
    for (const shard of this.openShards) shard.close();
    this.openShards.length = 0;
  }

  private entry(name: string): ShardTensor {
    const entry = this.tensors.get(name);
    if (!entry) throw fileError(this.dir, 'tensor-missing', `checkpoint has no tensor "${name}" (it has ${this.tensors.size} tensors)`);
    return entry;
  }

  private dequantize(matrix: ShardTensor, scale: ShardTensor, out?: Float32Array): Float32Array {
    const { info } = matrix;
    const { info: scaleInfo } = scale;
    this.checkScales(info, scaleInfo);
    const [rows, cols] = info.shape;
    // The scales go through the byte scratch first, before the matrix reuses it.
    const scaleCount = scaleInfo.shape[0] * scaleInfo.shape[1];
    if (this.scaleScratch.length < scaleCount) this.scaleScratch = new Float32Array(scaleCount);
    const scales = toFloat32(scaleInfo.dtype, this.readScratch(scale), this.scaleScratch.subarray(0, scaleCount));
    return dequantizeFp8Blocks(this.readScratch(matrix), rows, cols, scales, this.fp8BlockSize, out);
  }

  /** An FP8 matrix's scale_inv must hold one scale per block. */
  private checkScales(info: TensorInfo, scaleInfo: TensorInfo): void {
    const [blockRows, blockCols] = this.fp8BlockSize;
    if (info.shape.length !== 2) throw fileError(info.file, 'fp8-shape', `tensor "${info.name}": FP8 with a scale_inv must be a matrix, found shape [${info.shape.join(', ')}]`);
    const [rows, cols] = info.shape;
    const expected = [Math.ceil(rows / blockRows), Math.ceil(cols / blockCols)];
    if (scaleInfo.shape.length !== 2 || scaleInfo.shape[0] !== expected[0] || scaleInfo.shape[1] !== expected[1]) {
      throw fileError(scaleInfo.file, 'fp8-scale-shape', `tensor "${scaleInfo.name}": shape expected [${expected.join(', ')}] for [${rows}, ${cols}] in ${blockRows}x${blockCols} blocks, found [${scaleInfo.shape.join(', ')}]`);
    }
  }

  /** Reads a tensor's bytes into the scratch buffer; valid until the next read. */
  private readScratch({ info, shard }: ShardTensor): Uint8Array {
    if (this.scratch.length < info.byteLength) this.scratch = new Uint8Array(info.byteLength);
    this.touch(shard);
    return shard.read(info.name, this.scratch.subarray(0, info.byteLength));
  }

  /** Marks a shard as most recently used, closing the least recently used one beyond maxOpenShards. */
  private touch(shard: SafetensorsFile): void {
    const at = this.openShards.indexOf(shard);
    if (at >= 0) this.openShards.splice(at, 1);
    this.openShards.push(shard);
    if (this.openShards.length > maxOpenShards) this.openShards.shift()!.close();
  }
}

/** tensor name -> shard file name, from the index or from the single model.safetensors. */
function readWeightMap(dir: string): Map<string, string> {
  const singlePath = path.join(dir, singleFileName);
  const indexPath = path.join(dir, indexFileName);
  if (fs.existsSync(singlePath)) {
    const file = SafetensorsFile.open(singlePath);
    file.close();
    return new Map([...file.tensors.keys()].map((name) => [name, singleFileName]));
  }
  if (!fs.existsSync(indexPath)) throw fileError(dir, 'checkpoint-missing', `no ${singleFileName} and no ${indexFileName} in the model folder`);

  let index: unknown;
  try {
    index = JSON.parse(fs.readFileSync(indexPath, 'utf8'));
  } catch (error) {
    throw fileError(indexPath, 'index-json', `not valid JSON (${(error as Error).message})`, error);
  }
  const weightMap = (index as { weight_map?: unknown } | null)?.weight_map;
  if (typeof weightMap !== 'object' || weightMap === null || Array.isArray(weightMap)) {
    throw fileError(indexPath, 'index-weight-map', `"weight_map" expected an object {tensor: shard file}, found ${weightMap === undefined ? 'nothing' : JSON.stringify(weightMap).slice(0, 80)}`);
  }
  const map = new Map<string, string>();
  for (const [tensor, shard] of Object.entries(weightMap)) {
    if (typeof shard !== 'string' || shard === '' || path.isAbsolute(shard) || path.normalize(shard).startsWith('..')) {
      throw fileError(indexPath, 'index-weight-map', `weight_map["${tensor}"]: expected a shard file name inside the model folder, found ${JSON.stringify(shard)}`);
    }
    map.set(tensor, shard);
  }
  return map;
}

