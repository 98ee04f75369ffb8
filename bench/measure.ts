// Running one copy tool as a child process and measuring it the same way for every tool:
// wall time around the child, and its CPU time (user + system) from GNU time, which reads the
// child's rusage at wait4(). odxcp is measured as a process too, so its start-up counts.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const GNU_TIME = '/usr/bin/time';

export interface Measured {
  /** Wall time around the child, ms (the child's own start-up included). */
  wallMs: number;
  userMs: number;
  sysMs: number;
  /** user + system, ms (tick resolution: 4-10 ms). */
  cpuMs: number;
  /** Peak resident set of the child, KiB. */
  maxRssKiB: number;
  code: number;
  stdout: string;
  stderr: string;
}

let seq = 0;

/** Run `argv` under GNU time; resolves (never rejects) with what it measured. */
export function measure(argv: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Measured> {
  const tfile = path.join(os.tmpdir(), `odxcp-bench-time-${process.pid}-${seq++}`);
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    // -o keeps time's report out of the tool's own stderr; -q: no "Command exited" line.
    const child = spawn(GNU_TIME, ['-q', '-o', tfile, '-f', '%U %S %M', '--', ...argv], {
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
    const finish = (code: number, spawnError?: Error) => {
      const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
      if (timer) clearTimeout(timer);
      let user = NaN;
      let sys = NaN;
      let rss = NaN;
      try {
        // The last line: time may prepend "Command terminated by signal N".
        const lines = fs.readFileSync(tfile, 'utf8').trim().split('\n');
        [user, sys, rss] = (lines[lines.length - 1] ?? '').split(/\s+/).map(Number) as [number, number, number];
        fs.unlinkSync(tfile);
      } catch {
        /* no report: the child could not be started */
      }
      resolve({
        wallMs,
        userMs: user * 1000,
        sysMs: sys * 1000,
        cpuMs: (user + sys) * 1000,
        maxRssKiB: rss,
        code,
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString() + (spawnError ? `\n${spawnError.message}` : ''),
      });
    };
    child.on('error', (e) => finish(127, e));
    child.on('close', (code, signal) => finish(code ?? (signal ? 128 + (os.constants.signals[signal] ?? 0) : 1)));
  });
}

export interface Spread {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function spread(xs: number[]): Spread {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return { median: NaN, min: NaN, max: NaN, n: 0 };
  const m = v.length >> 1;
  const median = v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
  return { median, min: v[0]!, max: v[v.length - 1]!, n: v.length };
}
