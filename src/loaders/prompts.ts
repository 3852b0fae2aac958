import { fileError } from '../errors.js';
import { readInputFile } from '../files.js';

/**
 * A prompts file: UTF-8 text with one prompt per line, or `.jsonl` with one `{"text": ..., "label": ...}` object
 * per line. Blank (or whitespace-only) lines are skipped in both; a trailing `\r` (Windows line ends) is dropped.
 * A prompt's text is otherwise kept exactly as written, since its bytes are what the trace records.
 */

export interface Prompt {
  text: string;
  label?: string;
  /** 1-based line of the file the prompt is on. */
  line: number;
}

export interface PromptFile {
  prompts: Prompt[];
  /** Blank or whitespace-only lines skipped (not counting the empty end after a final newline). */
  blankLines: number;
}

export function readPrompts(file: string): Prompt[] {
  return readPromptFile(file).prompts;
}

export function readPromptFile(file: string): PromptFile {
  const bytes = readInputFile(file, 'prompts-missing');
  const text = decodeUtf8(bytes, file);
  const lines = text.split('\n').map((line) => line.replace(/\r$/, ''));
  // A final newline ends the last line; it does not start an empty one.
  if (text.endsWith('\n')) lines.pop();
  const jsonl = file.toLowerCase().endsWith('.jsonl');
  const prompts: Prompt[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    prompts.push({ ...(jsonl ? parseJsonlPrompt(line, file, i + 1) : { text: line }), line: i + 1 });
  });
  if (prompts.length === 0) throw fileError(file, 'prompts-empty', 'no prompts (the file is empty or has only blank lines)');
  return { prompts, blankLines: lines.length - prompts.length };
}

/** Decodes strict UTF-8 (a leading byte-order mark is dropped); the error gives the offset of the first bad byte. */
export function decodeUtf8(bytes: Uint8Array, file: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (error) {
    const offset = firstInvalidUtf8(bytes);
    const found = Array.from(bytes.subarray(offset, offset + 4), (byte) => byte.toString(16).padStart(2, '0')).join(' ');
    throw fileError(file, 'not-utf8', `not valid UTF-8: the bytes at byte offset ${offset} (${found}) do not form a UTF-8 character`, error);
  }
}

/**
 * Offset where the first ill-formed UTF-8 sequence starts (RFC 3629: no overlong forms, no surrogates, nothing
 * above U+10FFFF, no sequence cut short), or -1 when all of it is well formed.
 * TextDecoder only says that decoding failed, not where.
 */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const lead = bytes[i];
    // Each lead byte fixes the sequence length and the allowed range of the first continuation byte.
    let length: number;
    let low = 0x80;
    let high = 0xbf;
    if (lead < 0x80) length = 1;
    else if (lead >= 0xc2 && lead <= 0xdf) length = 2;
    else if (lead >= 0xe0 && lead <= 0xef) {
      length = 3;
      if (lead === 0xe0) low = 0xa0; // below is overlong
      if (lead === 0xed) high = 0x9f; // above is a surrogate
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      length = 4;
      if (lead === 0xf0) low = 0x90; // below is overlong
      if (lead === 0xf4) high = 0x8f; // above is past U+10FFFF
    } else return i;
    for (let k = 1; k < length; k++) {
      const byte = bytes[i + k]; // undefined past the end, which fails both comparisons below
      if (!(byte >= (k === 1 ? low : 0x80) && byte <= (k === 1 ? high : 0xbf))) return i;
    }
    i += length;
  }
  return -1;
}

function parseJsonlPrompt(line: string, file: string, lineNumber: number): Omit<Prompt, 'line'> {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    throw fileError(file, 'prompts-jsonl-not-json', `line ${lineNumber}: not valid JSON (${(error as Error).message})`, error);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw fileError(file, 'prompts-jsonl-not-object', `line ${lineNumber}: expected an object {"text": ..., "label": ...}, found ${JSON.stringify(value)}`);
  }
  const { text, label } = value as Record<string, unknown>;
  if (typeof text !== 'string') {
    throw fileError(file, 'prompts-jsonl-text', `line ${lineNumber}: "text" must be a string, found ${text === undefined ? 'no "text" field' : JSON.stringify(text)}`);
  }
  if (text.trim() === '') throw fileError(file, 'prompts-jsonl-text', `line ${lineNumber}: "text" is blank`);
  // A null label reads as "no label", as JSON writers emit for missing values.
  if (label !== undefined && label !== null && typeof label !== 'string') {
    throw fileError(file, 'prompts-jsonl-label', `line ${lineNumber}: "label" must be a string, found ${JSON.stringify(label)}`);
  }
  return typeof label === 'string' ? { text, label } : { text };
}
