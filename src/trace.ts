import type { ErrorCode } from './error-codes.js';
import { fileError } from './errors.js';
import { DType, toFloat32 } from './loaders/dtypes.js';
import { SafetensorsFile } from './loaders/safetensors.js';
import { SafetensorsWriter, TensorSpec } from './loaders/safetensors-writer.js';
import { version } from './version.js';

/**
 * The routing trace (contract.md, "Trace file"): a safetensors file, so Python's safetensors/numpy can read
 * it too. T tokens, P prompts, L recorded MoE layers, K experts per token, E routed experts:
 *
 *   token_ids I32 [T]            prompt_offsets I64 [P+1]       layers I32 [L]
 *   topk_ids I32 [T, L, K]       topk_weights F32 [T, L, K]?    router_prob_sum F64 [L, E]?
 *   router_probs F16 [T, L, E]?  token_text U8 + token_text_offsets I64 [T+1]?
 *   prompt_text U8 + prompt_text_offsets I64 [P+1]?             prompt_labels I32 [P]?
 *   prompt_lines I32 [P]?
 *   spec_topk_ids I32 [T, L, K]? (route --speculate; -1 where a layer has no previous layer)
 *   unbiased_topk_ids I32 [T, L, K]? (models with e_score_correction_bias: the choice without it)
 *
 * The per-token tensors are written from chunks and read back by token range, because a trace of a large
 * prompt set runs to gigabytes.
 */

export const traceFormat = 'moe-inspect/trace@1';

export interface TraceContent {
  metadata: {
    model_type: string;
    n_routed_experts: number;
    num_experts_per_tok: number;
    /** The model's config.json as JSON text. */
    model_config: string;
    model_dir: string;
    labels: string[];
    /** `route` or `import:<engine>`. */
    source: string;
    /** Anything else useful; values that are not strings are JSON-encoded. */
    [extra: string]: unknown;
  };
  /** Model layer index of each recorded MoE layer. */
  layers: number[];
  tokenIds: Int32Array;
  /** P+1 entries: prompt p owns tokens promptOffsets[p] .. promptOffsets[p+1]-1. */
  promptOffsets: ArrayLike<number>;
  /** Chunks in token order, together [T, L, K]. */
  topkIds: Iterable<Int32Array>;
  topkWeights?: Iterable<Float32Array>;
  /** [L, E]. */
  routerProbSum?: Float64Array;
  /** f16 bits, [T, L, E] in chunks (only with --save-probs). */
  routerProbs?: Iterable<Uint16Array>;
  /** Chunks in token order, together [T, L, K] (only with --speculate). */
  specTopkIds?: Iterable<Int32Array>;
  /** offsets has T+1 entries. */
  tokenText?: { bytes: Uint8Array; offsets: ArrayLike<number> };
  /** offsets has P+1 entries. */
  promptText?: { bytes: Uint8Array; offsets: ArrayLike<number> };
  /** Index into metadata.labels per prompt, -1 where none. */
  promptLabels?: Int32Array;
  /** 1-based line of the prompts file each prompt came from. */
  promptLines?: Int32Array;
  /** Chunks in token order, together [T, L, K]: the choice with e_score_correction_bias set to zero. */
  unbiasedTopkIds?: Iterable<Int32Array>;
}

