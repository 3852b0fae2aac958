import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { runImport } from '../src/import/import.js';
import { InputError } from '../src/errors.js';
import { readModelConfig } from '../src/models/config.js';
import { runReport } from '../src/report/report.js';
import { fitToModel, readMoeLayout, readPhysicalMap, readServingRecords } from '../src/loaders/serving-records.js';
import { openTrace } from '../src/trace.js';
import { repoRoot } from './helpers/cli.js';


const fixture = (name: string) => path.join(repoRoot(), 'test/fixtures/serving', name);
const tinyModel = fixture('tiny-moe'); // 4 layers, all MoE, 8 experts, top-2: the model the samples assume

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'moe-import-'));
}

/** A model folder with this config.json. */
function model(config: Record<string, unknown>): string {
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
  return dir;
}

function temp(name: string, text: string): string {
  const file = path.join(tempDir(), name);
  fs.writeFileSync(file, text);
  return file;
}

/** SGLang's payload: base64 of the raw little-endian int32 bytes. */
const sglangPayload = (ids: number[]) => Buffer.from(Int32Array.from(ids).buffer).toString('base64');

/** Decodes SGLang's payload the way its docs do (np.frombuffer(b64decode(s), np.int32)), independently of the loader. */
function decodeInt32(base64: string): number[] {
  const bytes = Buffer.from(base64, 'base64');
  return Array.from({ length: bytes.length / 4 }, (_, i) => bytes.readInt32LE(i * 4));
}

const isInputError = (code: string, message: RegExp) => (error: unknown) => error instanceof InputError && error.code === code && message.test(error.message);

