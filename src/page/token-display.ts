/** A token as a page shows it: its id, and its text where the input has token text. */
export interface ShownToken {
  id: number;
  text?: string;
}

/** A token as text with its spaces and control characters visible, or its id where the trace has no text. */
export function showToken({ id, text }: ShownToken): string {
  if (text === undefined) return `#${id}`;
  const visible = text.replace(/ /g, '␣').replace(/\n/g, '↵').replace(/\t/g, '⇥');
  return visible.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
