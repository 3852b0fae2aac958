/**
 * `moe-inspect wic`: the Word-in-Context probe (analyses.md). Routes both sentences of every pair through the
 * model (pair i = prompts 2i and 2i+1 of OUT_DIR/trace.safetensors), finds the target word's tokens in each,
 * and compares the experts the word is sent to in the two sentences, per MoE layer, for same-sense and
 * different-sense pairs. Writes OUT_DIR/wic.json (contract.md, "Word-in-Context output") and OUT_DIR/report.html.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { TokenOverlay } from '../analysis/token-overlay.js';
import { wicOverlap, type WicPairRouting } from '../analysis/wic-overlap.js';
import { fileError, InputError } from '../errors.js';
import { checkOutputFiles, checkOutputFolder, writeFileAtomically } from '../files.js';
import { readModelConfig } from '../models/config.js';
import { renderHtmlReport } from '../page/html.js';
import { route } from '../route/route.js';
import type { Device } from '../runtime/execution-provider.js';
import { openTrace, type Trace } from '../trace.js';
import { locateWordBytes, overlappingTokens, spansFromLengths, type Located } from './locate.js';
import { findSuspectPairs, suspectPairsWarning } from './suspect-pairs.js';
import { readWicData, type WicPair } from './wic-data.js';
import { wicOverlay } from './wic-overlay.js';
import { buildWicPage } from './wic-page.js';
import { wordTokens, type SkippedPair, type WicAnalysis, type WicJson, type WicPairJson, type WicResult, type WordToken } from './wic-result.js';

export interface WicOptions {
  /** The WiC data file: word<TAB>PoS<TAB>i-j<TAB>sentence1<TAB>sentence2 per line. */
  data: string;
  /** T/F per line, line for line with `data`. */
  gold: string;
  model: string;
  /** Output folder: trace.safetensors, wic.json, report.html. */
  out: string;
  wordToken?: WordToken;
  /**
   * Keep pairs whose word cannot be found as `"skipped": true` instead of refusing the data file, and skip
   * the suspect pairs (whose word does not look like the target) too.
   */
  skipBadPairs?: boolean;
  device?: Device;
  batchTokens?: number;
  /** Seed of the bootstrap intervals; default 0. */
  seed?: number;
  /** Called with the one warning line about suspect pairs, before any routing. */
  warn?: (line: string) => void;
}

export const wicDefaults = { wordToken: 'last' as WordToken, skipBadPairs: false, device: 'auto' as Device, seed: 0 };

export async function runWic(options: WicOptions): Promise<WicResult> {
  const { data, gold, model, out, wordToken = wicDefaults.wordToken, skipBadPairs = wicDefaults.skipBadPairs, device = wicDefaults.device, batchTokens, warn, seed = wicDefaults.seed } = options;
  checkWordToken(wordToken);
  const files = { trace: path.join(out, 'trace.safetensors'), json: path.join(out, 'wic.json'), report: path.join(out, 'report.html') };
  checkOutputFolder(out);
  checkOutputFiles(files.trace, files.json, files.report);
  const pairs = readWicData(data, gold);
  // Refuse a word that cannot be found before the model spends any time on the sentences.
  for (const pair of pairs) {
    pair.sentences.forEach((sentence, s) => {
      const located = locateWordBytes(sentence, pair.wordIndices[s], pair.word);
      if ('problem' in located && !skipBadPairs) throw wordNotFound(data, pair, s, located.problem);
    });
  }
  const suspects = findSuspectPairs(pairs);
  if (suspects.length > 0) warn?.(suspectPairsWarning(suspects, data, skipBadPairs));
  const config = readModelConfig(model);

  fs.mkdirSync(out, { recursive: true });
  // .jsonl because a sentence may hold anything, a line break included; the trace keeps the text itself.
  const sentences = path.join(out, '.wic-sentences.jsonl');
  fs.writeFileSync(sentences, pairs.flatMap((pair) => pair.sentences.map((text) => `${JSON.stringify({ text })}\n`)).join(''));
  try {
    await route({
      prompts: sentences,
      model,
      out: files.trace,
      device,
      batchTokens,
      // A sentence longer than the model allows is cut, not refused: routing is causal, so the tokens before
      // the cut are routed as in the whole sentence, and only a word past the cut is lost (that pair is bad).
      maxPromptTokens: config.maxPositionEmbeddings,
      // An interrupted run leaves its finished chunks behind; the same data and model continue from them.
      resume: true,
    });
  } finally {
    fs.rmSync(sentences, { force: true });
  }

  const trace = openTrace(files.trace);
  let analysis: WicAnalysis;
  let overlay: TokenOverlay;
  try {
    analysis = analyseWic(trace, pairs, { wordToken, skipBadPairs, data, seed });
    overlay = wicOverlay(trace, analysis.wic.pairs);
  } finally {
    trace.close();
  }
  writeFileAtomically(files.json, wicJsonText(analysis.wic));
  const page = buildWicPage(analysis, { data, gold, model, trace: files.trace, pairs, overlay });
  writeFileAtomically(files.report, renderHtmlReport(page));
  return { ...analysis, files };
}

