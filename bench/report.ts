// latest.json -> latest.md: the tables the README carries.
//   node dist/bench/report.js bench/results/latest.json   (prints the Markdown)
//   node dist/bench/report.js FILE.json --during 'VMS|LOAD|SAMPLES' --md FILE.md
//     records what bench.sh saw on the host while the guest ran (other lab VMs, the
//     1-minute load) in FILE.json and writes the Markdown to FILE.md.
import * as fs from 'node:fs';
import type { Spread } from './measure';
import type { BenchResults, CaseResult } from './types';

const MiB = 1 << 20;

function secs(s: Spread): string {
  if (!s.n) return '–';
  const f = (ms: number) => (ms / 1000).toFixed(ms < 10_000 ? 2 : 1);
  return s.n > 1 ? `${f(s.median)} (${f(s.min)}–${f(s.max)})` : f(s.median);
}

function us(s: Spread): string {
  if (!s.n) return '–';
  const f = (x: number) => x.toFixed(x < 100 ? 1 : 0);
  return s.n > 1 ? `${f(s.median)} (${f(s.min)}–${f(s.max)})` : f(s.median);
}

function bytes(c: CaseResult): string {
  if (!c.ok || !Number.isFinite(c.hostDataBytes)) return '–';
  if (c.hostDataBytes === 0) return c.hostDataSource === 'derived' ? '0 \\*' : '0';
  const v = `${(c.hostDataBytes / MiB).toFixed(0)} MiB`;
  return c.hostDataSource === 'derived' ? `${v} \\*` : v;
}

const GROUP_TITLE: Record<string, string> = {
  token: 'token copy (ODX)',
  xcopy: 'EXTENDED COPY',
  host: 'host copy',
  variant: 'engine variant',
  thin: 'thin source',
};

function caseRow(c: CaseResult, showSize = true): string {
  const status = !c.ok ? `**failed**: ${c.note ?? ''}` : c.verified ? 'yes' : c.verified === false ? '**no**' : '–';
  return `| ${GROUP_TITLE[c.group]} ${c.src}→${c.dst} | ${c.label} |${showSize ? ` ${c.size / MiB} MiB |` : ''} ${secs(c.wall)} | ${c.ok ? c.mibPerSec.toFixed(0) : '–'} | ${secs(c.tool)} | ${secs(c.cpu)} | ${secs(c.guestCpu)} | ${bytes(c)} | ${status} |`;
}