describe('serving records: SGLang', () => {
  const file = fixture('sglang_generate_routed_experts.jsonl');
  const bodies = fs.readFileSync(file, 'utf8').trim().split('\n').map((line) => JSON.parse(line));

  test('decodes meta_info.routed_experts to [prompt + output - 1, layers, k] = [7, 4, 2] per response', () => {
    const layout = readMoeLayout(tinyModel);
    const routing = fitToModel(readServingRecords(file, layout), layout);
    assert.equal(routing.engine, 'sglang');
    assert.deepEqual(routing.promptOffsets, [0, 7, 14, 21]);
    assert.deepEqual(routing.layers, [0, 1, 2, 3]);
    assert.deepEqual(Array.from(routing.topkIds), bodies.flatMap((body) => decodeInt32(body.meta_info.routed_experts)));
    // Values as numpy decodes the first response: row 0 and row 6.
    assert.deepEqual(Array.from(routing.topkIds.subarray(0, 8)), [3, 1, 5, 0, 7, 3, 1, 2]);
    assert.deepEqual(Array.from(routing.topkIds.subarray(48, 56)), [0, 6, 3, 6, 6, 7, 5, 7]);
  });

  test('knows only the output token ids: rows 5 and 6 are the first two outputs, the prompt is -1', () => {
    const layout = readMoeLayout(tinyModel);
    const routing = fitToModel(readServingRecords(file, layout), layout);
    const expected = bodies.flatMap((body) => [-1, -1, -1, -1, -1, body.output_ids[0], body.output_ids[1]]);
    assert.deepEqual(Array.from(routing.tokenIds), expected);
    assert.match(routing.notes.join('\n'), /3 sequences lack some token ids, stored as -1 \(SGLang responses carry the output ids only\)/);
  });

  test('keeps only the MoE layers of the records, which hold all hidden layers', () => {
    // Same records read as a model whose layer 0 is dense: the kept layers are 1..3 of each row.
    const layout = readMoeLayout(model({ model_type: 'deepseek_v3', num_hidden_layers: 4, n_routed_experts: 8, num_experts_per_tok: 2, first_k_dense_replace: 1 }));
    const routing = fitToModel(readServingRecords(file, layout), layout);
    assert.deepEqual(routing.layers, [1, 2, 3]);
    const all = decodeInt32(bodies[0].meta_info.routed_experts);
    const expectedRow0 = all.slice(2, 8);
    assert.deepEqual(Array.from(routing.topkIds.subarray(0, 6)), expectedRow0);
    assert.equal(routing.topkIds.length, 21 * 3 * 2);
  });

  test('maps physical slots back to experts with a placement plan', () => {
    const layout = readMoeLayout(tinyModel);
    // 10 slots: slot 8 is a second replica of expert 3 on every layer, slot 9 one of expert 5 (layer 2: of expert 0).
    const phy2log = [0, 1, 2, 3].map((layer) => [0, 1, 2, 3, 4, 5, 6, 7, 3, layer === 2 ? 0 : 5]);
    const planFile = temp('plan.json', JSON.stringify({ policy: 'global', layers: [0, 1, 2, 3], phy2log }));
    const physical = [8, 9, 9, 1, 9, 8, 2, 3, /* second row */ 0, 1, 2, 3, 4, 5, 6, 7];
    const records = temp('r.jsonl', JSON.stringify({ output_ids: [11, 12], meta_info: { prompt_tokens: 1, completion_tokens: 2, routed_experts: sglangPayload(physical) } }));
    const routing = fitToModel(readServingRecords(records, layout), layout, readPhysicalMap(planFile));
    assert.deepEqual(Array.from(routing.topkIds), [3, 5, 5, 1, 0, 3, 2, 3, 0, 1, 2, 3, 4, 5, 6, 7]);
    assert.deepEqual(Array.from(routing.tokenIds), [-1, 11]);
    // The same placement in the form SGLang's --init-expert-location takes (row i = layer i).
    const sglangMap = temp('location.json', JSON.stringify({ physical_to_logical_map: phy2log }));
    assert.deepEqual(fitToModel(readServingRecords(records, layout), layout, readPhysicalMap(sglangMap)).topkIds, routing.topkIds);
  });

  test('says to pass --plan when ids are beyond the expert count', () => {
    const layout = readMoeLayout(tinyModel);
    const records = temp('r.jsonl', JSON.stringify({ meta_info: { routed_experts: sglangPayload([0, 1, 2, 3, 4, 5, 9, 7]) } }));
    assert.throws(() => fitToModel(readServingRecords(records, layout), layout), isInputError('records-expert-id', /r\.jsonl:1: row 0 layer 3 names expert 9; the model has 8 experts .*pass --plan PLAN\.json/));
  });

  test('reads the OpenAI endpoints\' response-level sglext, batches as JSON lists, and saved server-sent events', () => {
    const layout = readMoeLayout(tinyModel);
    const ids = [1, 2, 3, 4, 5, 6, 7, 0, 2, 1, 4, 3, 6, 5, 0, 7];
    const response = { choices: [{ index: 0, text: 'x' }], usage: { prompt_tokens: 2, completion_tokens: 1 }, sglext: { routed_experts: sglangPayload(ids) } };
    const stream = `data: {"choices": [{"index": 0, "text": "x"}]}\n\ndata: ${JSON.stringify({ ...response, choices: [] })}\n\ndata: [DONE]\n`;
    const batch = JSON.stringify([response, response]);
    const fromStream = readServingRecords(temp('s.txt', stream), layout);
    assert.equal(fromStream.sequences.length, 1);
    assert.deepEqual(Array.from(fromStream.sequences[0].ids), ids);
    assert.match(fromStream.notes.join('\n'), /skipped 1 response without routed experts/);
    assert.equal(readServingRecords(temp('b.jsonl', batch), layout).sequences.length, 2);
  });

  test('rejects a payload that does not fill whole rows, and one that is not base64', () => {
    const layout = readMoeLayout(tinyModel);
    const short = temp('r.jsonl', JSON.stringify({ meta_info: { routed_experts: sglangPayload([1, 2, 3]) } }));
    assert.throws(() => readServingRecords(short, layout), isInputError('records-shape', /3 expert ids do not form rows of num_hidden_layers 4 x top_k 2/));
    const garbage = temp('g.jsonl', JSON.stringify({ meta_info: { routed_experts: 'not base64!' } }));
    assert.throws(() => readServingRecords(garbage, layout), isInputError('records-base64', /g\.jsonl:1 meta_info\.routed_experts: not a base64 string/));
  });
});

