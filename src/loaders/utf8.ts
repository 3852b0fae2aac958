/**
 * UTF-8 at the byte level, for text that a byte-level tokenizer has cut anywhere: a token may hold part of a
 * character ("你" = E4 BD A0 may be the tokens E4 BD and A0). Which runs are valid UTF-8, how many characters
 * bytes hold, and where to cut them so no character is split. Pure functions on bytes, shared by the
 * analyses (diff's token context) and the pages (page/token-display.ts).
 */

/** Whether the bytes are UTF-8 text on their own, by the rule of utf8SequenceLength. */
export function isValidUtf8(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; ) {
    const length = utf8SequenceLength(bytes, i);
    if (length === 0) return false;
    i += length;
  }
  return true;
}

/** Characters in UTF-8 bytes: the bytes that are not continuation bytes (10xxxxxx). */
export function characterCount(bytes: Uint8Array): number {
  let count = 0;
  for (const b of bytes) if ((b & 0xc0) !== 0x80) count++;
  return count;
}

/**
 * Context text cut at character boundaries: drops the continuation bytes a text starts with (the rest of a
 * character that began before the cut) when `start`, and a character the text ends inside of when `end`.
 */
export function cutAtCharacters(bytes: Uint8Array, { start = false, end = false }: { start?: boolean; end?: boolean }): Uint8Array {
  let from = 0;
  let to = bytes.length;
  if (start) while (from < to && (bytes[from] & 0xc0) === 0x80) from++;
  if (end) {
    // The last lead byte within the last 4; drop it and its continuations if they fall short of its length.
    let lead = to - 1;
    while (lead >= from && lead > to - 4 && (bytes[lead] & 0xc0) === 0x80) lead--;
    if (lead >= from && to - lead < leadLength(bytes[lead])) to = lead;
  }
  return bytes.subarray(from, to);
}

/**
 * Length of the valid UTF-8 sequence that starts at bytes[i], or 0 where none does (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), the rule TextDecoder's fatal mode applies.
 */
export function utf8SequenceLength(bytes: Uint8Array, i: number): number {
  const b = bytes[i];
  if (b < 0x80) return 1;
  const length = leadLength(b);
  if (length === 0 || i + length > bytes.length) return 0;
  // The second byte's range is narrower after E0, ED, F0 and F4.
  const [low, high] = b === 0xe0 ? [0xa0, 0xbf] : b === 0xed ? [0x80, 0x9f] : b === 0xf0 ? [0x90, 0xbf] : b === 0xf4 ? [0x80, 0x8f] : [0x80, 0xbf];
  if (bytes[i + 1] < low || bytes[i + 1] > high) return 0;
  for (let k = 2; k < length; k++) if ((bytes[i + k] & 0xc0) !== 0x80) return 0;
  return length;
}

/** Bytes of the sequence a lead byte starts: 2 (C2-DF), 3 (E0-EF), 4 (F0-F4); 0 for what cannot lead. */
function leadLength(b: number): number {
  if (b >= 0xc2 && b <= 0xdf) return 2;
  if (b >= 0xe0 && b <= 0xef) return 3;
  if (b >= 0xf0 && b <= 0xf4) return 4;
  return b < 0x80 ? 1 : 0;
}
