/**
 * Every error code an InputError can carry, one line each: the check that failed. A code is the stable name
 * of a check for tests and scripts; `usage-` codes are bad usage (exit 2), the rest bad input (exit 1).
 * The list is grouped by the file that raises the error. ErrorCode is its keys, so a misspelt code does
 * not compile.
 */
export const errorCodes = {
  // src/analysis/analyse.ts
  'trace-empty': 'trace has no tokens to analyse',
  'usage-layers': '--layers names a layer the trace does not record',
  // src/analysis/balancedness.ts
  'placement-expert': 'a placement names an expert the load does not have',
  'placement-missing-expert': 'an expert with load has no slot in the placement',
  // src/analysis/eplb.ts
  'eplb-empty': 'load matrix has no layers to place',
  'eplb-ragged': 'the load rows given to EPLB differ in length',
  'eplb-shape': 'replicas, groups, nodes or GPUs do not fit the experts (EPLB\'s divisibility rules)',
  // src/analysis/offloading.ts
  'usage-cache-sizes': '--cache-sizes names a size below min(E, B x K) or above E',
  'usage-prefetch-experts': '--prefetch-experts is not 1..E, or above K with the speculative predictor',
  // src/analysis/placement.ts
  'placement-shape': 'the GPUs, nodes, replicas or groups do not fit the experts',
  // src/analysis/routing-diff.ts
  'diff-traces': 'two traces differ in layers, K, E or token ids, so they are not of the same prompts',
  // src/balance/balance.ts
  'eval-layer': 'the --eval load lacks a layer the plan covers',
  'eval-experts': 'the --eval load has another expert count than the plan',
  'eval-no-load': 'a layer of the --eval load has no load to measure the plan on',
  // src/balance/expert-bytes.ts
  'model-no-moe': 'config.json declares no MoE layer, so there is no routed expert to weigh',
  // src/balance/export-engines.ts
  'export-layers': 'the plan has a layer the model does not have (SGLang rows) or that is not a MoE layer (vLLM keys)',
  // src/balance/plan-diff.ts
  'plan-mismatch': 'the old plan (--diff) is for other experts, GPUs, nodes or layers than the new one',
  // src/balance/plan-file.ts
  'plan-unreadable': 'the plan file cannot be read (no such file, a folder, …) or is not JSON',
  'plan-shape': 'a PLAN.json key is missing or does not fit the others (sizes, phy2log rows, expert ids)',
  'plan-experts': 'the plan places another number of experts than the load has',
  'plan-layers': 'the plan has a layer the load does not have',
  // src/balance/serving.ts
  'traffic-needs-trace': '--traffic needs a trace (.safetensors), not a count matrix',
  'usage-sweep': '--sweep-gpus/--sweep-redundant given with --gpus/--replicas or with a what-if that needs one plan, or only one of them',
  'usage-cluster': 'balance needs --gpus and --replicas (or --sweep-gpus with --sweep-redundant)',
  // src/balance/sweep.ts
  'sweep-shape': 'a sweep point does not fit the experts (D does not divide R, D not a multiple of --gpus-per-node, ...)',
  // src/balance/time-series.ts
  'series-step-tokens': 'a trace becomes a time series only with --step-tokens N',
  'series-format': 'a time series must be .json, a 3-D .npy, or a trace with --step-tokens',
  'series-empty': 'the time series has no steps',
  'series-ragged': 'steps of the time series differ in layers or experts',
  'series-not-3d': 'a time series needs [steps][layers][experts]; a 2-D matrix has no time axis',
  'series-short': 'the trace has fewer tokens than one step of --step-tokens',
  // src/balance/traffic.ts
  'traffic-hidden-size': "the trace's model_config has no hidden_size, so a token's bytes are unknown",
  // src/commands/balance.ts
  'usage-simulate': '--simulate needs --window W and --interval I',
  // src/commands/info.ts
  'usage-info': 'nothing to report: give a MODEL_DIR (or set MOE_INSPECT_MODEL) or --device',
  // src/commands/model-option.ts
  'usage-model': 'no model given: neither --model nor MOE_INSPECT_MODEL',
  // src/commands/report.ts
  'usage-duplicate-input': 'report was given the same input twice',
  'usage-offloading': '--cache-sizes or --cache-batch without --cache, or --prefetch-experts without --prefetch',
  'plan-with-replicas': 'report --plan (a given plan) together with --replicas (a plan per input)',
  // src/diff/diff.ts
  'diff-architecture': 'the two checkpoints differ in architecture or expert layout (the message names the first difference)',
  'diff-tokenizer': 'the two models have different tokenizers, so the routing diff cannot compare token by token',
  'diff-router-shape': 'a router matrix is not [n_routed_experts, hidden_size]',
  // src/loaders/checkpoint.ts
  'model-dir-missing': 'no such model folder, or the path is a file',
  'shard-missing': 'shard "…" (holding tensor "…" and maybe others) not found in …',
  'tensor-not-in-shard': 'weight_map puts tensor "…" in shard "…", but that shard has no such tensor',
  'fp8-scale-missing': 'tensor "…" is FP8 but its "…" is missing (config.json declares block-quantised weights)',
  'tensor-missing': 'checkpoint has no tensor "…" (it has … tensors)',
  'fp8-shape': 'tensor "…": FP8 with a scale_inv must be a matrix, found shape […]',
  'fp8-scale-shape': 'tensor "…": shape expected […] for […, …] in …x… blocks, found […]',
  'checkpoint-missing': 'no model.safetensors and no model.safetensors.index.json in the model folder',
  'index-json': 'model.safetensors.index.json is not valid JSON',
  'index-weight-map': '"weight_map" expected an object {tensor: shard file}, found …',
  // src/loaders/load-matrix.ts
  'load-format': 'the load file type is not a trace, .json, .csv or .npy',
  'load-unreadable': 'the load file cannot be read (no such file, a folder, permission denied)',
  'load-empty': 'load matrix is all zero: no layer has any load',
  'load-ragged': 'load matrix rows (or steps) differ in length',
  'load-value': 'a load is not a finite non-negative number',
  'load-json': 'a JSON load file is not JSON, or not {"logical_count": rows} or rows',
  'load-csv': 'line … column …: "…" is not a number',
  'load-shape': '.npy load must be 2-D [layers, experts] or 3-D [steps, layers, experts], found shape (…)',
  // src/loaders/npy.ts
  'npy-magic': 'not a .npy file (it does not start with \x93NUMPY)',
  'npy-version': '.npy version … is not supported (expected 1, 2 or 3)',
  'npy-truncated': 'file ends inside the .npy header',
  'npy-dtype': 'unsupported .npy dtype \'…\' (expected an integer, bool or float type such as \'<i4\', \'|u1\', \'<f8\')',
  'npy-size': 'data of shape (…) and dtype … needs … bytes, found …',
  'npy-int64-range': '… element … is beyond 2^53 and cannot be held exactly',
  'npy-header': '.npy header is not the dict numpy writes (descr, fortran_order, shape): …',
  // src/loaders/prompts.ts
  'prompts-missing': 'the prompts file is missing or cannot be read',
  'prompts-empty': 'no prompts (the file is empty or has only blank lines)',
  'not-utf8': 'not valid UTF-8: the bytes at byte offset … (…) do not form a UTF-8 character',
  'prompts-jsonl-not-json': 'line …: not valid JSON (…)',
  'prompts-jsonl-not-object': 'line …: expected an object {"text": ..., "label": ...}, found …',
  'prompts-jsonl-text': 'line …: "text" must be a string, found …',
  'prompts-jsonl-label': 'line …: "label" must be a string, found …',
  // src/loaders/safetensors-writer.ts
  'writer-spec': 'a tensor cannot be named "__metadata__" (the header key for metadata)',
  'writer-overflow': 'tensor "…": got … bytes, expected …',
  'writer-order': 'tensor "…" was not declared',
  'writer-incomplete': 'tensor "…": got … bytes, expected ……',
  'writer-closed': 'writer already finished or aborted',
  // src/loaders/safetensors.ts
  'file-unreadable': 'a safetensors file cannot be opened (no such file, a folder, permission denied)',
  'file-changed': 'file changed since its header was read: size was … bytes, now …',
  'header-too-small': 'file is … bytes, too small to hold the 8-byte header length',
  'header-too-large': 'header length is … bytes, more than the …-byte limit (not a safetensors file?)',
  'invalid-header-length': 'header length is … bytes, but the file is only … bytes (8 + … > …)',
  'header-not-utf8': 'header is not valid UTF-8',
  'header-not-json': 'header is not valid JSON (…)',
  'header-not-object': 'header must be a JSON object, found …',
  'invalid-offset': 'tensor "…" starts at data offset …, but … (… of … bytes)',
  'shape-overflow': 'tensor "…": shape […] of … is too large to address',
  'tensor-size-mismatch': 'tensor "…": byte length expected … (shape […] x … bytes of …), found … (data_offsets […, …])',
  'data-truncated': 'file is … bytes, header says data ends at … (truncated?)',
  'trailing-bytes': 'file is … bytes, header says data ends at … (… trailing bytes)',
  'invalid-metadata': '"__metadata__" must be an object of strings, found …',
  'invalid-tensor-entry': 'tensor "…": expected an object {dtype, shape, data_offsets}, found …',
  'invalid-dtype': 'tensor "…": dtype expected one of …, found …',
  'invalid-shape': 'tensor "…": shape expected an array of non-negative integers, found …',
  'invalid-data-offsets': 'tensor "…": data_offsets expected [begin, end] with 0 <= begin <= end, found …',
  // src/loaders/serving-records.ts
  'records-unreadable': 'the records file cannot be read (no such file, a folder, permission denied)',
  'records-engine': '.npy records do not say which engine wrote them: pass --engine sglang or --engine vllm',
  'records-none': 'no routed experts found: no response has meta_info.routed_experts, sglext.routed_experts or choices[].routed_experts (was the server started with --enable-return-routed-experts?)',
  'records-json': 'a records file (or one of its lines) is not valid JSON',
  'records-shape': 'prompt_routed_experts is […, …, …] but routed_experts is […, …, …]',
  'records-payload': 'expected a base64 string, found …',
  'records-dtype': 'routed_experts_dtype … is not int32, uint16 or uint8',
  'records-base64': 'not a base64 string',
  'records-rows': '… rows of routed experts, but the response has … tokens (prompt + output - 1 = … rows at most)',
  'plan-json': 'the plan file cannot be read, or is not JSON',
  'plan-engine': 'a plan maps SGLang physical slots back to experts; vLLM records already hold logical expert ids',
  'records-expert-id': 'a record names an expert (or physical slot) the model does not have',
  'plan-layer': 'the plan has no row for MoE layer …',
  'plan-expert': 'layer … names experts outside 0..…',
  // src/loaders/tokenizer.ts
  'tokenizer-offsets': 'the tokens do not spell the prompt\'s bytes, so byte offsets cannot be found',
  'tokenizer-config-field': 'add_bos_token must be true or false, found …',
  'tokenizer-no-bos': 'add_bos_token is true but no bos_token is set',
  'tokenizer-not-object': 'expected a JSON object',
  'tokenizer-config-not-object': 'expected a JSON object',
  'tokenizer-model': 'model.type must be "BPE" or "Unigram" (tokens that spell their text), found …',
  'tokenizer-invalid': '@huggingface/tokenizers cannot load it: …',
  'token-id-range': 'token id … is not in the vocabulary (ids 0 to …)',
  'tokenizer-special-token': 'a special token of tokenizer_config.json is not in the vocabulary',
  'tokenizer-unknown-token': 'token … has no id (no unk_token to stand in for it)',
  'tokenizer-alphabet': 'token … has characters outside the byte-level alphabet',
  'tokenizer-missing': 'no tokenizer.json in the model folder, or it cannot be read',
  'tokenizer-not-json': 'tokenizer.json is not valid JSON',
  'tokenizer-config-missing': 'tokenizer_config.json cannot be read',
  'tokenizer-config-not-json': 'tokenizer_config.json is not valid JSON',
  // src/models/config.ts (and the readers of config.json in loaders/)
  'config-json': 'config.json is not valid JSON, or not an object',
  'config-field': 'a config.json field is missing, of the wrong type or out of range (the message names the field)',
  'config-model-type': 'unknown model_type "…" (supported: …)',
  'config-missing': 'no config.json in the model folder, or it cannot be read',
  // src/report/summary.ts
  'report-mismatch': '…: has … experts per layer, but … has …; one report compares inputs of the same model shape',
  // src/route/route.ts
  'usage-batch-tokens': 'invalid --batch-tokens: … (expected a positive integer)',
  'usage-out-is-input': '--out names the prompts file itself; choose another output',
  'config-no-moe': 'the model has no MoE layer (… layers, first_k_dense_replace …): there is no routing to record',
  'usage-max-prompt-tokens': 'invalid --max-prompt-tokens: … (expected 1 to max_position_embeddings …)',
  'prompt-too-long': 'the prompt on line … has … tokens, more than the model\'s max_position_embeddings … (add --max-prompt-tokens N to truncate)',
  // src/route/pass-state.ts, src/route/route.ts
  'pass-state': 'the saved state of an interrupted pass is unreadable or does not match this run; delete the work folder to start over',
  // src/route/work-dir.ts
  'partial-exists': 'an earlier run of this trace was interrupted; add --resume to continue it, or delete the folder to start over',
  'partial-manifest': 'cannot read the manifest of the interrupted run (…); delete the folder to start over',
  'resume-mismatch': 'the interrupted run was made with other inputs or options',
  // src/runtime/execution-provider.ts
  'usage-device': 'invalid --device: … (expected …)',
  'provider': 'no execution provider could be loaded: …',
  // src/runtime/layer-weights.ts
  'tensor-shape': 'tensor "…" has shape […], config.json implies […]',
  // src/runtime/model-runner.ts
  'embedding-dtype': 'tensor "…" is FP8: an FP8 embedding table is not supported',
  'token-out-of-range': 'token id … is outside the embedding table of … rows',
  // src/synth/bpe-trainer.ts
  'bpe-vocab-size': 'invalid vocabSize: … (expected an integer from …, BOS + EOS + 256 bytes, to …)',
  // src/files.ts
  'output-path': 'an output path is a folder where a file is written, or a file where a folder is, or cannot be written',
  // src/synth/presets.ts
  'usage-preset': 'invalid --preset: … (expected …)',
  // src/synth/synth.ts
  'usage-planted': '--planted needs at least 4 routed experts and top-2 routing (preset has …, top-…)',
  'usage-perturb': 'invalid --perturb: … (expected LAYER:EXPERT:SCALE, e.g. 2:5:1.5)',
  'disk-full': 'preset … needs … and … has … free (--layers N writes fewer layers)',
  'output-exists': 'exists and is not a folder',
  // src/trace.ts
  'trace-content': 'what is being written as a trace is inconsistent (K, E, layers, token counts, shapes)',
  'trace-offsets': 'prompt or token-text offsets do not rise from 0 to the token (byte) count',
  'trace-labels': 'prompt labels: expected … entries, found …',
  'trace-lines': 'prompt lines: expected … entries, found …',
  'trace-format': 'not a moe-inspect trace: metadata "format" expected "…", found …',
  'trace-expert-id': 'tensor "topk_ids": token … has expert …, expected 0..…',
  'trace-no-weights': 'trace has no "topk_weights" tensor (made by import from records without weights?)',
  'trace-no-probs': 'trace has no "router_probs" tensor (record with route --save-probs)',
  'trace-no-speculative': 'trace has no "spec_topk_ids" tensor (record with route --speculate), needed by --prefetch speculative',
  'trace-no-text': 'trace has no "token_text" tensor',
  'trace-no-unbiased': 'trace has no "unbiased_topk_ids" tensor (recorded by route for models with e_score_correction_bias)',
  'trace-model-config': 'metadata "model_config" is not valid JSON (…)',
  'trace-metadata': 'metadata "…" is missing',
  'trace-missing-tensor': 'not a complete trace: tensor "…" is missing',
  'trace-tensor-dtype': 'tensor "…": dtype expected …, found …',
  'trace-tensor-shape': 'tensor "…": shape expected […], found […]',
  // src/wic/wic-data.ts
  'wic-data-missing': 'the WiC data file is missing or cannot be read',
  'wic-gold-missing': 'the WiC gold file is missing or cannot be read',
  'wic-data-empty': 'no pairs (expected lines of …)',
  'wic-gold-count': 'has … labels but … has … pairs; line i of the gold file labels line i of the data file',
  'wic-blank-line': 'line … is blank; each line must hold one pair (line i of the gold file labels line i of the data file)',
  'wic-gold-label': 'line …: expected T (same sense) or F (different sense), found …',
  'wic-data-fields': 'expected 5 tab-separated fields (…), found …',
  'wic-data-word': 'the word (field 1) is blank',
  'wic-data-indices': 'field 3 must be i-j, the 0-based whitespace-token indices of the word in each sentence, found …',
  'wic-data-sentence': 'sentence … (field …) is blank',
  // src/wic/wic.ts
  'wic-trace-prompts': 'has … prompts, expected …: the two sentences of each of the … pairs of …',
  'wic-trace-text': 'has no "token_text" tensor, which finding the word in each sentence needs',
  'wic-word-not-found': 'line …: cannot find the word … in sentence …: … (--skip-bad-pairs keeps such pairs out of the figures)',
  'usage-word-token': 'invalid --word-token: … (expected …)',
  // src/worker-pool.ts
  'worker-failed': 'a worker thread failed: its job threw, or the thread died (out of memory, …)',
} as const;

export type ErrorCode = keyof typeof errorCodes;
