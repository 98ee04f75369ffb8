// The shape of bench/results/latest.json (schema 1). Times are ms, sizes bytes.
import type { Spread } from './measure';

export interface Sample {
  wallMs: number;
  /** The copy's duration as the tool reports it (start-up excluded; NaN when it does not say). */
  toolMs: number;
  cpuMs: number;
  userMs: number;
  sysMs: number;
  /** CPU time of the whole guest (every process and kernel thread, the emulated arrays too). */
  guestCpuMs: number;
  maxRssKiB: number;
  /** Bytes that crossed the host's data buffers (SG_IO, or read()/write() for dd). */
  hostDataBytes: number;
}

export interface CaseResult {
  group: 'token' | 'xcopy' | 'host' | 'variant' | 'thin';
  /** Stable id, e.g. "odxcp", "sg_xcopy-best". */
  id: string;
  /** What the table shows. */
  label: string;
  src: string;
  dst: string;
  size: number;
  /** The command line, with repository-relative paths and guest device names. */
  command: string;
  samples: Sample[];
  wall: Spread;
  tool: Spread;
  cpu: Spread;
  guestCpu: Spread;
  /** MiB/s at the median wall time. */
  mibPerSec: number;
  hostDataBytes: number;
  /** How hostDataBytes was obtained. */
  hostDataSource: 'reported' | 'derived';
  /** Destination compared with the source after the first repetition. */
  verified: boolean | null;
  ok: boolean;
  /** Why it failed or what is special about it. */
  note?: string;
  /** Anything the tool reported worth keeping (odxcp: commands, method; ddpt: its summary). */
  detail?: Record<string, unknown>;
}

export interface PerCommandResult {
  id: string;
  label: string;
  dev: string;
  kind: 'read1' | 'read0';
  count: number;
  /** µs per command inside the tool's own loop (start-up excluded). */
  usPerCommand: Spread;
  /** Whole process: wall time / count (start-up included). */
  processUsPerCommand: Spread;
  cpuMs: Spread;
  command: string;
  ok: boolean;
  note?: string;
  /** How odxcp's commands ran, as percmd.ts found out: 'event loop (sg async)' or 'threads ...'. */
  path?: string;
}

export interface Goal {
  id: string;
  what: string;
  target: string;
  /** The measured value (a ratio, or bytes). */
  value: number | null;
  met: boolean | null;
  basis: string;
}

export interface BenchResults {
  schema: 1;
  date: string;
  quick: boolean;
  /** --fast: the full sizes and every row, fewer repetitions (see bench/run.ts). */
  fast?: boolean;
  /** True while the run is still going (or was stopped): some sections are missing. */
  partial?: boolean;
  machine: {
    host: {
      nproc?: number;
      cpu?: string;
      loadavg?: string;
      memGiB?: number;
      /** Median wall times on the host itself (no emulation, local disk): node -e 0, odxcp --version, --help. */
      startupMs?: { node: number; odxcpVersion: number; odxcpHelp?: number };
      /** Sampled by bench.sh on the host every 10 s while the guest ran. */
      during?: { maxOtherVms: number; maxLoad: number; samples: number };
    };
    guest: { kernel: string; nproc: number; cpu: string; memMiB: number; loadavgAtStart: string; clocksource?: string; clockReadUs?: number };
    accel: string;
    node: string;
    lunMiB: number;
  };
  tools: Record<string, string>;
  sizes: number[];
  reps: Record<string, number>;
  cases: CaseResult[];
  perCommand: PerCommandResult[];
  calibration: { sgXcopyBpt: Array<{ bpt: number; wallMs: number; ok: boolean }>; bestBpt: number; size: number };
  refusals: Array<{ tool: string; luns: string; outcome: string }>;
  /** Process start-up in the guest, before any copy (one warm-up run, then 5; quick: 3). */
  startup?: Array<{ id?: string; label: string; wall: Spread; cpu: Spread; ok?: boolean; note?: string }>;
  goals: Goal[];
  profile?: Record<string, unknown>;
  elapsedS: number;
}
