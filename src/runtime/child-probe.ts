/**
 * Tries an execution provider in a child process. Under onnxruntime's WebGPU provider, Dawn writes its own
 * multi-line warnings (a missing Vulkan driver, with the C++ source location) straight to the process's stderr,
 * where no onnxruntime log level reaches them. In a child they are captured, so a provider that does not load
 * costs the user one warning line, and the run itself never touches it.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import type ort from 'onnxruntime-node';

/** Creates and releases one session with the given options; prints the error's first line and exits 1 on failure. */
const childScript = `
const { default: ort } = await import(process.env.MOE_INSPECT_ORT_URL);
const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
ort.env.logLevel = 'fatal';
try {
  const session = await ort.InferenceSession.create(Buffer.concat(chunks), JSON.parse(process.env.MOE_INSPECT_SESSION_OPTIONS));
  await session.release();
} catch (error) {
  process.stdout.write(String(error instanceof Error ? error.message : error).split('\\n')[0]);
  process.exitCode = 1;
}
`;

/** undefined when a session with these options loads in a child process, else why not (one line). */
export function providerFailureInChild(model: Uint8Array, sessionOptions: ort.InferenceSession.SessionOptions): string | undefined {
  const ortUrl = pathToFileURL(createRequire(import.meta.url).resolve('onnxruntime-node')).href;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', childScript], {
    input: model,
    encoding: 'utf8',
    env: { ...process.env, MOE_INSPECT_ORT_URL: ortUrl, MOE_INSPECT_SESSION_OPTIONS: JSON.stringify(sessionOptions) },
  });
  if (child.status === 0) return undefined;
  const reason = child.stdout.trim() || `the probe process ended with ${child.signal ?? `exit code ${child.status}`}`;
  // Dawn's own account of a missing driver is the useful part of its log: "Couldn't load Vulkan: libvulkan.so.1: ...".
  const vulkan = /Couldn't load Vulkan: ([^\n]*?)(: cannot open shared object file)?: No such file or directory/.exec(child.stderr);
  return vulkan ? `${reason}; no Vulkan driver: ${vulkan[1]} not found` : reason;
}
