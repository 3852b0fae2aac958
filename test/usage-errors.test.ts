import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runCli } from './helpers/cli.js';

// commander's own messages (bad option values, unknown commands, missing arguments) used to come as two lines,
// `error: ...` then `(add --help for usage)`, unlike every other error of the tool.
describe('usage errors', () => {
  test('read like every other error: one line starting with moe-inspect:, exit 2', () => {
    const cases: Array<[string[], RegExp]> = [
      [['route', 'p.txt', '--batch-tokens', 'abc'], /--batch-tokens must be a positive integer, found "abc"/],
      [['route', 'p.txt', '--device', 'tpu'], /argument 'tpu' is invalid/],
      [['no-such-command'], /unknown command 'no-such-command'/],
      [['report', 'x.trace.safetensors'], /required option '--out <REPORT\.html>' not specified/],
      [['balance', 'load.json', '--out', 'p.json', '--no-such-flag'], /unknown option '--no-such-flag'/],
    ];
    for (const [args, problem] of cases) {
      const run = runCli(args);
      assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, /^moe-inspect: [^\n]* \(add --help for usage\)\n$/, args.join(' '));
      assert.match(run.stderr, problem);
      assert.equal(run.stdout, '');
    }
  });

  test('--help and --version still print to stdout and exit 0', () => {
    const help = runCli(['route', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: moe-inspect route/);
    const version = runCli(['--version']);
    assert.equal(version.code, 0);
    assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
  });
});
