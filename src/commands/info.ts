import fs from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { InputError } from '../errors.js';
import { modelInfoTable } from '../info/info-table.js';
import { collectModelInfo } from '../info/model-info.js';
import { modelOptionHelp, optionalModel } from './model-option.js';
import { probeDevice, devices, parseDevice } from '../runtime/execution-provider.js';

export function infoCommand(): Command {
  return new Command('info')
    .summary('describe a model folder (headers only), or check that an execution provider loads')
    .description(
      'Prints architecture, layer kinds, expert counts, parameter counts (total and active per token), dtypes,\n' +
        'shards and bytes on disk, reading config.json and the safetensors headers only.\n' +
        'With --device, also says whether that onnxruntime execution provider loads on this machine.',
    )
    .argument('[model_dir]', modelOptionHelp('model folder'))
    .addOption(new Option('--device <device>', 'check whether this execution provider loads').choices(devices))
    .option('--json', 'print the same facts as JSON')
    .addHelpText('after', '\nExamples:\n  moe-inspect info tiny-model\n  moe-inspect info --device cuda')
    .action(async (modelDir: string | undefined, flags) => {
      const dir = folderOf(modelDir ?? (flags.device ? undefined : optionalModel(undefined)));
      if (!dir && !flags.device) throw new InputError('nothing to report: give a MODEL_DIR (or set MOE_INSPECT_MODEL) or --device', 'usage-info');
      const model = dir ? collectModelInfo(dir) : undefined;
      const device = flags.device ? await probeDevice(parseDevice(flags.device)) : undefined;
      if (flags.json) {
        process.stdout.write(`${JSON.stringify({ ...(model ?? {}), ...(device ? { device } : {}) }, null, 2)}\n`);
        return;
      }
      if (model) process.stdout.write(`${modelInfoTable(model)}\n`);
      if (device) process.stdout.write(`execution provider ${device.requested}: ${device.loaded ? `loads (using ${device.provider})` : 'does not load'}${device.detail ? ` — ${device.detail}` : ''}\n`);
    });
}

/** A model is a folder; its config.json stands for it (`info DIR/config.json` is what a user tab-completes to). */
function folderOf(modelPath: string | undefined): string | undefined {
  if (modelPath === undefined || path.basename(modelPath) !== 'config.json' || !fs.statSync(modelPath, { throwIfNoEntry: false })?.isFile()) return modelPath;
  return path.dirname(modelPath);
}