/** Streams a trace to `file` atomically; chunk sizes are checked against the shapes the header declares. */
export function writeTrace(file: string, content: TraceContent): void {
  const { metadata, layers, tokenIds, promptOffsets, tokenText, promptText, promptLabels, promptLines, routerProbSum } = content;
  const T = tokenIds.length;
  const P = promptOffsets.length - 1;
  const L = layers.length;
  const K = metadata.num_experts_per_tok;
  const E = metadata.n_routed_experts;
  const problem = (code: ErrorCode, text: string) => fileError(file, code, `cannot write trace: ${text}`);
  if (!Number.isSafeInteger(K) || K < 1) throw problem('trace-content', `num_experts_per_tok must be a positive integer, found ${K}`);
  if (!Number.isSafeInteger(E) || E < 1) throw problem('trace-content', `n_routed_experts must be a positive integer, found ${E}`);
  const offsetsProblem = checkOffsets(promptOffsets, T);
  if (offsetsProblem) throw problem('trace-offsets', `prompt offsets ${offsetsProblem}`);
  if (tokenText) {
    if (tokenText.offsets.length !== T + 1) throw problem('trace-offsets', `token text offsets: expected ${T + 1} entries (T+1), found ${tokenText.offsets.length}`);
    const textProblem = checkOffsets(tokenText.offsets, tokenText.bytes.length);
    if (textProblem) throw problem('trace-offsets', `token text offsets ${textProblem}`);
  }
  if (promptText) {
    if (promptText.offsets.length !== P + 1) throw problem('trace-offsets', `prompt text offsets: expected ${P + 1} entries (P+1), found ${promptText.offsets.length}`);
    const textProblem = checkOffsets(promptText.offsets, promptText.bytes.length);
    if (textProblem) throw problem('trace-offsets', `prompt text offsets ${textProblem}`);
  }
  if (promptLabels) {
    if (promptLabels.length !== P) throw problem('trace-labels', `prompt labels: expected ${P} entries, found ${promptLabels.length}`);
    const bad = promptLabels.findIndex((label) => label < -1 || label >= metadata.labels.length);
    if (bad >= 0) throw problem('trace-labels', `prompt ${bad}: label index expected -1..${metadata.labels.length - 1}, found ${promptLabels[bad]}`);
  }
  if (promptLines && promptLines.length !== P) throw problem('trace-lines', `prompt lines: expected ${P} entries, found ${promptLines.length}`);

  const spec = (name: string, dtype: DType, shape: number[]): TensorSpec => ({ name, dtype, shape });
  const specs: TensorSpec[] = [
    spec('token_ids', 'I32', [T]),
    spec('prompt_offsets', 'I64', [P + 1]),
    spec('layers', 'I32', [L]),
    spec('topk_ids', 'I32', [T, L, K]),
  ];
  if (content.topkWeights) specs.push(spec('topk_weights', 'F32', [T, L, K]));
  if (routerProbSum) specs.push(spec('router_prob_sum', 'F64', [L, E]));
  if (content.routerProbs) specs.push(spec('router_probs', 'F16', [T, L, E]));
  if (content.specTopkIds) specs.push(spec('spec_topk_ids', 'I32', [T, L, K]));
  if (tokenText) specs.push(spec('token_text', 'U8', [tokenText.bytes.length]), spec('token_text_offsets', 'I64', [T + 1]));
  if (promptText) specs.push(spec('prompt_text', 'U8', [promptText.bytes.length]), spec('prompt_text_offsets', 'I64', [P + 1]));
  if (promptLabels) specs.push(spec('prompt_labels', 'I32', [P]));
  if (promptLines) specs.push(spec('prompt_lines', 'I32', [P]));
  if (content.unbiasedTopkIds) specs.push(spec('unbiased_topk_ids', 'I32', [T, L, K]));

  const writer = SafetensorsWriter.create(file, specs, encodeMetadata(metadata));
  try {
    writer.write('token_ids', tokenIds);
    writer.write('prompt_offsets', toInt64(promptOffsets));
    writer.write('layers', Int32Array.from(layers));
    for (const chunk of content.topkIds) writer.write('topk_ids', chunk);
    for (const chunk of content.topkWeights ?? []) writer.write('topk_weights', chunk);
    if (routerProbSum) writer.write('router_prob_sum', routerProbSum);
    for (const chunk of content.routerProbs ?? []) writer.write('router_probs', chunk);
    for (const chunk of content.specTopkIds ?? []) writer.write('spec_topk_ids', chunk);
    if (tokenText) {
      writer.write('token_text', tokenText.bytes);
      writer.write('token_text_offsets', toInt64(tokenText.offsets));
    }
    if (promptText) {
      writer.write('prompt_text', promptText.bytes);
      writer.write('prompt_text_offsets', toInt64(promptText.offsets));
    }
    if (promptLabels) writer.write('prompt_labels', promptLabels);
    if (promptLines) writer.write('prompt_lines', promptLines);
    for (const chunk of content.unbiasedTopkIds ?? []) writer.write('unbiased_topk_ids', chunk);
    writer.finish();
  } catch (error) {
    writer.abort();
    throw error;
  }
}

