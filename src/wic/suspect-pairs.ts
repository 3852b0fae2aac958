/**
 * WiC pairs whose index seems to point at another word (contract.md, wic.json `suspect_pairs`). A data line
 * whose index is off by one still names some word, which locate.ts finds and routes; only comparing that word
 * with the target tells. WiC targets are lemmas, so a sentence's word is accepted when its case-folded
 * alphanumeric core starts with the lemma's first two letters ("boards" for "board", "carried" for "carry",
 * "running" for "run") or is a listed irregular form of it ("rose" for "rise", "bought" for "buy"). A compound
 * ("world-famous" for "famous") or a clitic ("children's") is accepted when one of its letter/digit parts is.
 */
import { irregularForms } from './irregular-forms.js';
import { alphanumericCore } from './locate.js';
import type { WicPair } from './wic-data.js';
import { plural } from '../plural.js';

/** One sentence of one pair whose word does not look like the target (wic.json `suspect_pairs`). */
export interface SuspectPair {
  /** 0-based line number in the data file. */
  index: number;
  sentence: 1 | 2;
  /** The target lemma, as the data file gives it. */
  target: string;
  /** The case-folded alphanumeric core of the word the index points at. */
  found: string;
}

/** Letters the word must start with to count as a regular form of the lemma. */
const lemmaPrefixLetters = 2;

const wordCharacter = /[\p{L}\p{N}\p{M}]/u;
const wordStretches = /[\p{L}\p{N}\p{M}]+/gu;

/** Every sentence of every pair whose word at the index looks like another word than the target, in file order. */
export function findSuspectPairs(pairs: WicPair[]): SuspectPair[] {
  return pairs.flatMap((pair) =>
    pair.sentences.flatMap((sentence, s) => {
      const found = suspectWord(sentence, pair.wordIndices[s], pair.word);
      return found === undefined ? [] : [{ index: pair.index, sentence: (s + 1) as 1 | 2, target: pair.word, found }];
    }),
  );
}

/**
 * The case-folded alphanumeric core of whitespace token `wordIndex` of `sentence` when it does not look like
 * `lemma`; undefined when it does, and when there is no such token or it has no letters (locate.ts refuses those).
 */
export function suspectWord(sentence: string, wordIndex: number, lemma: string): string | undefined {
  const token = sentence.match(/\S+/gu)?.[wordIndex];
  if (token === undefined) return undefined;
  const span = alphanumericCore(token);
  if (!span) return undefined;
  const core = token.slice(span[0], span[1]).toLowerCase();
  const target = lemma.toLowerCase();
  const prefix = [...target].filter((c) => wordCharacter.test(c)).slice(0, lemmaPrefixLetters).join('');
  const letters = [...core].filter((c) => wordCharacter.test(c)).join('');
  const candidates = [letters, ...(core.match(wordStretches) ?? [])];
  const irregular = irregularForms[target] ?? [];
  const looksLikeTarget = candidates.some((candidate) => candidate.startsWith(prefix) || irregular.includes(candidate));
  return looksLikeTarget ? undefined : core;
}

/** The one warning line: how many pairs are suspect, the first example, and what was done with them. */
export function suspectPairsWarning(suspects: SuspectPair[], data: string, skipBadPairs: boolean): string {
  const [first] = suspects;
  const pairs = new Set(suspects.map((s) => s.index)).size;
  const what = skipBadPairs ? 'skipped' : 'used anyway (--skip-bad-pairs leaves them out of the figures)';
  return (
    `${data}: warning: ${plural(pairs, 'pair')} whose index points at another word than the target, ` +
    `e.g. line ${first.index + 1}, sentence ${first.sentence}: ${JSON.stringify(first.found)} for ${JSON.stringify(first.target)}; ${what}`
  );
}