/**
 * The probe's figures from a trace whose prompts are the pairs' sentences in order (pair i = prompts 2i and
 * 2i+1). `data` names the data file in errors.
 */
export function analyseWic(trace: Trace, pairs: WicPair[], options: { wordToken?: WordToken; skipBadPairs?: boolean; data: string; seed?: number }): WicAnalysis {
  const { wordToken = wicDefaults.wordToken, skipBadPairs = wicDefaults.skipBadPairs, data, seed = wicDefaults.seed } = options;
  checkWordToken(wordToken);
  if (trace.nPrompts !== 2 * pairs.length) {
    throw fileError(trace.file, 'wic-trace-prompts', `has ${trace.nPrompts} prompts, expected ${2 * pairs.length}: the two sentences of each of the ${pairs.length} pairs of ${data}`);
  }
  if (!trace.hasText) throw fileError(trace.file, 'wic-trace-text', 'has no "token_text" tensor, which finding the word in each sentence needs');

  const suspects = findSuspectPairs(pairs);
  const skipped: SkippedPair[] = [];
  const routings: WicPairRouting[] = [];
  const jsonPairs: WicPairJson[] = [];
  const wordTokenBytes: WicAnalysis['wordTokenBytes'] = [];
  pairs.forEach((pair, i) => {
    const found = pair.sentences.map((sentence, s) => {
      const prompt = 2 * i + s;
      // A sentence cut at max_position_embeddings is stored as the text its tokens cover: a prefix of the sentence.
      if (trace.hasPromptText && !sentence.startsWith(trace.promptText(prompt).replace(/\uFFFD+$/, ''))) {
        throw fileError(trace.file, 'wic-trace-prompts', `prompt ${prompt} is not sentence ${s + 1} of line ${pair.index + 1} of ${data}; the trace was made from other sentences`);
      }
      const located = locateWordTokens(trace, prompt, sentence, pair.wordIndices[s], pair.word);
      if ('problem' in located && !skipBadPairs) throw wordNotFound(data, pair, s, located.problem);
      return located;
    });
    const tokens = found.map((located) => ('found' in located ? located.found : null)) as WicPairJson['tokens'];
    const problems = found.flatMap((located, s) => ('problem' in located ? [`sentence ${s + 1}: ${located.problem}`] : []));
    const suspect = skipBadPairs && problems.length === 0 ? suspects.filter((x) => x.index === pair.index) : [];
    problems.push(...suspect.map((x) => `sentence ${x.sentence}: the word at the index is ${JSON.stringify(x.found)}, which does not look like ${JSON.stringify(x.target)}`));
    if (problems.length > 0) skipped.push({ index: pair.index, problem: problems.join('; '), suspect: suspect.length > 0 });
    jsonPairs.push({ index: pair.index, word: pair.word, label: pair.same, skipped: problems.length > 0, tokens });
    wordTokenBytes.push(tokens.map((range) => (range ? tokenBytes(trace, range) : null)) as [Uint8Array[] | null, Uint8Array[] | null]);
    const [a, b] = tokens;
    if (a && b && problems.length === 0) {
      const pick = (range: [number, number]) => (wordToken === 'last' ? range[1] : range[0]);
      routings.push({ same: pair.same, a: trace.readTopkIds(pick(a), pick(a) + 1), b: trace.readTopkIds(pick(b), pick(b) + 1) });
    }
  });

  const figures = wicOverlap(routings, trace.layers.length, trace.k, trace.nExperts, { seed });
  const orNull = <Value>(value: Value | undefined): Value | null => value ?? null;
  const wic: WicJson = {
    layers: trace.layers,
    k: trace.k,
    n_experts: trace.nExperts,
    word_token: wordToken,
    pairs: jsonPairs,
    suspect_pairs: suspects,
    per_layer: figures.map((f, l) => ({
      layer: trace.layers[l],
      overlap_same: orNull(f.overlapSame),
      overlap_diff: orNull(f.overlapDiff),
      kappa_same: orNull(f.kappaSame),
      kappa_diff: orNull(f.kappaDiff),
      auc: orNull(f.auc),
      overlap_same_ci: orNull(f.overlapSameCi),
      overlap_diff_ci: orNull(f.overlapDiffCi),
      auc_ci: orNull(f.aucCi),
    })),
  };
  return { wic, skipped, wordTokenBytes };
}

