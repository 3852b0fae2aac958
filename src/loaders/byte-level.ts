/**
 * GPT-2's `bytes_to_unicode` alphabet, used by every byte-level BPE (GPT-2, Llama 3, DeepSeek-V3): each of the
 * 256 byte values is written as one printable character so that merges and vocab entries are plain strings.
 * Printable Latin-1 bytes (`!`..`~`, `¡`..`¬`, `®`..`ÿ`) stand for themselves; the other 68 bytes (controls, space,
 * DEL, NBSP, soft hyphen) take the code points U+0100.. in byte order, so a space is `Ġ` (U+0120) and `\n` is `Ċ`.
 */
export const BYTE_TO_CHAR: readonly string[] = (() => {
  const printable = (byte: number) =>
    (byte >= 0x21 && byte <= 0x7e) || (byte >= 0xa1 && byte <= 0xac) || (byte >= 0xae && byte <= 0xff);
  const chars: string[] = [];
  let shifted = 0;
  for (let byte = 0; byte < 256; byte++) {
    chars.push(String.fromCharCode(printable(byte) ? byte : 256 + shifted++));
  }
  return chars;
})();

/** The inverse of BYTE_TO_CHAR. */
export const CHAR_TO_BYTE: ReadonlyMap<string, number> = new Map(BYTE_TO_CHAR.map((char, byte) => [char, byte]));

/** Writes raw bytes in the byte-level alphabet, as the ByteLevel pre-tokenizer does. */
export function bytesToByteLevel(bytes: Uint8Array): string {
  let text = '';
  for (const byte of bytes) text += BYTE_TO_CHAR[byte];
  return text;
}

/** The bytes a byte-level token string stands for, or undefined if it holds a character outside the alphabet. */
export function byteLevelToBytes(token: string): Uint8Array | undefined {
  const bytes = new Uint8Array(token.length);
  for (let i = 0; i < token.length; i++) {
    const byte = CHAR_TO_BYTE.get(token[i]);
    if (byte === undefined) return undefined;
    bytes[i] = byte;
  }
  return bytes;
}