export function renderMarkdown(r: BenchResults): string {
  const L: string[] = [];
  const h = r.machine.host;
  const g = r.machine.guest;
  L.push(
    `Run of ${r.date.slice(0, 10)} (${r.date.slice(11, 16)} UTC)${r.quick ? ', **quick run (small sizes, not for comparison)**' : ''}${r.fast ? ' (`--fast`: every row, fewer repetitions)' : ''}` +
      `${r.partial ? ', **incomplete: the run stopped before the end**' : ''}, ${r.elapsedS} s in the lab.`,
  );
  L.push('');
  const during = h.during ? `; while it ran: at most ${h.during.maxOtherVms} other lab VM(s), 1-minute load at most ${h.during.maxLoad} (the guest's own 2 vCPUs count ~2)` : '';
  L.push(
    `Machine: host ${h.nproc ?? '?'} × ${h.cpu ?? '?'}${h.memGiB ? `, ${h.memGiB} GiB` : ''}, load average before the run ${h.loadavg ?? '?'}${during}; ` +
      `guest Linux ${g.kernel}, ${g.nproc} vCPUs (${g.cpu}), ${g.memMiB} MiB, ${r.machine.accel}` +
      `${g.clocksource ? `, clocksource ${g.clocksource} (one clock read from node: ${g.clockReadUs?.toFixed(1)} µs)` : ''}; node ${r.machine.node}; LUNs of ${r.machine.lunMiB} MiB in guest RAM (tmpfs). ` +
      `Tools: ${r.tools.sg_xcopy}; ${r.tools.ddpt}; ${r.tools.sg_dd}; ${r.tools.sg_read}; ${r.tools.dd}.`,
  );
  L.push('');
  L.push(
    `Each cell: median (min–max) over ${Object.entries(r.reps)
      .map(([s, n]) => `${n} runs at ${Number(s) / MiB} MiB`)
      .join(', ')}. Every tool, odxcp included, is a separate process: wall time around it, CPU = its user + system time ` +
      '(GNU time, rusage at exit), in-tool = the copy time the tool itself reports (start-up and probing excluded; odxcp: the engine\'s elapsedMs), guest CPU = what the whole guest spent meanwhile (kernel threads and the emulated arrays included). ' +
      'Host data = bytes that crossed the host\'s data buffers (odxcp reports its own; \\* = by construction: 2 × size for read+write copies, 0 for offloads). ' +
      'Verified = the destination\'s backing file equals the source\'s after the first run (destinations are hole-punched before every run).',
  );
  L.push('');
  L.push('| copy | tool | size | wall s | MiB/s | in-tool s | CPU s | guest CPU s | host data | verified |');
  L.push('|---|---|---|---|---|---|---|---|---|---|');
  for (const size of r.sizes) for (const c of r.cases.filter((x) => x.size === size && x.group !== 'variant' && x.group !== 'thin')) L.push(caseRow(c));
  L.push('');

  L.push(`Goals (ratios measured in this run, at ${Math.max(...r.sizes) / MiB} MiB):`);
  L.push('');
  L.push('| goal | target | measured | met |');
  L.push('|---|---|---|---|');
  for (const gl of r.goals) {
    const v = gl.value === null ? '–' : gl.id === 'offload-host-bytes' ? String(gl.value) : gl.value.toFixed(2);
    L.push(`| ${gl.what} | ${gl.target} | ${v} | ${gl.met === null ? 'not measured' : gl.met ? 'yes' : '**no**'} |`);
  }
  L.push('');

  const pcs = r.perCommand;
  if (pcs.length) {
    L.push(`Per-command overhead on ${pcs[0]!.dev} (LIO fileio, /dev/sg node), ${pcs[0]!.count} commands per run, one after another unless said:`);
    L.push('');
    L.push('| tool | µs per command (its own loop) | µs per command (whole process) | CPU s | odxcp\'s path (seen by percmd) |');
    L.push('|---|---|---|---|---|');
    for (const p of pcs) L.push(`| ${p.label} | ${p.ok ? us(p.usPerCommand) : `**failed**: ${p.note}`} | ${us(p.processUsPerCommand)} | ${secs(p.cpuMs)} | ${p.path ?? '–'} |`);
    L.push('');
  }

  if (r.startup?.length) {
    const hs = r.machine.host.startupMs;
    L.push(
      `Start-up in the guest, before anything is copied (${r.startup[0]!.id ? `median (min–max) of ${r.startup[0]!.wall.n} runs each, after one unmeasured warm-up run` : '3 runs each'})${hs ? `; on the host itself (no emulation, local disk) \`node -e 0\` takes ${(hs.node / 1000).toFixed(2)} s, \`odxcp --version\` ${(hs.odxcpVersion / 1000).toFixed(2)} s${hs.odxcpHelp !== undefined ? ` and \`odxcp --help\` ${(hs.odxcpHelp / 1000).toFixed(2)} s` : ''}` : ''}:`,
    );
    L.push('');
    const node = r.startup.find((x) => x.id === 'node' || x.label === 'node -e 0');
    L.push('| process | wall s | CPU s | wall / node -e 0 |');
    L.push('|---|---|---|---|');
    for (const x of r.startup) {
      const rel = node?.wall.n && x.wall.n ? (x.wall.median / node.wall.median).toFixed(2) : '–';
      L.push(x.ok === false ? `| ${x.label} | **failed**: ${x.note ?? ''} | | |` : `| ${x.label} | ${secs(x.wall)} | ${secs(x.cpu)} | ${rel} |`);
    }
    L.push('');
  }

  const variants = r.cases.filter((c) => c.group === 'variant');
  if (variants.length) {
    L.push(`Engine variants (bench/variant.ts: the library with knobs the CLI does not expose), ${variants[0]!.size / MiB} MiB:`);
    L.push('');
    L.push('| copy | variant | wall s | MiB/s | in-tool s | CPU s | guest CPU s | host data | verified |');
    L.push('|---|---|---|---|---|---|---|---|---|');
    for (const c of variants) L.push(caseRow(c, false));
    L.push('');
  }

  const thin = r.cases.filter((c) => c.group === 'thin');
  if (thin.length) {
    L.push(`A thin source (bench/run.ts thinCases: odx handler LUNs with thin=1, a few written extents, the rest deallocated) onto a thin destination, ${thin[0]!.size / MiB} MiB, \`--sparse auto\` against \`--sparse never\`:`);
    L.push('');
    L.push('| copy | variant | wall s | MiB/s | in-tool s | CPU s | guest CPU s | host data | verified |');
    L.push('|---|---|---|---|---|---|---|---|---|');
    for (const c of thin) L.push(caseRow(c, false));
    const auto = thin.find((c) => c.id === 'thin-auto');
    const never = thin.find((c) => c.id === 'thin-never');
    if (auto?.ok && never?.ok) L.push(`| | **never / auto (wall, median)** | ${(never.wall.median / auto.wall.median).toFixed(1)}x | | | | | | |`);
    L.push('');
  }

  if (r.profile) {
    L.push(`Where odxcp's CPU time goes (one extra run each under \`node --cpu-prof\`, ${Math.max(...r.sizes) / MiB} MiB; the profile samples the JS thread only, the addon's SG_IO threads show up as system time):`);
    L.push('');
    L.push('| copy | wall s | user s | system s | JS thread: largest categories (ms) |');
    L.push('|---|---|---|---|---|');
    for (const [mode, v] of Object.entries(r.profile)) {
      const p = v as { wallMs: number; userMs: number; sysMs: number; profile: unknown };
      const prof = p.profile as { byCategory?: Record<string, number> } | string;
      const cats =
        typeof prof === 'string'
          ? prof
          : Object.entries(prof.byCategory ?? {})
              .sort((a, b) => b[1] - a[1])
              .slice(0, 4)
              .map(([k, ms]) => `${k} ${Math.round(ms)}`)
              .join('; ');
      L.push(`| ${mode} | ${(p.wallMs / 1000).toFixed(2)} | ${(p.userMs / 1000).toFixed(2)} | ${(p.sysMs / 1000).toFixed(2)} | ${cats} |`);
    }
    L.push('');
  }

  const cal = r.calibration;
  if (cal.size > 0) L.push(
    `sg_xcopy blocks per command (${cal.size / MiB} MiB, best of ${r.quick ? 1 : 2}): ` +
      cal.sgXcopyBpt.map((b) => `bpt=${b.bpt} ${b.ok ? `${(b.wallMs / 1000).toFixed(2)} s` : 'failed'}`).join(', ') +
      `; best: ${cal.bestBpt}. Without bpt= sg_xcopy sends min(the copy manager's maximum segment length, 65535 blocks) per command.`,
  );
  L.push('');
  if (r.refusals.length) {
    L.push('What does not work here:');
    L.push('');
    for (const x of r.refusals) L.push(`- ${x.tool} (${x.luns}): ${x.outcome}`);
    for (const c of r.cases.filter((x) => !x.ok)) L.push(`- ${c.label} (${c.src}→${c.dst}, ${c.size / MiB} MiB): ${c.note ?? 'failed'}`);
    L.push('');
  }
  return `${L.join('\n')}\n`;
}

if (require.main === module) {
  const a = process.argv.slice(2);
  const f = a[0] ?? 'bench/results/latest.json';
  const r = JSON.parse(fs.readFileSync(f, 'utf8')) as BenchResults;
  const opt = (n: string) => (a.indexOf(n) >= 0 ? a[a.indexOf(n) + 1] : undefined);
  const during = opt('--during');
  if (during) {
    const [vms, load, samples] = during.split('|').map(Number) as [number, number, number];
    r.machine.host.during = { maxOtherVms: vms, maxLoad: load, samples };
    fs.writeFileSync(f, `${JSON.stringify(r, null, 1)}\n`);
  }
  const md = renderMarkdown(r);
  if (opt('--md')) fs.writeFileSync(opt('--md')!, md);
  else process.stdout.write(md);
}