describe('serving records: vLLM', () => {
  const file = fixture('vllm_routed_experts.jsonl');
  const bodies = fs.readFileSync(file, 'utf8').trim().split('\n').map((line) => JSON.parse(line));

  test('decodes choices[i].routed_experts (base64 .npy, uint8) to [7, 4, 2] with the token ids it carries', () => {
    const layout = readMoeLayout(tinyModel);
    const routing = fitToModel(readServingRecords(file, layout), layout);
    assert.equal(routing.engine, 'vllm');
    assert.deepEqual(routing.promptOffsets, [0, 7, 14, 21]);
    // Values as numpy decodes them: first and last row of each response.
    const rows = [
      [[6, 3, 2, 4, 7, 1, 7, 5], [6, 2, 5, 4, 7, 2, 4, 3]],
      [[2, 6, 6, 4, 7, 6, 6, 4], [7, 2, 0, 5, 5, 3, 2, 0]],
      [[1, 3, 0, 6, 0, 7, 0, 5], [0, 3, 0, 4, 5, 2, 1, 6]],
    ];
    rows.forEach(([first, last], request) => {
      assert.deepEqual(Array.from(routing.topkIds.subarray(request * 56, request * 56 + 8)), first, `request ${request} row 0`);
      assert.deepEqual(Array.from(routing.topkIds.subarray(request * 56 + 48, request * 56 + 56)), last, `request ${request} row 6`);
    });
    // Rows are prompt + output tokens minus the last output token.
    const tokens = bodies.flatMap((body) => [...body.choices[0].prompt_token_ids, ...body.choices[0].token_ids].slice(0, -1));
    assert.deepEqual(Array.from(routing.tokenIds), tokens);
    assert.deepEqual(routing.notes, []);
  });

  test('reads a .npy array saved from the offline API when told the engine', () => {
    const layout = readMoeLayout(tinyModel);
    const npyFile = fixture('vllm-request0-7x4x2.npy');
    assert.throws(() => readServingRecords(npyFile, layout), isInputError('records-engine', /pass --engine sglang or --engine vllm/));
    const fromNpy = fitToModel(readServingRecords(npyFile, layout, 'vllm'), layout);
    const fromJson = fitToModel(readServingRecords(file, layout), layout);
    assert.deepEqual(Array.from(fromNpy.topkIds), Array.from(fromJson.topkIds.subarray(0, 56)));
    assert.deepEqual(Array.from(fromNpy.tokenIds), new Array(7).fill(-1));
  });

  test('reads the older nested-list form, and the v0.21 split form without rows the prefix cache skipped', () => {
    const layout = readMoeLayout(model({ model_type: 'mixtral', num_hidden_layers: 2, num_local_experts: 4, num_experts_per_tok: 1 }));
    const nested = { choices: [{ routed_experts: [[[0], [1]], [[2], [3]]], prompt_token_ids: [10, 11], token_ids: [12] }] };
    const older = fitToModel(readServingRecords(temp('n.jsonl', JSON.stringify(nested)), layout), layout);
    assert.deepEqual(Array.from(older.topkIds), [0, 1, 2, 3]);
    assert.deepEqual(Array.from(older.tokenIds), [10, 11]);

    const split = {
      prompt_routed_experts: [[[-1], [-1]], [[1], [2]], [[3], [0]]],
      choices: [{ routed_experts: [[[2], [2]], [[0], [1]]], prompt_token_ids: [20, 21, 22], token_ids: [23, 24] }],
    };
    const v021 = fitToModel(readServingRecords(temp('v.jsonl', JSON.stringify(split)), layout), layout);
    assert.deepEqual(Array.from(v021.topkIds), [1, 2, 3, 0, 2, 2, 0, 1]);
    assert.deepEqual(Array.from(v021.tokenIds), [21, 22, 23, 24]);
    assert.deepEqual(v021.promptOffsets, [0, 4]);
    assert.match(v021.notes.join('\n'), /dropped 1 row marked -1/);
  });

  test('refuses a plan for vLLM records, whose ids are already logical', () => {
    const layout = readMoeLayout(tinyModel);
    const planFile = temp('plan.json', JSON.stringify({ layers: [0, 1, 2, 3], phy2log: [[0], [0], [0], [0]] }));
    assert.throws(() => fitToModel(readServingRecords(file, layout), layout, readPhysicalMap(planFile)), isInputError('plan-engine', /vLLM records already hold logical expert ids/));
  });

  test('rejects records whose top_k or layer count does not fit the model, and more rows than tokens', () => {
    const layout = readMoeLayout(model({ model_type: 'mixtral', num_hidden_layers: 3, num_local_experts: 8, num_experts_per_tok: 2 }));
    assert.throws(() => fitToModel(readServingRecords(file, layout), layout), isInputError('records-shape', /records have 4 layers, the model has 3 hidden layers of which 3 are MoE/));
    const topOne = readMoeLayout(model({ model_type: 'mixtral', num_hidden_layers: 4, num_local_experts: 8, num_experts_per_tok: 1 }));
    assert.throws(() => fitToModel(readServingRecords(file, topOne), topOne), isInputError('records-shape', /top_k 2, the model's num_experts_per_tok is 1/));
    const tooMany = { choices: [{ routed_experts: [[[0, 1]], [[0, 1]]], prompt_token_ids: [1], token_ids: [2] }] };
    const one = readMoeLayout(model({ model_type: 'mixtral', num_hidden_layers: 1, num_local_experts: 8, num_experts_per_tok: 2 }));
    assert.throws(() => readServingRecords(temp('m.jsonl', JSON.stringify(tooMany)), one), isInputError('records-rows', /2 rows of routed experts, but the response has 2 tokens/));
  });

  test('says so when no response carries routed experts', () => {
    const layout = readMoeLayout(tinyModel);
    const plain = temp('p.jsonl', JSON.stringify({ choices: [{ text: 'hi', routed_experts: null }] }));
    assert.throws(() => readServingRecords(plain, layout), isInputError('records-none', /--enable-return-routed-experts/));
  });
});

describe('readMoeLayout', () => {
  test('finds the MoE layers of DeepSeek, Mixtral and Qwen-MoE configs', () => {
    const v3 = readMoeLayout(model({ model_type: 'deepseek_v3', num_hidden_layers: 61, n_routed_experts: 256, num_experts_per_tok: 8, first_k_dense_replace: 3, moe_layer_freq: 1 }));
    assert.deepEqual([v3.experts, v3.k, v3.moeLayers.length, v3.moeLayers[0]], [256, 8, 58, 3]);
    const mixtral = readMoeLayout(model({ model_type: 'mixtral', num_hidden_layers: 32, num_local_experts: 8, num_experts_per_tok: 2 }));
    assert.equal(mixtral.moeLayers.length, 32);
    const qwen = readMoeLayout(model({ model_type: 'qwen2_moe', num_hidden_layers: 6, num_experts: 60, num_experts_per_tok: 4, decoder_sparse_step: 2, mlp_only_layers: [3] }));
    assert.deepEqual(qwen.moeLayers, [1, 5]);
  });

  test('rejects a model type route does not know, a config without MoE layers, or no config.json', () => {
    assert.throws(() => readMoeLayout(model({ model_type: 'llama', num_hidden_layers: 2, num_experts_per_tok: 1 })), isInputError('config-model-type', /unknown model_type "llama"/));
    assert.throws(() => readMoeLayout(model({ model_type: 'mixtral', num_hidden_layers: 2, num_experts_per_tok: 1 })), isInputError('config-field', /field "num_local_experts" must be a non-negative integer/));
    assert.throws(() => readMoeLayout(model({ model_type: 'deepseek_v2', num_hidden_layers: 2, num_experts_per_tok: 1 })), isInputError('config-field', /describes no MoE layer/));
    assert.throws(() => readMoeLayout(tempDir()), isInputError('config-missing', /no config\.json in the model folder/));
    // The folder itself is wrong: say so, rather than that config.json is missing inside it.
    const missing = path.join(tempDir(), 'no-such-model');
    assert.throws(() => readMoeLayout(missing), isInputError('config-missing', /no-such-model: no such model folder$/));
    const configFile = path.join(model({ model_type: 'mixtral', num_hidden_layers: 2, num_experts_per_tok: 1, num_local_experts: 4 }), 'config.json');
    assert.throws(() => readMoeLayout(configFile), isInputError('config-missing', /config\.json: is a file, not a model folder/));
  });

  test('refuses moe_layer_freq 0 and decoder_sparse_step 0 with the error route gives, instead of clamping them to 1', () => {
    const cases = [
      [{ model_type: 'deepseek', num_hidden_layers: 4, n_routed_experts: 8, num_experts_per_tok: 2, moe_layer_freq: 0 }, 'moe_layer_freq'],
      [{ model_type: 'qwen2_moe', num_hidden_layers: 4, num_experts: 8, num_experts_per_tok: 2, decoder_sparse_step: 0 }, 'decoder_sparse_step'],
    ] as const;
    for (const [config, field] of cases) {
      const dir = model(config);
      const message = new RegExp(`config\\.json: field "${field}" must be an integer of at least 1, found 0`);
      assert.throws(() => readMoeLayout(dir), isInputError('config-field', message));
      // route reads the whole config; with the forward fields added it refuses on the same field.
      const full = { ...config, hidden_size: 64, num_attention_heads: 4, intermediate_size: 128, moe_intermediate_size: 32, max_position_embeddings: 64, vocab_size: 100 };
      assert.throws(() => readModelConfig(model(full)), isInputError('config-field', message));
    }
  });
});

describe('runImport', () => {
  test('a trace with unknown (-1) token ids reports: counts still use every token, per-token figures skip the unknown', async () => {
    const dir = tempDir();
    const out = path.join(dir, 'served.trace.safetensors');
    const routing = runImport([fixture('sglang_generate_routed_experts.jsonl')], { model: tinyModel, out });
    assert.ok(Array.from(routing.tokenIds).includes(-1), 'the SGLang sample has prompt tokens without ids');
    const { summary } = await runReport([out], { out: path.join(dir, 'r.html'), json: path.join(dir, 'r.json') });
    assert.equal(summary.per_layer.length, 4);
    for (const row of summary.per_layer) assert.equal(row.tokens, 21);
    assert.ok(fs.existsSync(path.join(dir, 'r.html')));
  });

  test('writes a trace that reads back with the records\' routing, source import:sglang and no weights', () => {
    const out = path.join(tempDir(), 'served.trace.safetensors');
    const routing = runImport([fixture('sglang_generate_routed_experts.jsonl')], { model: tinyModel, out });
    const trace = openTrace(out);
    try {
      assert.equal(trace.metadata.source, 'import:sglang');
      assert.deepEqual([trace.nExperts, trace.k, trace.nTokens, trace.nPrompts], [8, 2, 21, 3]);
      assert.deepEqual(trace.layers, [0, 1, 2, 3]);
      assert.equal(trace.hasWeights, false);
      assert.deepEqual(Array.from(trace.readTopkIds(0, 21)), Array.from(routing.topkIds));
      assert.deepEqual(Array.from(trace.tokenIds), Array.from(routing.tokenIds));
      assert.equal(JSON.parse(trace.metadata.model_config).n_routed_experts, 8);
    } finally {
      trace.close();
    }
  });

  test('leaves no output behind when the records are bad', () => {
    const dir = tempDir();
    const out = path.join(dir, 'bad.trace.safetensors');
    const records = temp('r.jsonl', JSON.stringify({ meta_info: { routed_experts: sglangPayload([0, 1, 2, 3, 4, 5, 9, 7]) } }));
    assert.throws(() => runImport([records], { model: tinyModel, out }), /names expert 9/);
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});
