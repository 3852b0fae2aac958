import type { ErrorCode } from '../error-codes.js';
import { fileError } from '../errors.js';
import { decodeUtf8 } from '../loaders/prompts.js';
import { readInputFile } from '../files.js';

/**
 * The Word-in-Context files (Pilehvar and Camacho-Collados 2019): the data file has one pair per line,
 * `word<TAB>PoS<TAB>i-j<TAB>sentence1<TAB>sentence2`, where i and j are the 0-based whitespace-token indices of
 * the word in each sentence; the gold file has `T` (same sense) or `F` (different sense) on the same line.
 */

export interface WicPair {
  /** 0-based line number in the data file (wic.json's `index`). */
  index: number;
  /** The target word as the data file gives it (WiC gives the lemma: "run" for "running"). */
  word: string;
  pos: string;
  /** Whitespace-token index of the word in each sentence. */
  wordIndices: [number, number];
  sentences: [string, string];
  /** Gold label: true when the word has the same sense in both sentences. */
  same: boolean;
}

const fieldNames = 'word<TAB>PoS<TAB>i-j<TAB>sentence1<TAB>sentence2';

/** Reads both files and joins them line for line; every line of either must be well formed. */
export function readWicData(dataFile: string, goldFile: string): WicPair[] {
  const dataLines = readLines(dataFile, 'wic-data-missing');
  const goldLines = readLines(goldFile, 'wic-gold-missing');
  if (dataLines.length === 0) throw fileError(dataFile, 'wic-data-empty', `no pairs (expected lines of ${fieldNames})`);
  const labels = goldLines.map((line, i) => parseLabel(line, goldFile, i));
  if (labels.length !== dataLines.length) {
    throw fileError(goldFile, 'wic-gold-count', `has ${labels.length} labels but ${dataFile} has ${dataLines.length} pairs; line i of the gold file labels line i of the data file`);
  }
  return dataLines.map((line, i) => parsePair(line, dataFile, i, labels[i]));
}

/** Lines without their `\r`; blank lines at the end (a final newline) are dropped, blank lines between pairs refused. */
function readLines(file: string, missingCode: ErrorCode): string[] {
  const bytes = readInputFile(file, missingCode);
  const lines = decodeUtf8(bytes, file).split('\n').map((line) => line.replace(/\r$/, ''));
  while (lines.length > 0 && lines[lines.length - 1].trim() === '') lines.pop();
  // A blank line would shift every later pair against its gold label, so it is an error rather than skipped.
  const blank = lines.findIndex((line) => line.trim() === '');
  if (blank >= 0) throw fileError(file, 'wic-blank-line', `line ${blank + 1} is blank; each line must hold one pair (line i of the gold file labels line i of the data file)`);
  return lines;
}

function parseLabel(line: string, file: string, i: number): boolean {
  const label = line.trim();
  if (label === 'T') return true;
  if (label === 'F') return false;
  throw fileError(file, 'wic-gold-label', `line ${i + 1}: expected T (same sense) or F (different sense), found ${JSON.stringify(line)}`);
}

function parsePair(line: string, file: string, i: number, same: boolean): WicPair {
  const problem = (code: ErrorCode, text: string) => fileError(file, code, `line ${i + 1}: ${text}`);
  const fields = line.split('\t');
  if (fields.length !== 5) throw problem('wic-data-fields', `expected 5 tab-separated fields (${fieldNames}), found ${fields.length}`);
  const [word, pos, indices, sentence1, sentence2] = fields;
  if (word.trim() === '') throw problem('wic-data-word', 'the word (field 1) is blank');
  const match = /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(indices);
  if (!match) throw problem('wic-data-indices', `field 3 must be i-j, the 0-based whitespace-token indices of the word in each sentence, found ${JSON.stringify(indices)}`);
  const wordIndices: [number, number] = [Number(match[1]), Number(match[2])];
  if (!wordIndices.every(Number.isSafeInteger)) throw problem('wic-data-indices', `field 3: index too large in ${JSON.stringify(indices)}`);
  const sentences: [string, string] = [sentence1, sentence2];
  sentences.forEach((sentence, s) => {
    if (sentence.trim() === '') throw problem('wic-data-sentence', `sentence ${s + 1} (field ${s + 4}) is blank`);
  });
  return { index: i, word: word.trim(), pos, wordIndices, sentences, same };
}