/** format and tool_version are ours; everything else is the caller's, JSON-encoded unless already a string. */
function encodeMetadata(metadata: TraceContent['metadata']): Record<string, string> {
  const encoded: Record<string, string> = {};
  for (const [key, value] of Object.entries(metadata)) {
    if (value !== undefined) encoded[key] = typeof value === 'string' ? value : JSON.stringify(value);
  }
  encoded.format = traceFormat;
  encoded.tool_version = version;
  return encoded;
}

function toInt64(values: ArrayLike<number>): BigInt64Array {
  return BigInt64Array.from({ length: values.length }, (_, i) => BigInt(values[i]));
}

/** Offsets must be integers that start at 0, never decrease, and end at `total`; returns what is wrong, if anything. */
function checkOffsets(offsets: ArrayLike<number>, total: number): string | undefined {
  if (offsets.length < 1) return 'are empty: expected at least one entry (0)';
  if (offsets[0] !== 0) return `must start at 0, found ${offsets[0]}`;
  for (let i = 1; i < offsets.length; i++) {
    if (!Number.isSafeInteger(offsets[i])) return `must be integers: entry ${i} is ${offsets[i]}`;
    if (offsets[i] < offsets[i - 1]) return `must not decrease: entry ${i} is ${offsets[i]}, after ${offsets[i - 1]}`;
  }
  if (offsets[offsets.length - 1] !== total) return `must end at ${total}, found ${offsets[offsets.length - 1]}`;
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------------------

export interface Trace {
  file: string;
  /** The raw `__metadata__`. */
  metadata: Record<string, string>;
  modelType: string;
  /** E. */
  nExperts: number;
  /** K. */
  k: number;
  /** Model layer index of each recorded layer (L entries). */
  layers: number[];
  nTokens: number;
  nPrompts: number;
  tokenIds: Int32Array;
  /** P+1 entries. */
  promptOffsets: number[];
  labels: string[];
  promptLabels?: Int32Array;
  /** 1-based line of the prompts file each prompt came from (traces made by route since prompt_lines). */
  promptLines?: Int32Array;
  hasWeights: boolean;
  hasProbSum: boolean;
  hasProbs: boolean;
  /** spec_topk_ids is present (route --speculate). */
  hasSpeculative: boolean;
  /** token_text is present (tokenBytes, tokenText). */
  hasText: boolean;
  /** prompt_text is present (promptText). */
  hasPromptText: boolean;
  /** unbiased_topk_ids is present (readUnbiasedTopkIds). */
  hasUnbiased: boolean;
  /** [L, E]. */
  routerProbSum?: Float64Array;
  /** [(end - start), L, K], read from the file for just that token range. */
  readTopkIds(tokenStart: number, tokenEnd: number): Int32Array;
  /** [(end - start), L, K] of `unbiased_topk_ids`, checked like readTopkIds. */
  readUnbiasedTopkIds(tokenStart: number, tokenEnd: number): Int32Array;
  readTopkWeights(tokenStart: number, tokenEnd: number): Float32Array;
  /** [(end - start), L, E], decoded from F16. */
  readRouterProbs(tokenStart: number, tokenEnd: number): Float32Array;
  /** [(end - start), L, K]: the speculative gate's experts, -1 where a layer has no previous layer. */
  readSpecTopkIds(tokenStart: number, tokenEnd: number): Int32Array;
  tokenBytes(t: number): Uint8Array;
  /** The token's bytes as text (a token that splits a UTF-8 character shows U+FFFD). */
  tokenText(t: number): string;
  promptText(p: number): string;
  /** "line N" of the prompts file where the trace records it, else "prompt p+1". */
  promptName(p: number): string;
  /** The model's config.json, as recorded. */
  modelConfig(): Record<string, unknown>;
  close(): void;
}

/** Opens a trace, checking the format tag, the required tensors and that all shapes and dtypes agree. */
export function openTrace(file: string): Trace {
  const source = SafetensorsFile.open(file);
  try {
    return new TraceFile(source);
  } catch (error) {
    source.close();
    throw error;
  }
}

/** Text loaded on first use: bytes plus offsets (one more than items). */
interface TextTable {
  bytes: Uint8Array;
  offsets: Float64Array;
}

class TraceFile implements Trace {
  readonly file: string;
  readonly metadata: Record<string, string>;
  readonly modelType: string;
  readonly nExperts: number;
  readonly k: number;
  readonly layers: number[];
  readonly nTokens: number;
  readonly nPrompts: number;
  readonly tokenIds: Int32Array;
  readonly promptOffsets: number[];
  readonly labels: string[];
  readonly promptLabels?: Int32Array;
  readonly promptLines?: Int32Array;
  readonly hasWeights: boolean;
  readonly hasProbSum: boolean;
  readonly hasProbs: boolean;
  readonly hasSpeculative: boolean;
  readonly hasText: boolean;
  readonly hasPromptText: boolean;
  readonly hasUnbiased: boolean;
  readonly routerProbSum?: Float64Array;
  private tokenTextTable?: TextTable;
  private promptTextTable?: TextTable;
  private readonly decoder = new TextDecoder('utf-8');

  constructor(private readonly source: SafetensorsFile) {
    const file = source.file;
    this.file = file;
    this.metadata = source.metadata;
    const format = this.metadata.format;
    if (format !== traceFormat) {
      throw fileError(file, 'trace-format', `not a moe-inspect trace: metadata "format" expected "${traceFormat}", found ${format === undefined ? 'nothing' : JSON.stringify(format)}`);
    }
    this.modelType = this.requiredMetadata('model_type');
    this.nExperts = this.positiveIntegerMetadata('n_routed_experts');
    this.k = this.positiveIntegerMetadata('num_experts_per_tok');
    this.labels = this.readLabels();

    this.tokenIds = this.readInt32(this.expect('token_ids', 'I32', [null]));
    const T = this.tokenIds.length;
    this.nTokens = T;
    this.layers = Array.from(this.readInt32(this.expect('layers', 'I32', [null])));
    const L = this.layers.length;
    this.promptOffsets = Array.from(this.readInt64(this.expect('prompt_offsets', 'I64', [null])));
    const offsetsProblem = checkOffsets(this.promptOffsets, T);
    if (offsetsProblem) throw fileError(file, 'trace-offsets', `tensor "prompt_offsets" ${offsetsProblem}`);
    this.nPrompts = this.promptOffsets.length - 1;
    const P = this.nPrompts;
    this.expect('topk_ids', 'I32', [T, L, this.k]);

    this.hasWeights = this.optional('topk_weights', 'F32', [T, L, this.k]);
    this.hasProbSum = this.optional('router_prob_sum', 'F64', [L, this.nExperts]);
    if (this.hasProbSum) this.routerProbSum = this.readFloat64('router_prob_sum');
    this.hasProbs = this.optional('router_probs', 'F16', [T, L, this.nExperts]);
    this.hasSpeculative = this.optional('spec_topk_ids', 'I32', [T, L, this.k]);
    this.hasText = this.optionalPair('token_text', T);
    this.hasPromptText = this.optionalPair('prompt_text', P);
    this.hasUnbiased = this.optional('unbiased_topk_ids', 'I32', [T, L, this.k]);
    if (this.optional('prompt_labels', 'I32', [P])) {
      const labels = this.readInt32('prompt_labels');
      const bad = labels.findIndex((label) => label < -1 || label >= this.labels.length);
      if (bad >= 0) throw fileError(file, 'trace-labels', `tensor "prompt_labels": prompt ${bad} has label index ${labels[bad]}, expected -1..${this.labels.length - 1} (the metadata lists ${this.labels.length} labels)`);
      this.promptLabels = labels;
    }
    if (this.optional('prompt_lines', 'I32', [P])) this.promptLines = this.readInt32('prompt_lines');
  }

  /** How reports name prompt p: by its line in the prompts file where the trace records it. */
  promptName(p: number): string {
    return this.promptLines ? `line ${this.promptLines[p]}` : `prompt ${p + 1}`;
  }

  readTopkIds(tokenStart: number, tokenEnd: number): Int32Array {
    return this.readExpertIds('topk_ids', tokenStart, tokenEnd, 0);
  }

  readSpecTopkIds(tokenStart: number, tokenEnd: number): Int32Array {
    if (!this.hasSpeculative) throw fileError(this.file, 'trace-no-speculative', 'trace has no "spec_topk_ids" tensor (record with route --speculate)');
    return this.readExpertIds('spec_topk_ids', tokenStart, tokenEnd, -1);
  }

  readUnbiasedTopkIds(tokenStart: number, tokenEnd: number): Int32Array {
    if (!this.hasUnbiased) throw fileError(this.file, 'trace-no-unbiased', 'trace has no "unbiased_topk_ids" tensor (recorded by route for models with e_score_correction_bias)');
    return this.readExpertIds('unbiased_topk_ids', tokenStart, tokenEnd, 0);
  }

  readTopkWeights(tokenStart: number, tokenEnd: number): Float32Array {
    if (!this.hasWeights) throw fileError(this.file, 'trace-no-weights', 'trace has no "topk_weights" tensor (made by import from records without weights?)');
    const [start, end] = this.byteRange(tokenStart, tokenEnd, this.layers.length * this.k * 4);
    const bytes = this.source.read('topk_weights', undefined, start, end);
    return new Float32Array(bytes.buffer, 0, bytes.length / 4);
  }

  readRouterProbs(tokenStart: number, tokenEnd: number): Float32Array {
    if (!this.hasProbs) throw fileError(this.file, 'trace-no-probs', 'trace has no "router_probs" tensor (record with route --save-probs)');
    const [start, end] = this.byteRange(tokenStart, tokenEnd, this.layers.length * this.nExperts * 2);
    return toFloat32('F16', this.source.read('router_probs', undefined, start, end));
  }

  tokenBytes(t: number): Uint8Array {
    if (!this.hasText) throw fileError(this.file, 'trace-no-text', 'trace has no "token_text" tensor');
    this.tokenTextTable ??= this.readText('token_text');
    return item(this.tokenTextTable, t, this.nTokens, 'token');
  }

  tokenText(t: number): string {
    return this.decoder.decode(this.tokenBytes(t));
  }

  promptText(p: number): string {
    if (!this.hasPromptText) throw fileError(this.file, 'trace-no-text', 'trace has no "prompt_text" tensor');
    this.promptTextTable ??= this.readText('prompt_text');
    return this.decoder.decode(item(this.promptTextTable, p, this.nPrompts, 'prompt'));
  }

  modelConfig(): Record<string, unknown> {
    let config: unknown;
    try {
      config = JSON.parse(this.requiredMetadata('model_config'));
    } catch (error) {
      throw fileError(this.file, 'trace-model-config', `metadata "model_config" is not valid JSON (${(error as Error).message})`, error);
    }
    if (typeof config !== 'object' || config === null || Array.isArray(config)) {
      throw fileError(this.file, 'trace-model-config', 'metadata "model_config" must be a JSON object (the model\'s config.json)');
    }
    return config as Record<string, unknown>;
  }

  close(): void {
    this.source.close();
  }

  // --- checks ------------------------------------------------------------------------------------------

  private requiredMetadata(key: string): string {
    const value = this.metadata[key];
    if (value === undefined) throw fileError(this.file, 'trace-metadata', `metadata "${key}" is missing`);
    return value;
  }

  private positiveIntegerMetadata(key: string): number {
    const text = this.requiredMetadata(key);
    const value = Number(text);
    if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(value) || value < 1) {
      throw fileError(this.file, 'trace-metadata', `metadata "${key}" expected a positive integer, found ${JSON.stringify(text)}`);
    }
    return value;
  }

  private readLabels(): string[] {
    const text = this.metadata.labels;
    if (text === undefined) return [];
    let labels: unknown;
    try {
      labels = JSON.parse(text);
    } catch {
      labels = undefined;
    }
    if (!Array.isArray(labels) || !labels.every((label) => typeof label === 'string')) {
      throw fileError(this.file, 'trace-metadata', `metadata "labels" expected a JSON list of strings, found ${JSON.stringify(text.slice(0, 80))}`);
    }
    return labels;
  }

  /** Requires tensor `name` with this dtype and shape (null: any size on that axis); returns the name. */
  private expect(name: string, dtype: DType, shape: Array<number | null>): string {
    const info = this.source.tensors.get(name);
    if (!info) throw fileError(this.file, 'trace-missing-tensor', `not a complete trace: tensor "${name}" is missing`);
    if (info.dtype !== dtype) throw fileError(this.file, 'trace-tensor-dtype', `tensor "${name}": dtype expected ${dtype}, found ${info.dtype}`);
    const fits = info.shape.length === shape.length && shape.every((size, i) => size === null || size === info.shape[i]);
    if (!fits) {
      const expected = shape.map((size) => size ?? '*').join(', ');
      throw fileError(this.file, 'trace-tensor-shape', `tensor "${name}": shape expected [${expected}], found [${info.shape.join(', ')}]`);
    }
    return name;
  }

  private optional(name: string, dtype: DType, shape: Array<number | null>): boolean {
    if (!this.source.tensors.has(name)) return false;
    this.expect(name, dtype, shape);
    return true;
  }

  /** `<name>` U8 bytes and `<name>_offsets` I64 [items+1] come together; the offsets are checked when first read. */
  private optionalPair(name: string, items: number): boolean {
    const hasBytes = this.source.tensors.has(name);
    const hasOffsets = this.source.tensors.has(`${name}_offsets`);
    if (hasBytes !== hasOffsets) {
      const [present, missing] = hasBytes ? [name, `${name}_offsets`] : [`${name}_offsets`, name];
      throw fileError(this.file, 'trace-missing-tensor', `tensor "${present}" needs "${missing}", which is missing`);
    }
    if (!hasBytes) return false;
    this.expect(name, 'U8', [null]);
    this.expect(`${name}_offsets`, 'I64', [items + 1]);
    return true;
  }

  // --- reads ---------------------------------------------------------------------------------------------

  /** A [T, L, K] expert-id tensor for a token range; ids below `lowest` or not below E are refused. */
  private readExpertIds(name: string, tokenStart: number, tokenEnd: number, lowest: number): Int32Array {
    const ids = this.readInt32(name, this.byteRange(tokenStart, tokenEnd, this.layers.length * this.k * 4));
    const bad = ids.findIndex((id) => id < lowest || id >= this.nExperts);
    if (bad >= 0) {
      const perToken = this.layers.length * this.k;
      throw fileError(this.file, 'trace-expert-id', `tensor "${name}": token ${tokenStart + Math.floor(bad / perToken)} has expert ${ids[bad]}, expected ${lowest}..${this.nExperts - 1}`);
    }
    return ids;
  }

  /** Byte range of tokens [start, end) in a per-token tensor with `bytesPerToken`. */
  private byteRange(tokenStart: number, tokenEnd: number, bytesPerToken: number): [number, number] {
    if (!Number.isSafeInteger(tokenStart) || !Number.isSafeInteger(tokenEnd) || tokenStart < 0 || tokenStart > tokenEnd || tokenEnd > this.nTokens) {
      throw new RangeError(`${this.file}: token range [${tokenStart}, ${tokenEnd}) is outside [0, ${this.nTokens})`);
    }
    return [tokenStart * bytesPerToken, tokenEnd * bytesPerToken];
  }

  /** A fresh Uint8Array starts at byte 0 of its own buffer, so typed views over it are aligned. */
  private readInt32(name: string, range?: [number, number]): Int32Array {
    const bytes = this.source.read(name, undefined, range?.[0], range?.[1]);
    return new Int32Array(bytes.buffer, 0, bytes.length / 4);
  }

  private readInt64(name: string): Float64Array {
    const bytes = this.source.read(name);
    return Float64Array.from(new BigInt64Array(bytes.buffer, 0, bytes.length / 8), Number);
  }

  private readFloat64(name: string): Float64Array {
    const bytes = this.source.read(name);
    return new Float64Array(bytes.buffer, 0, bytes.length / 8);
  }

  private readText(name: string): TextTable {
    const bytes = this.source.read(name);
    const offsets = this.readInt64(`${name}_offsets`);
    const problem = checkOffsets(offsets, bytes.length);
    if (problem) throw fileError(this.file, 'trace-offsets', `tensor "${name}_offsets" ${problem}`);
    return { bytes, offsets };
  }
}

function item(table: TextTable, index: number, count: number, what: string): Uint8Array {
  if (!Number.isInteger(index) || index < 0 || index >= count) throw new RangeError(`${what} ${index} is outside [0, ${count})`);
  return table.bytes.subarray(table.offsets[index], table.offsets[index + 1]);
}
