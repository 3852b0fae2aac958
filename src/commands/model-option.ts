import { InputError } from '../errors.js';

/** The environment variable that stands in for `--model` in every command that reads a model folder. */
export const modelEnvironmentVariable = 'MOE_INSPECT_MODEL';

/** Help text of `--model`, the same in every command. */
export function modelOptionHelp(what: string): string {
  return `${what} (default: $${modelEnvironmentVariable})`;
}

/** The model folder from `--model`, else $MOE_INSPECT_MODEL, else undefined. */
export function optionalModel(flag: string | undefined): string | undefined {
  return flag ?? (process.env[modelEnvironmentVariable] || undefined);
}

/** The model folder from `--model`, else $MOE_INSPECT_MODEL; without either, bad usage (exit 2). */
export function modelOption(flag: string | undefined): string {
  const model = optionalModel(flag);
  if (!model) throw new InputError(`no model given: pass --model DIR or set ${modelEnvironmentVariable}`, 'usage-model');
  return model;
}