/** One pair or layer per line: readable, and a diff of two runs shows what changed. */
export function wicJsonText(wic: WicJson): string {
  const { pairs, suspect_pairs: suspects, per_layer: perLayer, ...head } = wic;
  const list = (items: unknown[]) => (items.length === 0 ? '[]' : `[\n${items.map((item) => `  ${JSON.stringify(item)}`).join(',\n')}\n ]`);
  const fields = Object.entries(head).map(([key, value]) => `${JSON.stringify(key)}: ${JSON.stringify(value)}`);
  fields.push(`"pairs": ${list(pairs)}`, `"suspect_pairs": ${list(suspects)}`, `"per_layer": ${list(perLayer)}`);
  return `{${fields.join(',\n ')}}\n`;
}

/** Global [first, last] tokens of the word in prompt `prompt`, found through the trace's token bytes. */
function locateWordTokens(trace: Trace, prompt: number, sentence: string, wordIndex: number, lemma: string): Located<[number, number]> {
  const word = locateWordBytes(sentence, wordIndex, lemma);
  if ('problem' in word) return word;
  const start = trace.promptOffsets[prompt];
  const end = trace.promptOffsets[prompt + 1];
  const lengths = Array.from({ length: end - start }, (_, t) => trace.tokenBytes(start + t).length);
  const range = overlappingTokens(spansFromLengths(lengths), word.found);
  if (!range) return { problem: `the word at bytes ${word.found[0]}..${word.found[1]} lies past the sentence's routed tokens (cut at the model's max_position_embeddings)` };
  return { found: [start + range[0], start + range[1]] };
}

function tokenBytes(trace: Trace, [first, last]: [number, number]): Uint8Array[] {
  return Array.from({ length: last - first + 1 }, (_, t) => trace.tokenBytes(first + t));
}

function wordNotFound(data: string, pair: WicPair, sentence: number, problem: string): InputError {
  return fileError(data, 'wic-word-not-found', `line ${pair.index + 1}: cannot find the word ${JSON.stringify(pair.word)} in sentence ${sentence + 1}: ${problem} (--skip-bad-pairs keeps such pairs out of the figures)`);
}

function checkWordToken(value: string): void {
  if (!(wordTokens as readonly string[]).includes(value)) throw new InputError(`invalid --word-token: ${JSON.stringify(value)} (expected ${wordTokens.join(' | ')})`, 'usage-word-token');
}
