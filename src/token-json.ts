/**
 * A token as JSON (contract.md, "Extensions"): its id and text, and `bytes_hex` beside the text where its
 * bytes are not valid UTF-8 on their own (a token that holds part of a character), so no byte is lost to
 * U+FFFD. (A minimal form of the token display helper; the page's and the terminal's live in src/page/.)
 */

export interface TokenJson {
  id: number;
  /** The bytes decoded as UTF-8 (U+FFFD for bytes that are not); absent where the trace has no token text. */
  text?: string;
  /** Upper-case hex of the bytes, space-separated ("E4 BD"), only where they are not valid UTF-8. */
  bytes_hex?: string;
}

const strict = new TextDecoder('utf-8', { fatal: true });
const lenient = new TextDecoder('utf-8');

export function tokenJson(id: number, bytes: Uint8Array | undefined): TokenJson {
  if (bytes === undefined) return { id };
  try {
    return { id, text: strict.decode(bytes) };
  } catch {
    const hex = Array.from(bytes, (b) => b.toString(16).toUpperCase().padStart(2, '0')).join(' ');
    return { id, text: lenient.decode(bytes), bytes_hex: hex };
  }
}
