// Summarise a V8 .cpuprofile (node --cpu-prof): where the JS thread's time went, by
// function (self time) and by broad category. The addon's SG_IO threads are not sampled:
// their cost shows up as system time in the process's rusage, not here.
import * as fs from 'node:fs';
import * as path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileSummary {
  totalMs: number;
  byCategory: Record<string, number>;
  top: Array<{ fn: string; where: string; selfMs: number; pct: number }>;
}

function category(url: string, fn: string, root: string): string {
  if (fn === '(idle)') return 'idle (waiting for SG_IO completions)';
  if (fn === '(garbage collector)') return 'garbage collector';
  if (fn === '(program)') return 'V8/native (program)';
  if (url.startsWith('node:')) return 'node internals (module loading, streams, timers)';
  const rel = url.startsWith('file://') ? path.relative(root, url.slice(7)) : url;
  if (rel.startsWith('node_modules/')) return 'dependencies (node_modules)';
  if (rel.startsWith('dist/lib/engine')) return 'odxcp engine';
  if (rel.startsWith('dist/lib/cli')) return 'odxcp cli';
  if (rel.startsWith('dist/lib')) return 'odxcp scsi/device layer';
  if (rel === '') return 'native / builtins';
  return 'other';
}

export function summariseProfile(file: string, root: string, topN = 12): ProfileSummary {
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + (p.timeDeltas[i] ?? 0));
  const byFn = new Map<string, { fn: string; where: string; us: number }>();
  const byCategory: Record<string, number> = {};
  let total = 0;
  for (const n of p.nodes) {
    const us = self.get(n.id) ?? 0;
    if (!us) continue;
    total += us;
    const { functionName, url, lineNumber } = n.callFrame;
    const fn = functionName || '(anonymous)';
    const rel = url.startsWith('file://') ? path.relative(root, url.slice(7)) : url;
    const where = rel ? `${rel}:${lineNumber + 1}` : '';
    const key = `${fn}@${where}`;
    const e = byFn.get(key) ?? { fn, where, us: 0 };
    e.us += us;
    byFn.set(key, e);
    const cat = category(url, fn, root);
    byCategory[cat] = (byCategory[cat] ?? 0) + us / 1000;
  }
  const top = [...byFn.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, topN)
    .map((e) => ({ fn: e.fn, where: e.where, selfMs: Math.round(e.us / 100) / 10, pct: Math.round((e.us / total) * 1000) / 10 }));
  for (const k of Object.keys(byCategory)) byCategory[k] = Math.round(byCategory[k]! * 10) / 10;
  return { totalMs: Math.round(total / 100) / 10, byCategory, top };
}

// `node dist/bench/profile.js FILE.cpuprofile` prints the summary.
if (require.main === module) {
  const f = process.argv[2];
  if (!f) {
    console.error('usage: node dist/bench/profile.js FILE.cpuprofile');
    process.exit(1);
  }
  console.log(JSON.stringify(summariseProfile(f, process.cwd()), null, 1));
}
