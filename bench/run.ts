// The benchmark, run inside the lab (bench/bench.sh boots it): odxcp against sg_xcopy, ddpt,
// sg_dd and dd on the same LUNs, every tool as a child process measured the same way (wall
// time, the child's CPU time, host data bytes), several repetitions, each destination
// verified once per size. Writes $LAB_OUT/bench/latest.json and latest.md.
//   node dist/bench/run.js [--quick | --fast] [--sizes 64M,256M,1G] [--reps 5,3,3] [--[no-]profile]
//        [--no-variants] [--host-info 'nproc|cpu|loadavg|memGiB|nodeMs|odxcpVersionMs|odxcpHelpMs'] [--id RUNID]
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { measure, spread, type Measured } from './measure';
import { summariseProfile } from './profile';
import { renderMarkdown } from './report';
import type { BenchResults, CaseResult, Goal, PerCommandResult, Sample } from './types';

const MiB = 1 << 20;
const T_START = Date.now();

// ---------------------------------------------------------------- arguments
const argv = process.argv.slice(2);
const flag = (n: string) => argv.includes(`--${n}`);
const opt = (n: string) => {
  const i = argv.indexOf(`--${n}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const QUICK = flag('quick');
// Every row and goal of a full run in ~23 minutes instead of ~28 (estimated from the section
// times of the last full run): one repetition fewer
// at 1 GiB, one run of each engine variant, two of each per-command row.
const FAST = !QUICK && flag('fast');
// CPU profiles of odxcp's three copies at the largest size: the evidence for missed goals.
const PROFILE = flag('profile') || (!QUICK && !flag('no-profile'));
const VARIANTS = !flag('no-variants');

function parseSize(s: string): number {
  const m = /^(\d+)([KMG]?)$/i.exec(s.trim());
  if (!m) throw new Error(`bad size ${s}`);
  const mult = { '': 1, K: 1024, M: MiB, G: 1024 * MiB }[m[2]!.toUpperCase() as '' | 'K' | 'M' | 'G'];
  return Number(m[1]) * mult;
}

// ---------------------------------------------------------------- the lab
interface Lun {
  name: string;
  kind: string;
  sg: string;
  sd: string;
  file: string | null;
  blockSize: number;
  bytes: number;
}
const topoFile = process.env.ODXCP_LAB_TOPOLOGY;
const labOut = process.env.LAB_OUT;
if (!topoFile || !labOut) {
  console.error('bench: run me inside the lab (npm run bench), not directly');
  process.exit(2);
}
const luns = (JSON.parse(fs.readFileSync(topoFile, 'utf8')) as { luns: Lun[] }).luns;
function lun(name: string): Lun {
  const l = luns.find((x) => x.name === name);
  if (!l) throw new Error(`the lab topology has no LUN ${name}`);
  return l;
}
const F0 = lun('fio0'); // pre-filled with random data
const F1 = lun('fio1');
const O0 = lun('odx0');
const O1 = lun('odx1');
const OUT = path.join(labOut, 'bench');
fs.mkdirSync(OUT, { recursive: true });

const GUEST_LOAD = fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const log = (s: string) => console.log(`[bench +${((Date.now() - T_START) / 1000).toFixed(0)}s] ${s}`);

// ---------------------------------------------------------------- sizes and repetitions
const lunMax = Math.min(F0.bytes, F1.bytes, O0.bytes, O1.bytes);
let sizes = (opt('sizes') ?? (QUICK ? '16M,64M' : '64M,256M,1G')).split(',').map(parseSize);
const capped = sizes.filter((s) => s > lunMax);
// The largest size the LUNs allow stands in for sizes that do not fit (whole MiB).
sizes = [...new Set(sizes.map((s) => Math.min(s, Math.floor(lunMax / MiB) * MiB)))];
const repList = (opt('reps') ?? (QUICK ? '2' : FAST ? '5,3,2' : '5,3,3')).split(',').map(Number);
const repsFor = (i: number) => repList[Math.min(i, repList.length - 1)]!;

// ---------------------------------------------------------------- helpers
const NODE = process.execPath;
/** argv for display: `node` for the node binary, repository-relative paths as given. */
const show = (a: string[]) => a.map((x) => (x === NODE ? 'node' : /[\s']/.test(x) ? `'${x}'` : x)).join(' ');

function sh(cmd: string, args: string[]): { code: number; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return { code: r.status ?? 1, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

/** Return a destination range to the state of a freshly provisioned LUN (unallocated, zeros). */
function punch(l: Lun, size: number): void {
  if (!l.file) return;
  const r = sh('fallocate', ['--punch-hole', '--offset', '0', '--length', String(size), l.file]);
  if (r.code !== 0) throw new Error(`fallocate --punch-hole ${l.file}: ${r.out.trim()}`);
}

/** Compare the backing files: what the arrays hold, not what a cache says. */
function sameData(a: Lun, b: Lun, size: number): boolean {
  return sh('cmp', ['-s', '-n', String(size), a.file!, b.file!]).code === 0;
}

/** CPU time the whole guest spent (not idle, not iowait), ms; USER_HZ is 100. */
function guestCpuMs(): number {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = f as [number, number, number, number, number, number, number, number];
  return (user + nice + system + irq + softirq + steal) * 10;
}

const tail = (s: string, n = 2) => s.trim().split('\n').filter(Boolean).slice(-n).join(' | ');

// ---------------------------------------------------------------- cases
interface CaseDef {
  group: CaseResult['group'];
  id: string;
  label: string;
  src: Lun;
  dst: Lun;
  argv(size: number): string[];
  /** Bytes that crossed the host for a copy of `size` (parsing the tool's report if it has one). */
  hostData(size: number, m: Measured): { bytes: number; source: 'reported' | 'derived' };
  /** An error message when the output shows a failure or a copy other than the one asked for. */
  check?(m: Measured, size: number): string | undefined;
  detail?(m: Measured): Record<string, unknown> | undefined;
  /** The copy's duration as the tool itself reports it (start-up excluded), ms. */
  toolMs?(m: Measured): number;
  note?: string;
}

/** "time to transfer data: 1.23 secs" (sg3_utils, ddpt with time=1) or dd's "copied, 1.23 s". */
function reportedTime(m: Measured): number {
  const t = /time to transfer data: ([\d.]+) secs/.exec(m.stderr + m.stdout) ?? /copied, ([\d.]+) s/.exec(m.stderr);
  return t ? Number(t[1]) * 1000 : NaN;
}

const blocks = (size: number, l: Lun) => String(size / l.blockSize);

/** The JSON object a tool printed on stdout (odxcp pretty-prints it over many lines). */
function parseJsonLine(s: string): Record<string, unknown> | undefined {
  const t = s.trim();
  const a = t.indexOf('{');
  const b = t.lastIndexOf('}');
  if (a < 0 || b < a) return undefined;
  try {
    return JSON.parse(t.slice(a, b + 1)) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** odxcp's `copy --json` (and variant.js) report: host data bytes and a completeness check. */
function odxcpCase(c: Omit<CaseDef, 'hostData' | 'check' | 'detail'> & { method: string }): CaseDef {
  return {
    ...c,
    hostData: (_s, m) => ({ bytes: Number(parseJsonLine(m.stdout)?.hostDataBytes ?? NaN), source: 'reported' }),
    toolMs: (m) => Number(parseJsonLine(m.stdout)?.elapsedMs ?? NaN),
    check: (m, size) => {
      const j = parseJsonLine(m.stdout);
      if (!j) return `no JSON result: ${tail(m.stderr)}`;
      if (j.complete === false || Number(j.bytes) !== size) return `copied ${String(j.bytes)} of ${size}: ${tail(m.stderr)}`;
      if (j.method !== c.method) return `method ${String(j.method)}, expected ${c.method}`;
      return undefined;
    },
    detail: (m) => {
      const j = parseJsonLine(m.stdout);
      if (!j) return undefined;
      const keep = ['method', 'commands', 'hostDataBytes', 'elapsedMs', 'truncations', 'hostDepth', 'hostTransferBytes', 'chunkBytes', 'maxInFlight'];
      const d: Record<string, unknown> = Object.fromEntries(keep.filter((k) => k in j).map((k) => [k, j[k]]));
      d.fallbacks = Array.isArray(j.fallbacks) ? j.fallbacks.length : undefined;
      return d;
    },
  };
}

const odxcpCli = (mode: string, src: Lun, dst: Lun) => (size: number) => [NODE, 'bin/odxcp', 'copy', src.sd, dst.sd, '--mode', mode, '--length', String(size), '--json', '--progress', 'none'];
const derived2x = (size: number) => ({ bytes: 2 * size, source: 'derived' as const });
const derivedZero = () => ({ bytes: 0, source: 'derived' as const });
/** sg_xcopy's own count: "sg_xcopy: 524288 blocks, 9 commands". */
const xcopyCommands = (m: Measured) => {
  const c = /(\d+) blocks, (\d+) commands/.exec(m.stderr + m.stdout);
  return c ? { blocks: Number(c[1]), commands: Number(c[2]) } : undefined;
};
const exitOk = (m: Measured) => (m.code === 0 ? undefined : `exit ${m.code}: ${tail(m.stderr + m.stdout)}`);

function ddptCheck(m: Measured): string | undefined {
  const e = exitOk(m);
  if (e) return e;
  // ddpt exits 0 with "0+0 records in" when nothing was copied.
  if (/^0\+0 records in/m.test(m.stderr)) return `nothing copied: ${tail(m.stderr)}`;
  return undefined;
}

function makeCases(bestBpt: number): CaseDef[] {
  const HOST_BPT = 2048; // 1 MiB per READ/WRITE: odxcp's default host transfer size
  return [
    // 1. token copy between odx LUNs
    odxcpCase({ group: 'token', id: 'odxcp', label: 'odxcp copy --mode odx', src: O0, dst: O1, method: 'odx', argv: odxcpCli('odx', O0, O1) }),
    // ddpt --odx does not work on these LUNs (see refusals()); the other offload on the same
    // array is its EXTENDED COPY, which the handler implements too.
    {
      group: 'token',
      id: 'sg_xcopy-odx',
      label: 'sg_xcopy (no bpt=), EXTENDED COPY on the same LUNs',
      src: O0,
      dst: O1,
      argv: (s) => ['sg_xcopy', `if=${O0.sg}`, `of=${O1.sg}`, 'bs=512', `count=${blocks(s, O0)}`, 'time=1'],
      hostData: derivedZero,
      check: exitOk,
      toolMs: reportedTime,
      detail: xcopyCommands,
    },
    // 2. EXTENDED COPY between LIO fileio LUNs
    odxcpCase({ group: 'xcopy', id: 'odxcp', label: 'odxcp copy --mode xcopy', src: F0, dst: F1, method: 'xcopy', argv: odxcpCli('xcopy', F0, F1) }),
    {
      group: 'xcopy',
      id: 'sg_xcopy-default',
      // Without bpt= sg_xcopy sizes its segments from the copy manager's limits (65535 blocks on LIO).
      label: 'sg_xcopy (no bpt=)',
      src: F0,
      dst: F1,
      argv: (s) => ['sg_xcopy', `if=${F0.sg}`, `of=${F1.sg}`, 'bs=512', `count=${blocks(s, F0)}`, 'time=1'],
      hostData: derivedZero,
      check: exitOk,
      toolMs: reportedTime,
      detail: xcopyCommands,
    },
    {
      group: 'xcopy',
      id: 'sg_xcopy-best',
      label: `sg_xcopy bpt=${bestBpt} (best)`,
      src: F0,
      dst: F1,
      argv: (s) => ['sg_xcopy', `if=${F0.sg}`, `of=${F1.sg}`, 'bs=512', `bpt=${bestBpt}`, `count=${blocks(s, F0)}`, 'time=1'],
      hostData: derivedZero,
      check: exitOk,
      toolMs: reportedTime,
      detail: xcopyCommands,
    },
    // 3. host copy, 1 MiB per command everywhere
    odxcpCase({ group: 'host', id: 'odxcp', label: 'odxcp copy --mode host (1 MiB)', src: F0, dst: F1, method: 'host', argv: odxcpCli('host', F0, F1) }),
    {
      group: 'host',
      id: 'sg_dd',
      label: `sg_dd bs=512 bpt=${HOST_BPT} (sg nodes)`,
      src: F0,
      dst: F1,
      argv: (s) => ['sg_dd', `if=${F0.sg}`, `of=${F1.sg}`, 'bs=512', `bpt=${HOST_BPT}`, `count=${blocks(s, F0)}`, 'time=1'],
      hostData: derived2x,
      check: exitOk,
      toolMs: reportedTime,
    },
    {
      group: 'host',
      id: 'ddpt',
      label: `ddpt bs=512 bpt=${HOST_BPT} (sg nodes)`,
      src: F0,
      dst: F1,
      argv: (s) => ['ddpt', `if=${F0.sg}`, `of=${F1.sg}`, 'bs=512', `bpt=${HOST_BPT}`, `count=${blocks(s, F0)}`],
      hostData: derived2x,
      check: ddptCheck,
      toolMs: reportedTime,
    },
    {
      group: 'host',
      id: 'dd-direct',
      label: 'dd bs=1M O_DIRECT (block nodes)',
      src: F0,
      dst: F1,
      argv: (s) => ['dd', `if=${F0.sd}`, `of=${F1.sd}`, 'bs=1M', `count=${s / MiB}`, 'iflag=direct', 'oflag=direct'],
      hostData: derived2x,
      check: exitOk,
      toolMs: reportedTime,
    },
  ];
}

/**
 * A thin source and a thin destination (odx handler LUNs with thin=1, made here in a target of
 * their own), the source written in a few extents (1/16 of it) and deallocated elsewhere:
 * `--sparse auto` (copies the extents only) against `--sparse never` (every byte). The
 * destination is punched before each sample, as every destination here.
 */
async function thinCases(size: number): Promise<{ defs: CaseDef[]; remove: () => void }> {
  const { RuntimeOdxTarget } = await import('../test/integration/lab');
  const target = new RuntimeOdxTarget('naa.5001405000000a07', 'naa.5001405000000b07');
  try {
    const mb = size / MiB;
    const src = await target.add('bthsrc', { sizeMb: mb, knobs: 'thin=1' });
    const dst = await target.add('bthdst', { sizeMb: mb, knobs: 'thin=1' });
    const fd = fs.openSync(src.file!, 'r+');
    try {
      // four extents of size/64 each, spread over the LUN
      for (let i = 0; i < 4; i++) fs.writeSync(fd, randomBytes(size / 64), 0, size / 64, (i * size) / 4 + MiB);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    const v = (id: string, label: string, sparse: string): CaseDef =>
      odxcpCase({
        group: 'thin',
        id,
        label,
        src,
        dst,
        method: 'odx',
        argv: (s) => [NODE, 'dist/bench/variant.js', '--src', src.sd, '--dst', dst.sd, '--mode', 'odx', '--length', String(s), '--sparse', sparse],
      });
    return { defs: [v('thin-auto', 'token, --sparse auto (the extents only)', 'auto'), v('thin-never', 'token, --sparse never (every byte)', 'never')], remove: () => target.remove() };
  } catch (e) {
    target.remove();
    throw e;
  }
}

/** Engine variants (bench/variant.ts): knobs the CLI does not expose, same LUNs. */
function variantCases(): CaseDef[] {
  const v = (id: string, label: string, src: Lun, dst: Lun, mode: string, extra: string[]): CaseDef =>
    odxcpCase({
      group: 'variant',
      id,
      label,
      src,
      dst,
      method: mode,
      argv: (s) => [NODE, 'dist/bench/variant.js', '--src', src.sd, '--dst', dst.sd, '--mode', mode, '--length', String(s), ...extra],
    });
  return [
    v('host-lib-default', 'host, library defaults (block node, 1 MiB or the queue limit, depth 2)', F0, F1, 'host', []),
    v('host-d4', 'host, block node, depth 4', F0, F1, 'host', ['--host-depth', '4']),
    v('host-sg-d2', 'host, sg node (driver buffer), 1 MiB, depth 2', F0, F1, 'host', ['--data-node', 'sg']),
    v('host-sg-d4', 'host, sg node (driver buffer), 1 MiB, depth 4', F0, F1, 'host', ['--data-node', 'sg', '--host-depth', '4']),
    v('xcopy-mif1', 'xcopy, 1 command in flight', F0, F1, 'xcopy', ['--max-in-flight', '1']),
    v('xcopy-mif2', 'xcopy, 2 in flight', F0, F1, 'xcopy', ['--max-in-flight', '2']),
    v('xcopy-mif8', 'xcopy, 8 in flight', F0, F1, 'xcopy', ['--max-in-flight', '8']),
    v('xcopy-8m', 'xcopy, 8 MiB per command, 4 in flight', F0, F1, 'xcopy', ['--xcopy-size', String(8 * MiB)]),
    v('odx-mif1', 'token, 1 in flight', O0, O1, 'odx', ['--max-in-flight', '1']),
    v('odx-64m', 'token, 64 MiB tokens, 4 in flight', O0, O1, 'odx', ['--token-size', String(64 * MiB)]),
  ];
}

// ---------------------------------------------------------------- running cases
async function sample(def: CaseDef, size: number): Promise<{ m: Measured; s: Sample; err?: string }> {
  punch(def.dst, size);
  const g0 = guestCpuMs();
  const m = await measure(def.argv(size), { timeoutMs: 600_000 });
  const guestCpu = guestCpuMs() - g0;
  const err = def.check?.(m, size);
  const hd = def.hostData(size, m);
  return { m, err, s: { wallMs: m.wallMs, toolMs: def.toolMs?.(m) ?? NaN, cpuMs: m.cpuMs, userMs: m.userMs, sysMs: m.sysMs, guestCpuMs: guestCpu, maxRssKiB: m.maxRssKiB, hostDataBytes: hd.bytes } };
}

function finishCase(def: CaseDef, size: number, samples: Sample[], verified: boolean | null, ok: boolean, note: string | undefined, last?: Measured): CaseResult {
  const wall = spread(samples.map((s) => s.wallMs));
  const hd = last ? def.hostData(size, last) : { bytes: NaN, source: 'derived' as const };
  return {
    group: def.group,
    id: def.id,
    label: def.label,
    src: def.src.name,
    dst: def.dst.name,
    size,
    command: show(def.argv(size)),
    samples,
    wall,
    tool: spread(samples.map((s) => s.toolMs)),
    cpu: spread(samples.map((s) => s.cpuMs)),
    guestCpu: spread(samples.map((s) => s.guestCpuMs)),
    mibPerSec: ok ? size / MiB / (wall.median / 1000) : NaN,
    hostDataBytes: ok ? spread(samples.map((s) => s.hostDataBytes)).max : NaN,
    hostDataSource: hd.source,
    verified,
    ok,
    note: note ?? def.note,
    detail: last ? def.detail?.(last) : undefined,
  };
}

/** (repetition, index) pairs: each round starts one tool later, so no tool always runs right after the same other. */
function* rotations(n: number, reps: number): Generator<[number, number]> {
  for (let r = 0; r < reps; r++) for (let k = 0; k < n; k++) yield [r, (k + r) % n];
}

/**
 * Every case at one size, `reps` rounds; within a round the tools take turns, so a slow
 * spell of the machine falls on all of them rather than on one.
 */
async function runSize(defs: CaseDef[], size: number, reps: number): Promise<CaseResult[]> {
  const st = defs.map(() => ({ samples: [] as Sample[], verified: null as boolean | null, ok: true, note: undefined as string | undefined, last: undefined as Measured | undefined }));
  for (const [r, i] of rotations(defs.length, reps)) {
    const d = defs[i]!;
    const s = st[i]!;
    if (!s.ok) continue;
    const { m, s: smp, err } = await sample(d, size);
    s.last = m;
    if (err) {
      s.ok = false;
      s.note = err;
      log(`${d.group}/${d.id} ${size / MiB} MiB: FAILED: ${err}`);
      continue;
    }
    if (s.verified === null) {
      // Outside the timed region: a benchmark of a wrong copy is worthless.
      s.verified = sameData(d.src, d.dst, size);
      if (!s.verified) {
        s.ok = false;
        s.note = `destination differs from the source after the copy (${tail(m.stderr, 1)})`;
        log(`${d.group}/${d.id} ${size / MiB} MiB: WRONG DATA`);
        continue;
      }
    }
    s.samples.push(smp);
    log(`${d.group}/${d.id} ${size / MiB} MiB rep ${r + 1}/${reps}: wall ${(smp.wallMs / 1000).toFixed(2)} s, in-tool ${(smp.toolMs / 1000).toFixed(2)} s, cpu ${(smp.cpuMs / 1000).toFixed(2)} s, guest cpu ${(smp.guestCpuMs / 1000).toFixed(2)} s, host data ${smp.hostDataBytes}`);
  }
  return defs.map((d, i) => finishCase(d, size, st[i]!.samples, st[i]!.verified, st[i]!.ok, st[i]!.note, st[i]!.last));
}

// ---------------------------------------------------------------- sg_xcopy's best bpt
async function calibrateBpt(size: number): Promise<BenchResults['calibration']> {
  const out: BenchResults['calibration']['sgXcopyBpt'] = [];
  for (const bpt of [128, 1024, 4096, 16384, 65535]) {
    const walls: number[] = [];
    let ok = true;
    for (let r = 0; r < (QUICK ? 1 : 2); r++) {
      punch(F1, size);
      const m = await measure(['sg_xcopy', `if=${F0.sg}`, `of=${F1.sg}`, 'bs=512', `bpt=${bpt}`, `count=${blocks(size, F0)}`]);
      if (m.code !== 0) {
        ok = false;
        log(`calibration sg_xcopy bpt=${bpt}: exit ${m.code} ${tail(m.stderr)}`);
        break;
      }
      walls.push(m.wallMs);
    }
    out.push({ bpt, wallMs: ok ? Math.min(...walls) : NaN, ok });
    log(`calibration sg_xcopy bpt=${bpt}: ${ok ? `${(Math.min(...walls) / 1000).toFixed(2)} s` : 'failed'}`);
  }
  const best = out.filter((x) => x.ok).sort((a, b) => a.wallMs - b.wallMs)[0];
  return { sgXcopyBpt: out, bestBpt: best?.bpt ?? 128, size };
}

// ---------------------------------------------------------------- what does not work
async function refusals(size: number): Promise<BenchResults['refusals']> {
  const out: BenchResults['refusals'] = [];
  const tryOne = async (tool: string, a: string[], src: Lun, dst: Lun) => {
    punch(dst, size);
    const m = await measure(a);
    let outcome = m.code === 0 ? 'exit 0' : `exit ${m.code}`;
    // The lines that say why, not ddpt's (sometimes garbage) record counters.
    const why = (m.stderr + m.stdout).split('\n').map((l) => l.trim()).filter((l) => /not equal|not found|sense:|Early termination|xcopy command|commands/i.test(l));
    const msg = [...new Set(why)].slice(0, 3).join(' | ');
    if (m.code === 0) outcome += sameData(src, dst, size) ? ', destination verified' : ', DESTINATION DIFFERS from the source (silently wrong copy)';
    out.push({ tool: `${tool}: ${show(a)}`, luns: `${src.name} -> ${dst.name}`, outcome: `${outcome}${msg ? `: ${msg}` : ''}` });
    log(`refusal check ${tool} ${src.name}->${dst.name}: ${outcome}`);
  };
  const n = blocks(size, F0);
  const hex = `0x${(size / 512).toString(16)}`;
  // ddpt 0.97 turns an absent skip= into a gather list of one 0-block element: with count= it
  // stops before any command; without count= it sends POPULATE TOKEN for 0 blocks in a loop
  // until the array runs out of tokens (16384 on the handler, ~50 s), which would starve the
  // token copies measured after it, so that form is not run here.
  await tryOne('ddpt --odx on the ODX handler', ['ddpt', `if=${O0.sg}`, `of=${O1.sg}`, 'bs=512', `count=${n}`, '--odx'], O0, O1);
  await tryOne('ddpt --odx on the ODX handler, explicit gather/scatter lists', ['ddpt', `if=${O0.sg}`, `of=${O1.sg}`, 'bs=512', `skip=0,${hex}`, `seek=0,${hex}`, '--odx'], O0, O1);
  await tryOne('ddpt --odx on LIO fileio', ['ddpt', `if=${F0.sg}`, `of=${F1.sg}`, 'bs=512', `count=${n}`, '--odx'], F0, F1);
  await tryOne('ddpt --xcopy on LIO fileio', ['ddpt', `if=${F0.sg}`, `of=${F1.sg}`, 'bs=512', `count=${n}`, '--xcopy'], F0, F1);
  return out;
}

// ---------------------------------------------------------------- per-command overhead
async function perCommand(): Promise<PerCommandResult[]> {
  // 5000: at ~2 ms per command through the addon in this guest, 20000 would cost minutes.
  const n = QUICK ? 1000 : 5000;
  const reps = QUICK ? 1 : FAST ? 2 : 3;
  const dev = F0.sg;
  const defs: Array<{ id: string; label: string; kind: 'read1' | 'read0'; argv: string[]; parse: (m: Measured) => number }> = [];
  const sgRead = (m: Measured) => {
    // "time to read data from /dev/sgN was 1.234 secs" (time=1: from the first command)
    const t = /([\d.]+) secs/.exec(m.stdout + m.stderr);
    return t ? (Number(t[1]) * 1e6) / n : NaN;
  };
  const pc = (m: Measured) => Number(parseJsonLine(m.stdout)?.usPerCommand ?? NaN);
  for (const kind of ['read1', 'read0'] as const) {
    const what = kind === 'read1' ? 'READ(16), 1 block' : 'READ(16), 0 blocks';
    defs.push({ id: 'sg_read', label: `sg_read (${what})`, kind, parse: sgRead, argv: ['sg_read', `if=${dev}`, 'bs=512', `bpt=${kind === 'read1' ? 1 : 0}`, `count=${n}`, 'cdbsz=16', 'time=1'] });
    defs.push({ id: 'addon', label: `odxcp addon execute() (${what})`, kind, parse: pc, argv: [NODE, 'dist/bench/percmd.js', '--dev', dev, '--count', String(n), '--kind', kind, '--via', 'addon'] });
  }
  // The addon's other path on the same sg node, for the comparison (SG_IO on its threads).
  defs.push({ id: 'addon-threads', label: 'odxcp addon execute(), sgAsync: false (READ(16), 1 block)', kind: 'read1', parse: pc, argv: [NODE, 'dist/bench/percmd.js', '--dev', dev, '--count', String(n), '--kind', 'read1', '--via', 'addon-threads'] });
  defs.push({ id: 'device', label: 'odxcp ScsiDevice.command() (READ(16), 1 block)', kind: 'read1', parse: pc, argv: [NODE, 'dist/bench/percmd.js', '--dev', dev, '--count', String(n), '--kind', 'read1', '--via', 'device'] });
  defs.push({ id: 'addon-c4', label: 'odxcp addon execute(), 4 in flight (READ(16), 1 block)', kind: 'read1', parse: pc, argv: [NODE, 'dist/bench/percmd.js', '--dev', dev, '--count', String(n), '--kind', 'read1', '--via', 'addon', '--concurrency', '4'] });
  // The floor of any asynchronous design in this guest: a libuv thread-pool round trip, no SCSI.
  defs.push({ id: 'uvpool', label: 'node fs.read() of 1 byte from /dev/zero (libuv pool round trip, no SCSI)', kind: 'read1', parse: pc, argv: [NODE, 'dist/bench/percmd.js', '--dev', dev, '--count', String(n), '--kind', 'read1', '--via', 'uvpool'] });
  const st = defs.map(() => ({ us: [] as number[], proc: [] as number[], cpu: [] as number[], ok: true, note: undefined as string | undefined, path: undefined as string | undefined }));
  for (const [, i] of rotations(defs.length, reps)) {
    const d = defs[i]!;
    const s = st[i]!;
    if (!s.ok) continue;
    const m = await measure(d.argv);
    const us = d.parse(m);
    if (m.code !== 0 || !Number.isFinite(us)) {
      s.ok = false;
      s.note = `exit ${m.code}: ${tail(m.stderr + m.stdout)}`;
      log(`per-command ${d.label}: FAILED ${s.note}`);
      continue;
    }
    s.us.push(us);
    s.path ??= parseJsonLine(m.stdout)?.path as string | undefined;
    s.proc.push((m.wallMs * 1000) / n);
    s.cpu.push(m.cpuMs);
    log(`per-command ${d.label}: ${us.toFixed(1)} µs/command (process ${((m.wallMs * 1000) / n).toFixed(1)})`);
  }
  return defs.map((d, i) => ({
    id: d.id,
    label: d.label,
    dev: F0.name,
    kind: d.kind,
    count: n,
    usPerCommand: spread(st[i]!.us),
    processUsPerCommand: spread(st[i]!.proc),
    cpuMs: spread(st[i]!.cpu),
    command: show(d.argv),
    ok: st[i]!.ok,
    note: st[i]!.note,
    path: st[i]!.path,
  }));
}

// ---------------------------------------------------------------- start-up
/**
 * What a node process costs before it copies anything (the lab's 9p root makes every file read
 * dear). Each process runs once unmeasured first, so every row sees the same warm page cache
 * (the first run of a file set reads it through 9p: seconds for the unbundled CLI).
 */
async function startup(): Promise<BenchResults['startup']> {
  const runs = QUICK ? 3 : 5;
  const defs: Array<{ id: string; label: string; argv: string[] }> = [
    { id: 'node', label: 'node -e 0', argv: [NODE, '-e', '0'] },
    { id: 'native', label: 'node -e "require(\'./dist/lib/native\').loadNative()" (the addon only)', argv: [NODE, '-e', "require('./dist/lib/native').loadNative()"] },
    { id: 'engine', label: 'node -e "require(\'./dist/lib/engine\')" (engine, device and SCSI layers, unbundled)', argv: [NODE, '-e', "require('./dist/lib/engine')"] },
    { id: 'version', label: 'odxcp --version', argv: [NODE, 'bin/odxcp', '--version'] },
    { id: 'help', label: 'odxcp --help (the command line loaded, nothing run)', argv: [NODE, 'bin/odxcp', '--help'] },
    { id: 'info', label: `odxcp info ${F0.sd} ${F1.sd} (load, open, probe and plan; no copy)`, argv: [NODE, 'bin/odxcp', 'info', F0.sd, F1.sd] },
  ];
  const out: NonNullable<BenchResults['startup']> = [];
  for (const d of defs) {
    const walls: number[] = [];
    const cpus: number[] = [];
    let note: string | undefined;
    const warm = await measure(d.argv);
    if (warm.code !== 0) note = `exit ${warm.code}: ${tail(warm.stderr + warm.stdout)}`;
    for (let r = 0; r < runs && note === undefined; r++) {
      const m = await measure(d.argv);
      if (m.code !== 0) {
        note = `exit ${m.code}: ${tail(m.stderr + m.stdout)}`;
        break;
      }
      walls.push(m.wallMs);
      cpus.push(m.cpuMs);
    }
    out.push({ id: d.id, label: d.label, wall: spread(walls), cpu: spread(cpus), ok: note === undefined, note });
    log(`start-up ${d.label}: ${note ?? `${(spread(walls).median / 1000).toFixed(2)} s`}`);
  }
  return out;
}

// ---------------------------------------------------------------- profiles
async function profiles(size: number): Promise<Record<string, unknown>> {
  const dir = path.join(OUT, 'profiles');
  fs.mkdirSync(dir, { recursive: true });
  const out: Record<string, unknown> = {};
  for (const [mode, src, dst] of [
    ['host', F0, F1],
    ['xcopy', F0, F1],
    ['odx', O0, O1],
  ] as const) {
    punch(dst, size);
    const pdir = path.join(dir, mode);
    fs.rmSync(pdir, { recursive: true, force: true });
    const a = [NODE, '--cpu-prof', '--cpu-prof-dir', pdir, 'bin/odxcp', 'copy', src.sd, dst.sd, '--mode', mode, '--length', String(size), '--json', '--progress', 'none'];
    const m = await measure(a);
    const file = fs.existsSync(pdir) ? fs.readdirSync(pdir).find((f) => f.endsWith('.cpuprofile')) : undefined;
    out[mode] = {
      size,
      command: show(a).replace(pdir, `$LAB_OUT/bench/profiles/${mode}`),
      wallMs: m.wallMs,
      cpuMs: m.cpuMs,
      userMs: m.userMs,
      sysMs: m.sysMs,
      commands: parseJsonLine(m.stdout)?.commands,
      profile: file ? summariseProfile(path.join(pdir, file), process.cwd()) : `no profile (exit ${m.code}: ${tail(m.stderr)})`,
    };
    log(`profile ${mode}: wall ${(m.wallMs / 1000).toFixed(2)} s, cpu ${(m.cpuMs / 1000).toFixed(2)} s`);
  }
  return out;
}

// ---------------------------------------------------------------- goals
function goals(cases: CaseResult[], pcs: PerCommandResult[], largest: number, startup: BenchResults['startup'] = []): Goal[] {
  const c = (group: string, id: string, size = largest) => cases.find((x) => x.group === group && x.id === id && x.size === size && x.ok);
  const ratio = (a?: number, b?: number) => (a !== undefined && b !== undefined && Number.isFinite(a) && Number.isFinite(b) && b > 0 ? a / b : null);
  const mib = `${largest / MiB} MiB`;
  const out: Goal[] = [];
  const ox = c('xcopy', 'odxcp');
  const best = c('xcopy', 'sg_xcopy-best');
  const dflt = c('xcopy', 'sg_xcopy-default');
  const oh = c('host', 'odxcp');
  const ot = c('token', 'odxcp');
  const lt = (v: number | null, t: number) => (v === null ? null : v <= t);
  let v = ratio(ox?.wall.median, best?.wall.median);
  out.push({ id: 'offload-wall', what: 'odxcp EXTENDED COPY wall time / sg_xcopy (best bpt) wall time', target: '<= 0.8', value: v, met: lt(v, 0.8), basis: `medians, ${mib}, fio0 -> fio1` });
  v = ratio(ox?.tool.median, best?.tool.median);
  out.push({ id: 'offload-wall-in-tool', what: 'the same, each tool\'s own copy time (start-up and probing excluded)', target: '<= 0.8', value: v, met: lt(v, 0.8), basis: `medians of odxcp's elapsedMs and sg_xcopy's time=1, ${mib}` });
  v = ratio(ox?.wall.median, dflt?.wall.median);
  out.push({ id: 'offload-wall-default', what: 'odxcp EXTENDED COPY wall time / sg_xcopy (default bpt) wall time', target: '<= 0.8', value: v, met: lt(v, 0.8), basis: `medians, ${mib}, fio0 -> fio1` });
  const hd = Math.max(ox?.hostDataBytes ?? NaN, ot?.hostDataBytes ?? NaN);
  out.push({ id: 'offload-host-bytes', what: 'host data bytes of odxcp offloaded copies (EXTENDED COPY and token copy)', target: '= 0', value: Number.isFinite(hd) ? hd : null, met: Number.isFinite(hd) ? hd === 0 : null, basis: `largest over every repetition, ${mib}` });
  v = ratio(ox?.cpu.median, oh?.cpu.median);
  out.push({ id: 'offload-cpu', what: "odxcp EXTENDED COPY CPU time / odxcp's host copy CPU time", target: '<= 0.1', value: v, met: lt(v, 0.1), basis: `medians of user+system of the odxcp process, ${mib}` });
  v = ratio(ot?.cpu.median, oh?.cpu.median);
  out.push({ id: 'offload-cpu-token', what: "odxcp token copy CPU time / odxcp's host copy CPU time", target: '<= 0.1', value: v, met: lt(v, 0.1), basis: `medians, ${mib}, odx0 -> odx1 vs fio0 -> fio1` });
  const rivals = ['sg_dd', 'ddpt', 'dd-direct'].map((id) => c('host', id)).filter((x): x is CaseResult => !!x);
  const bestRival = rivals.sort((a, b) => b.mibPerSec - a.mibPerSec)[0];
  v = ratio(oh?.mibPerSec, bestRival?.mibPerSec);
  out.push({ id: 'host-throughput', what: `odxcp host copy throughput / best of sg_dd, ddpt, dd O_DIRECT (${bestRival?.label ?? 'none'})`, target: '>= 1.0', value: v, met: v === null ? null : v >= 1.0, basis: `MiB/s at the median wall time, ${mib}, 1 MiB per command` });
  v = ratio(bestRival?.tool.median, oh?.tool.median);
  out.push({ id: 'host-throughput-in-tool', what: 'the same, each tool\'s own copy time (start-up excluded)', target: '>= 1.0', value: v, met: v === null ? null : v >= 1.0, basis: `${bestRival?.label ?? '?'}'s reported time / odxcp's elapsedMs, medians, ${mib}` });
  // Issue 12 names each rival apart: dd O_DIRECT at the same transfer size, and sg_dd.
  for (const [id, mult] of [['dd-direct', 1.0], ['sg_dd', 1.5]] as const) {
    const r = c('host', id);
    v = ratio(oh?.mibPerSec, r?.mibPerSec);
    out.push({ id: `host-vs-${id}`, what: `odxcp host copy throughput / ${r?.label ?? id}'s`, target: `>= ${mult.toFixed(1)}`, value: v, met: v === null ? null : v >= mult, basis: `MiB/s at the median wall time, ${mib}, 1 MiB per command` });
  }
  for (const kind of ['read1', 'read0'] as const) {
    const a = pcs.find((p) => p.id === 'addon' && p.kind === kind && p.ok);
    const s = pcs.find((p) => p.id === 'sg_read' && p.kind === kind && p.ok);
    v = ratio(a?.usPerCommand.median, s?.usPerCommand.median);
    out.push({ id: `per-command-${kind}`, what: `odxcp addon µs per command / sg_read's (${kind === 'read1' ? 'READ(16) of 1 block' : 'zero-length READ(16)'})`, target: '<= 1.2', value: v, met: lt(v, 1.2), basis: `medians of the tools' own loop times, ${a?.count ?? '?'} commands, sequential${a?.path ? `; odxcp's path: ${a.path}` : ''}` });
  }
  const node = startup.find((x) => x.id === 'node' && x.ok);
  for (const [id, t] of [['version', 1.5], ['info', 2.5]] as const) {
    const x = startup.find((y) => y.id === id && y.ok);
    v = ratio(x?.wall.median, node?.wall.median);
    out.push({ id: `startup-${id}`, what: `start-up in the guest: ${x?.label.replace(/ \(.*/, '') ?? `odxcp ${id}`} wall / node -e 0's`, target: `<= ${t}`, value: v, met: lt(v, t), basis: `medians of ${x?.wall.n ?? '?'} runs each after a warm-up run` });
  }
  return out;
}

// ---------------------------------------------------------------- main
/**
 * The guest's clock: under TCG the kernel may pick a clocksource the vDSO cannot read (hpet),
 * and then every clock_gettime() is a system call reading an emulated device. node reads the
 * clock several times per event-loop turn; sg_read never does.
 */
function clockInfo(): { clocksource: string; clockReadUs: number } {
  let clocksource = '?';
  try {
    clocksource = fs.readFileSync('/sys/devices/system/clocksource/clocksource0/current_clocksource', 'utf8').trim();
  } catch {
    /* not exposed */
  }
  const n = 20000;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) process.hrtime.bigint();
  return { clocksource, clockReadUs: Number(process.hrtime.bigint() - t0) / 1000 / n };
}

/** "ddpt 0.97 20210421 [svn: r388]": the tool's name and the version it prints. */
function version(cmd: string): string {
  const first = sh(cmd, ['--version']).out.trim().split('\n')[0] ?? '';
  const v = first.replace(/^[\w_]+:?\s*/, '').replace(/^:?\s*(version:)?\s*/, '').replace(/^\(coreutils\)\s*/, 'coreutils ');
  return `${cmd} ${v}`.replace(/\s+/g, ' ').trim();
}

async function main(): Promise<void> {
  const hostInfo = (opt('host-info') ?? '').split('|');
  const cpuModel = /model name\s*:\s*(.*)/.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '?';
  const largest = Math.max(...sizes);
  log(`sizes ${sizes.map((s) => `${s / MiB} MiB`).join(', ')}; repetitions ${sizes.map((_, i) => repsFor(i)).join(', ')}; LUNs ${lunMax / MiB} MiB${capped.length ? ` (capped: ${capped.map((s) => s / MiB).join(', ')} MiB do not fit)` : ''}`);

  // odx0 gets fio0's random data (the handler reads its backing file on every command).
  log(`filling odx0 with fio0's data (${largest / MiB} MiB)`);
  const fill = sh('dd', [`if=${F0.file}`, `of=${O0.file}`, 'bs=1M', `count=${largest / MiB}`, 'conv=notrunc,fsync', 'status=none']);
  if (fill.code !== 0) throw new Error(`filling odx0: ${fill.out}`);

  const results: BenchResults = {
    schema: 1,
    date: new Date().toISOString(),
    quick: QUICK,
    fast: FAST,
    partial: true,
    machine: {
      host: {
        nproc: hostInfo[0] ? Number(hostInfo[0]) : undefined,
        cpu: hostInfo[1] || undefined,
        loadavg: hostInfo[2] || undefined,
        memGiB: hostInfo[3] ? Number(hostInfo[3]) : undefined,
        startupMs: hostInfo[4] ? { node: Number(hostInfo[4]), odxcpVersion: Number(hostInfo[5]), ...(hostInfo[6] ? { odxcpHelp: Number(hostInfo[6]) } : {}) } : undefined,
      },
      guest: {
        kernel: os.release(),
        nproc: os.cpus().length,
        cpu: cpuModel,
        memMiB: Math.round(os.totalmem() / MiB),
        loadavgAtStart: GUEST_LOAD,
        ...clockInfo(),
      },
      accel: 'QEMU TCG (software emulation; no KVM): the guest and the emulated arrays share the 2 vCPUs',
      node: process.version,
      lunMiB: Math.round(lunMax / MiB),
    },
    tools: {
      sg_xcopy: version('sg_xcopy'),
      sg_dd: version('sg_dd'),
      sg_read: version('sg_read'),
      ddpt: version('ddpt'),
      dd: version('dd'),
      odxcp: JSON.parse(fs.readFileSync('package.json', 'utf8')).version as string,
    },
    sizes,
    reps: Object.fromEntries(sizes.map((s, i) => [String(s), repsFor(i)])),
    cases: [],
    perCommand: [],
    calibration: { sgXcopyBpt: [], bestBpt: 0, size: 0 },
    refusals: [],
    startup: [],
    goals: [],
    elapsedS: 0,
  };
  // Saved after every section: a VM that is stopped part-way still leaves what it measured.
  const save = (final = false) => {
    results.partial = !final;
    results.goals = goals(results.cases, results.perCommand, largest, results.startup);
    results.elapsedS = Math.round((Date.now() - T_START) / 1000);
    fs.writeFileSync(path.join(OUT, 'latest.json'), `${JSON.stringify(results, null, 1)}\n`);
    fs.writeFileSync(path.join(OUT, 'latest.md'), renderMarkdown(results));
  };

  // At a middle size: large enough that one slow command does not decide it.
  results.calibration = await calibrateBpt(sizes[Math.min(1, sizes.length - 1)]!);
  const defs = makeCases(results.calibration.bestBpt);
  for (let i = 0; i < sizes.length; i++) {
    log(`---- ${sizes[i]! / MiB} MiB, ${repsFor(i)} repetitions`);
    results.cases.push(...(await runSize(defs, sizes[i]!, repsFor(i))));
    save();
  }
  // Past 65535 blocks, where ddpt --xcopy goes wrong (one segment's 16-bit block count).
  results.refusals = await refusals(Math.min(64 * MiB, Math.floor(lunMax / MiB) * MiB));
  results.perCommand = await perCommand();
  results.startup = await startup();
  save();
  if (VARIANTS) {
    // One size for the knobs: the largest, where start-up matters least.
    const vsize = largest;
    const vreps = QUICK || FAST ? 1 : 2;
    log(`---- engine variants, ${vsize / MiB} MiB, ${vreps} repetitions`);
    results.cases.push(...(await runSize(variantCases(), vsize, vreps)));
    save();
    // Thin rows at 256 MiB at most: the destination of --sparse never lives in guest RAM.
    const tsize = Math.min(vsize, 256 * MiB);
    log(`---- thin source, sparse auto vs never, ${tsize / MiB} MiB, ${vreps} repetitions`);
    const thin = await thinCases(tsize);
    try {
      results.cases.push(...(await runSize(thin.defs, tsize, vreps)));
    } finally {
      thin.remove();
    }
    save();
  }
  if (PROFILE) results.profile = await profiles(largest);
  save(true);
  process.stdout.write(`\n${renderMarkdown(results)}\n`);
  log(`done in ${results.elapsedS} s`);
}

main().catch((e) => {
  console.error(`bench: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  process.exit(1);
});
