import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/safetensors-bytes.js';

// An output path that is a folder (or lies below a file) used to be found only at the final rename: after all the
// work, with a stack trace and exit code 3, and with the outputs written before it left in place.
describe('output paths are checked before any work', () => {
  const dir = tempDir('output-paths');
  const folder = path.join(dir, 'a-folder');
  fs.mkdirSync(folder);
  const file = path.join(dir, 'a-file.txt');
  fs.writeFileSync(file, 'not a folder\n');
  // Expert counts of 2 layers x 8 experts: input enough for report and balance.
  const load = path.join(dir, 'load.json');
  fs.writeFileSync(load, JSON.stringify([[5, 1, 2, 8, 3, 3, 1, 9], [2, 2, 7, 1, 4, 6, 3, 3]]));

  const refused = (args: string[], named: string, problem: RegExp) => {
    const run = runCli(args, { cwd: dir });
    assert.equal(run.code, 1, run.stderr);
    assert.equal(run.stdout, '');
    assert.match(run.stderr, new RegExp(`^moe-inspect: ${named.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: [^\n]*\n$`));
    assert.match(run.stderr, problem);
  };

  test('a folder where a file is written: one line, exit 1, and none of the other outputs written', () => {
    refused(['report', load, '--out', folder], folder, /is a folder; give the path of the file to write/);
    refused(['report', load, '--out', path.join(dir, 'r.html'), '--json', folder], folder, /is a folder/);
    assert.equal(fs.existsSync(path.join(dir, 'r.html')), false);
    refused(['balance', load, '--gpus', '2', '--replicas', '8', '--out', path.join(dir, 'plan.json'), '--export-vllm', folder], folder, /is a folder/);
    assert.equal(fs.existsSync(path.join(dir, 'plan.json')), false);
    refused(['route', file, '--model', dir, '--out', folder], folder, /is a folder/);
    assert.equal(fs.existsSync(`${folder}.partial`), false);
    refused(['import', load, '--model', dir, '--out', folder], folder, /is a folder/);
    refused(['diff', dir, dir, '--out', folder], folder, /is a folder/);
  });

  test('a path below a file, and a file where a folder is written', () => {
    const below = path.join(file, 'plan.json');
    refused(['balance', load, '--gpus', '2', '--replicas', '8', '--out', below], below, /a-file\.txt is a file, not a folder/);
    refused(['demo', '--out', file], file, /is a file; give the path of a folder to write into/);
    refused(['synth', '--preset', 'tiny', '--out', path.join(file, 'model')], path.join(file, 'model'), /is a file, not a folder/);
    refused(['wic', load, '--gold', load, '--model', dir, '--out', file], file, /is a file/);
    assert.equal(fs.readFileSync(file, 'utf8'), 'not a folder\n');
  });

  test('a path ending in a slash or an empty path where a file is written; a folder among the files a command writes inside its folder', () => {
    const slash = path.join(dir, 'plan.json') + '/';
    refused(['balance', load, '--gpus', '2', '--replicas', '8', '--out', slash], slash, /ends in a slash/);
    fs.writeFileSync(path.join(dir, 'existing.json'), '{}');
    const afterFile = path.join(dir, 'existing.json') + '/';
    refused(['report', load, '--out', path.join(dir, 'r.html'), '--json', afterFile], afterFile, /ends in a slash/);
    refused(['report', load, '--out', ''], '(empty path)', /give the path of the file to write/);
    // demo writes summary.json inside its folder: a folder of that name there is refused before the demo runs.
    const demo = path.join(dir, 'demo-out');
    fs.mkdirSync(path.join(demo, 'summary.json'), { recursive: true });
    refused(['demo', '--out', demo], path.join(demo, 'summary.json'), /is a folder/);
    assert.deepEqual(fs.readdirSync(demo), ['summary.json']);
  });

  test('bad usage is still bad usage (exit 2) when the output path is wrong too', () => {
    const run = runCli(['balance', load, '--out', folder]);
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /^moe-inspect: balance needs --gpus and --replicas[^\n]*\(add --help for usage\)\n$/);
  });

  test('an existing output file is replaced, and a relative path is taken from the working folder', () => {
    const out = path.join(dir, 'again.json');
    fs.writeFileSync(out, 'old');
    assert.equal(runCli(['balance', load, '--gpus', '2', '--replicas', '8', '--out', out]).code, 0);
    assert.equal(JSON.parse(fs.readFileSync(out, 'utf8')).replicas, 8);
    const relative = runCli(['balance', load, '--gpus', '2', '--replicas', '8', '--out', path.join('relative', 'plan.json')], { cwd: dir });
    assert.equal(relative.code, 0, relative.stderr);
    assert.ok(fs.existsSync(path.join(dir, 'relative', 'plan.json')));
  });

  test('an output folder that does not exist yet is made, as before', () => {
    const out = path.join(dir, 'new', 'deeper', 'plan.json');
    const run = runCli(['balance', load, '--gpus', '2', '--replicas', '8', '--out', out]);
    assert.equal(run.code, 0, run.stderr);
    assert.ok(fs.existsSync(out));
  });
});
