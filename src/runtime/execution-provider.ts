import os from 'node:os';
import ort from 'onnxruntime-node';
import { InputError } from '../errors.js';
import { providerFailureInChild } from './child-probe.js';
import { GraphBuilder } from './graph-builder.js';
import { TensorType } from './onnx-proto.js';

export const devices = ['auto', 'cpu', 'cuda', 'webgpu'] as const;
export type Device = (typeof devices)[number];

export function parseDevice(value: string): Device {
  if ((devices as readonly string[]).includes(value)) return value as Device;
  throw new InputError(`invalid --device: ${value} (expected ${devices.join(' | ')})`, 'usage-device');
}

/** Providers to try, in order, for a --device value; CPU is always the last resort. */
function candidates(device: Device): Array<'cuda' | 'webgpu' | 'cpu'> {
  switch (device) {
    case 'auto':
      return ['cuda', 'cpu'];
    case 'cpu':
      return ['cpu'];
    default:
      return [device, 'cpu'];
  }
}

function providerConfig(name: 'cuda' | 'webgpu' | 'cpu', deviceId: number): ort.InferenceSession.ExecutionProviderConfig {
  switch (name) {
    case 'cuda':
      return { name: 'cuda', deviceId };
    case 'webgpu':
      return { name: 'webgpu', preferredLayout: 'NHWC' };
    case 'cpu':
      return { name: 'cpu' };
  }
}

export interface SessionFactory {
  /** The provider every session of this run uses ("cuda", "webgpu" or "cpu"). */
  readonly provider: string;
  create(model: Uint8Array): Promise<ort.InferenceSession>;
}

/**
 * Picks the first provider that loads and creates every session with it. onnxruntime does not fall back by
 * itself (a missing CUDA library fails session creation), so a provider that fails is reported once on stderr
 * and the next candidate is tried.
 */
export async function openSessionFactory(device: Device, probeModel: Uint8Array, options: { deviceId?: number; warn?: (line: string) => void } = {}): Promise<SessionFactory> {
  const warn = options.warn ?? ((line: string) => process.stderr.write(`${line}\n`));
  const threads = os.availableParallelism();
  const sessionOptions = (name: 'cuda' | 'webgpu' | 'cpu'): ort.InferenceSession.SessionOptions => ({
    executionProviders: [providerConfig(name, options.deviceId ?? 0)],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    // Each session's memory arena keeps its peak (and grows by fragmentation from run to run: 3.9 to 6.1 GB for a
    // V3 attention layer on 2048 tokens), and the arenas of the attention, dense and MoE sessions add up. Without
    // them, intermediates are freed after every run, so the peak is one session's run; measured no slower.
    enableCpuMemArena: false,
    logSeverityLevel: 3,
  });
  // A provider that fails to load would also print onnxruntime's own multi-line log; our one warning says it.
  ort.env.logLevel = 'fatal';
  const failures: string[] = [];
  for (const name of candidates(device)) {
    // WebGPU's Dawn logs straight to stderr when it fails, so it is tried in a child process first.
    const childFailure = name === 'webgpu' ? providerFailureInChild(probeModel, sessionOptions(name)) : undefined;
    if (childFailure) {
      failures.push(`${name} failed to load (${firstLine(childFailure)})`);
      continue;
    }
    try {
      const probe = await ort.InferenceSession.create(probeModel, sessionOptions(name));
      await probe.release();
      // auto means "the best that loads": falling back is its normal course, not worth a warning on every run.
      if (failures.length > 0 && device !== 'auto') warn(`moe-inspect: warning: ${failures.join('; ')}; using ${name}`);
      return { provider: name, create: (model) => ort.InferenceSession.create(model, sessionOptions(name)) };
    } catch (error) {
      failures.push(`${name} failed to load (${firstLine(error)})`);
    }
  }
  throw new InputError(`no execution provider could be loaded: ${failures.join('; ')}`, 'provider');
}

/** The useful part of onnxruntime's message: its first line, without the source location and failed assertion. */
function firstLine(error: unknown): string {
  const line = (error instanceof Error ? error.message : String(error)).split('\n')[0];
  return line.replace(/^\/onnxruntime_src\/\S+ .*? was false\. /, '');
}

export interface DeviceProbe {
  requested: Device;
  loaded: boolean;
  /** The provider sessions would use (for auto: the first that loads). */
  provider?: string;
  detail?: string;
}

/** Whether a --device value gets its provider on this machine, tried on a one-node graph. */
export async function probeDevice(device: Device): Promise<DeviceProbe> {
  const g = new GraphBuilder('probe');
  const x = g.input('x', TensorType.float, [1]);
  g.output(g.add(x, x), 'y', TensorType.float, [1]);
  const lines: string[] = [];
  try {
    const factory = await openSessionFactory(device, g.build(), { warn: (line) => lines.push(line) });
    const loaded = device === 'auto' || factory.provider === device;
    return { requested: device, loaded, provider: factory.provider, detail: lines.join(' ').replace(/^moe-inspect: warning: /, '') || undefined };
  } catch (error) {
    return { requested: device, loaded: false, detail: (error as Error).message };
  }
}
