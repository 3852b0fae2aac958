/** A count with its noun in the right number: plural(1, 'prompt') is "1 prompt", plural(2, 'prompt') "2 prompts". */
export function plural(count: number, singular: string, pluralForm = `${singular}s`): string {
  return `${count} ${noun(count, singular, pluralForm)}`;
}

/** The noun alone, for counts printed in another form (1,000,000 tokens). */
export function noun(count: number, singular: string, pluralForm = `${singular}s`): string {
  return count === 1 ? singular : pluralForm;
}
