/** A run of consecutive whole prompts routed together. */
export interface Chunk {
  index: number;
  /** First prompt and one past the last. */
  promptStart: number;
  promptEnd: number;
  /** First token (global index into the trace) and one past the last. */
  tokenStart: number;
  tokenEnd: number;
}

/**
 * Groups consecutive prompts into chunks of about `batchTokens` tokens: a prompt joins the current chunk
 * unless that would take it past the budget; a prompt longer than the budget is a chunk of its own.
 */
export function planChunks(promptLengths: number[], batchTokens: number): Chunk[] {
  const chunks: Chunk[] = [];
  let promptStart = 0;
  let tokenStart = 0;
  let tokens = 0;
  promptLengths.forEach((length, p) => {
    if (tokens > 0 && tokens + length > batchTokens) {
      chunks.push({ index: chunks.length, promptStart, promptEnd: p, tokenStart, tokenEnd: tokenStart + tokens });
      promptStart = p;
      tokenStart += tokens;
      tokens = 0;
    }
    tokens += length;
  });
  if (tokens > 0) chunks.push({ index: chunks.length, promptStart, promptEnd: promptLengths.length, tokenStart, tokenEnd: tokenStart + tokens });
  return chunks;
}
