import { fork } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import Table from 'cli-table3';
import { runReport } from '../src/report/report.js';
import { mulberry32 } from '../src/random.js';
import { writeTrace } from '../src/trace.js';

/**
 * Scale check for `report` (issue 4): a trace of 1,000,000 tokens x 27 MoE layers x top-6 of 64 experts
 * (DeepSeek-V2-Lite's shape) must report in under a minute in bounded memory. The trace is synthesised
 * with skewed, token-dependent routing so every analysis has real work; the report runs in a child
 * process so its peak RSS is its own.
 *
 *   npx tsx bench/report-scale.ts [TOKENS...]     (default 1000000)
 */

export interface ScaleCase {
  tokens: number;
  layers?: number;
  k?: number;
  experts?: number;
}

export interface ScaleRow {
  tokens: number;
  layers: number;
  k: number;
  experts: number;
  traceMiB: number;
  seconds: number;
  peakRssMiB: number;
}

const shape = { layers: 27, k: 6, experts: 64, vocab: 32000, promptTokens: 512, labels: ['code', 'math', 'prose', 'chat'] };

export async function reportScaleBench(cases: ScaleCase[] = [{ tokens: 1_000_000 }]): Promise<ScaleRow[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moe-inspect-bench-'));
  try {
    const rows: ScaleRow[] = [];
    for (const { tokens, layers = shape.layers, k = shape.k, experts = shape.experts } of cases) {
      const trace = path.join(dir, `bench-${tokens}.trace.safetensors`);
      synthesiseTrace(trace, tokens, layers, k, experts);
      const measured = await measureInChild(trace, dir);
      rows.push({ tokens, layers, k, experts, traceMiB: fs.statSync(trace).size / 2 ** 20, ...measured });
      fs.rmSync(trace);
    }
    return rows;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export function formatScaleTable(rows: ScaleRow[]): string {
  const table = new Table({ head: ['tokens', 'layers', 'top-k', 'experts', 'trace MiB', 'report s', 'peak RSS MiB'], style: { head: [], border: [] } });
  for (const r of rows) table.push([r.tokens.toLocaleString('en-US'), r.layers, r.k, r.experts, r.traceMiB.toFixed(0), r.seconds.toFixed(1), r.peakRssMiB.toFixed(0)]);
  return table.toString();
}

/**
 * Zipf-distributed token ids (a BOS of empty text starts every prompt); per layer, each token takes its
 * experts from a hash of its id (so same-token overlap is well above chance) or from a skewed popularity
 * table (so the load is uneven), distinct within the token.
 */
export function synthesiseTrace(file: string, tokens: number, layers: number, k: number, experts: number, seed = 12345): void {
  const random = mulberry32(seed);
  const zipf = Float64Array.from({ length: shape.vocab }, (_, r) => 1 / (r + 1) ** 1.1);
  for (let r = 1; r < shape.vocab; r++) zipf[r] += zipf[r - 1];
  const tokenIds = new Int32Array(tokens);
  for (let t = 0; t < tokens; t++) {
    if (t % shape.promptTokens === 0) continue; // id 0: BOS
    tokenIds[t] = 1 + pickCumulative(zipf, random() * zipf[shape.vocab - 1]);
  }
  const popularity = Array.from({ length: layers }, () => {
    const weights = Array.from({ length: experts }, () => Math.exp(0.8 * gaussian(random)));
    const total = weights.reduce((a, b) => a + b, 0);
    const table = new Int32Array(4096);
    let at = 0;
    weights.forEach((w, e) => {
      const end = e === experts - 1 ? table.length : Math.min(table.length, at + Math.round((w / total) * table.length));
      table.fill(e, at, end);
      at = end;
    });
    return table;
  });

  const chunk = 65536;
  function* topkIds(): Generator<Int32Array> {
    for (let start = 0; start < tokens; start += chunk) {
      const end = Math.min(tokens, start + chunk);
      const ids = new Int32Array((end - start) * layers * k);
      for (let t = start; t < end; t++) {
        for (let l = 0; l < layers; l++) {
          const base = ((t - start) * layers + l) * k;
          for (let j = 0; j < k; j++) {
            let e = random() < 0.6 ? hash(tokenIds[t], l, j) % experts : popularity[l][Math.floor(random() * 4096)];
            for (let m = 0; m < j; m++) {
              if (ids[base + m] === e) {
                e = (e + 1) % experts;
                m = -1;
              }
            }
            ids[base + j] = e;
          }
        }
      }
      yield ids;
    }
  }
  const pieces = Array.from(tokenIds, (id) => (id === 0 ? '' : ` t${id}`));
  const text = Buffer.from(pieces.join(''), 'utf8');
  const textOffsets = new Float64Array(tokens + 1);
  pieces.forEach((piece, t) => (textOffsets[t + 1] = textOffsets[t] + piece.length));
  const prompts = Math.ceil(tokens / shape.promptTokens);
  writeTrace(file, {
    metadata: {
      model_type: 'deepseek_v2',
      n_routed_experts: experts,
      num_experts_per_tok: k,
      model_config: JSON.stringify({ model_type: 'deepseek_v2', n_routed_experts: experts, num_experts_per_tok: k, num_hidden_layers: layers + 1, n_group: 1, topk_method: 'greedy' }),
      model_dir: 'bench',
      labels: shape.labels,
      source: 'route',
    },
    layers: Array.from({ length: layers }, (_, l) => l + 1),
    tokenIds,
    promptOffsets: Array.from({ length: prompts + 1 }, (_, p) => Math.min(tokens, p * shape.promptTokens)),
    topkIds: topkIds(),
    routerProbSum: Float64Array.from({ length: layers * experts }, () => (tokens / experts) * (0.5 + random())),
    tokenText: { bytes: new Uint8Array(text.buffer, text.byteOffset, text.length), offsets: textOffsets },
    promptLabels: Int32Array.from({ length: prompts }, (_, p) => p % shape.labels.length),
  });
}

function measureInChild(trace: string, dir: string): Promise<{ seconds: number; peakRssMiB: number }> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ['--measure', trace, dir], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
    child.on('message', (message) => resolve(message as { seconds: number; peakRssMiB: number }));
    child.on('exit', (code) => code !== 0 && reject(new Error(`report child exited with ${code}`)));
  });
}

/** In the child: one report, timed, then its own peak RSS. */
async function measure(trace: string, dir: string): Promise<void> {
  const started = process.hrtime.bigint();
  await runReport([trace], { out: path.join(dir, 'bench.html'), json: path.join(dir, 'bench.json') });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  process.send!({ seconds, peakRssMiB: process.resourceUsage().maxRSS / 1024 });
}

/** The first index whose cumulative weight reaches u (a draw from the weights when u is uniform below the total). */
export function pickCumulative(cumulative: Float64Array, u: number): number {
  let lo = 0;
  let hi = cumulative.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cumulative[mid] < u) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** A well-mixed 32-bit hash of three integers (the synthetic traces' token-dependent expert choice). */
export function hash(a: number, b: number, c: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x632be5ab, 0xc2b2ae35) ^ Math.imul(c + 0x27d4eb2f, 0x165667b1);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  return h >>> 0;
}


export function gaussian(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const args = process.argv.slice(2);
  if (args[0] === '--measure') {
    await measure(args[1], args[2]);
  } else {
    const cases = args.length > 0 ? args.map((tokens) => ({ tokens: Number(tokens) })) : undefined;
    const rows = await reportScaleBench(cases);
    process.stdout.write(`report at scale\n${formatScaleTable(rows)}\n`);
  }
}
