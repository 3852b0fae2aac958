/**
 * How a token is shown to a reader, in HTML, on a terminal and in JSON (contract.md, "Extensions").
 *
 * Byte-level BPE splits a multi-byte character over several tokens ("你" = E4 BD A0 may be the tokens E4 BD
 * and A0), so a token's bytes need not be UTF-8 text on their own. Decoding them anyway prints U+FFFD, which
 * says nothing about the token. Instead the bytes that are not text are shown as bytes: HTML `<span
 * class="bytes">E4 BD</span>`, terminal `\xE4\xBD`, JSON `bytes_hex` beside the text; valid text stays text.
 * Control characters are shown as their byte too, and spaces, line breaks and tabs as ␣ ↵ ⇥, so every byte
 * of a token is visible.
 */
import { isValidUtf8, utf8SequenceLength } from '../loaders/utf8.js';

/** Text to show: strings, and runs of raw bytes that have no readable text of their own. */
export type DisplayText = Array<string | { bytes: Uint8Array }>;

/** A token as a page shows it: its id, and the prompt bytes it covers where the input has token text. */
export interface ShownToken {
  id: number;
  bytes?: Uint8Array;
}

/** A token with its spaces, control characters and non-UTF-8 bytes visible, or its id where the input has no text. */
export function showToken({ id, bytes }: ShownToken): DisplayText {
  return bytes === undefined ? [`#${id}`] : tokenDisplay(bytes);
}

/** A token's bytes as text where they are UTF-8 text, as bytes where not (or where the character is a control). */
export function tokenDisplay(bytes: Uint8Array): DisplayText {
  return pieces(bytes, { controlsAsBytes: true, markWhitespace: true });
}

/** Prompt text around a token (diff context): as tokenDisplay, but spaces, line breaks and tabs stay as they are. */
export function contextDisplay(bytes: Uint8Array): DisplayText {
  return pieces(bytes, { controlsAsBytes: true, markWhitespace: false });
}

/** A byte run in HTML: a `span.bytes` holding its hex ("E4 BD"), which needs no escaping. */
export function bytesHtml(bytes: Uint8Array): string {
  return `<span class="bytes" title="bytes that are not text on their own">${hexBytes(bytes)}</span>`;
}

/** Plain text for a terminal or a chart tooltip: byte runs as `\xE4\xBD`. */
export function displayPlain(text: DisplayText): string {
  return text.map((piece) => (typeof piece === 'string' ? piece : [...piece.bytes].map((b) => `\\x${hex(b)}`).join(''))).join('');
}

/**
 * A token for JSON: its text (bytes that are not UTF-8 text written `\xE4`), and where its bytes are not valid
 * UTF-8 on their own, `bytes_hex` with every byte of it ("E4 BD").
 */
export function tokenJson(bytes: Uint8Array): { text: string; bytes_hex?: string } {
  if (isValidUtf8(bytes)) return { text: utf8.decode(bytes) };
  return { text: displayPlain(pieces(bytes, { controlsAsBytes: false, markWhitespace: false })), bytes_hex: hexBytes(bytes) };
}

/** "E4 BD A0". */
export function hexBytes(bytes: Uint8Array): string {
  return [...bytes].map(hex).join(' ');
}

/** Runs of valid UTF-8 as text and runs of other bytes (and, if asked, of control characters) as byte runs. */
function pieces(bytes: Uint8Array, { controlsAsBytes, markWhitespace }: { controlsAsBytes: boolean; markWhitespace: boolean }): DisplayText {
  const result: DisplayText = [];
  const push = (start: number, end: number, raw: boolean) => {
    if (end <= start) return;
    const run = bytes.subarray(start, end);
    if (raw) result.push({ bytes: run });
    else result.push(markWhitespace ? visibleWhitespace(utf8.decode(run)) : utf8.decode(run));
  };
  let start = 0;
  let raw = false;
  for (let i = 0; i < bytes.length; ) {
    const length = utf8SequenceLength(bytes, i);
    const isRaw = length === 0 || (controlsAsBytes && isControl(bytes[i]));
    if (isRaw !== raw) {
      push(start, i, raw);
      start = i;
      raw = isRaw;
    }
    i += Math.max(length, 1);
  }
  push(start, bytes.length, raw);
  return result;
}

/** C0 controls and DEL, except tab and line feed, which show as ⇥ and ↵. */
function isControl(b: number): boolean {
  return (b < 0x20 && b !== 0x09 && b !== 0x0a) || b === 0x7f;
}

function visibleWhitespace(text: string): string {
  return text.replace(/ /g, '␣').replace(/\n/g, '↵').replace(/\t/g, '⇥');
}

function hex(b: number): string {
  return b.toString(16).toUpperCase().padStart(2, '0');
}

const utf8 = new TextDecoder('utf-8');
