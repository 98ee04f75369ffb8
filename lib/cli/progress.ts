// Progress while a copy (or a zero, or a token write) runs.
//
// - bar:  one line redrawn with \r on stderr; the default when stderr is a terminal and
//         --json is not given (stdout stays clean for the result).
// - json: NDJSON on stderr, one object per event, so stdout can still carry the single --json
//         result object: {"event":"progress",...} while running, {"event":"done",...} at the end.
// - none: nothing.
import type { CopyMethod, CopyProgress } from '../engine/types';
import { toJsonLine } from './json';
import { formatBytes } from './sizes';

export type ProgressKind = 'auto' | 'bar' | 'json' | 'none';
export const PROGRESS_KINDS: readonly ProgressKind[] = ['auto', 'bar', 'json', 'none'];

/** What the CLI writes to: process.stdout/stderr, or a test's capture. */
export interface OutStream {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** The progress the CLI reports; the engine's CopyProgress, or what zero/token write produce. */
export interface ProgressEvent {
  bytesDone: bigint;
  totalBytes: bigint;
  elapsedMs: number;
  method?: CopyMethod | string;
  byMethod?: Partial<Record<string, bigint>>;
}

export interface ProgressReporter {
  onProgress(p: ProgressEvent | CopyProgress): void;
  /** Final event; `summary` goes into the NDJSON "done" record. */
  finish(summary?: Record<string, unknown>): void;
}

/** The NDJSON record for one progress event (no newline). */
export function progressRecord(p: ProgressEvent): Record<string, unknown> {
  const total = p.totalBytes;
  const percent = total > 0n ? Number((p.bytesDone * 10000n) / total) / 100 : 100;
  const rec: Record<string, unknown> = {
    event: 'progress',
    bytesDone: p.bytesDone,
    totalBytes: total,
    percent,
    elapsedMs: Math.round(p.elapsedMs),
    bytesPerSecond: p.elapsedMs > 0 ? Math.round((Number(p.bytesDone) * 1000) / p.elapsedMs) : 0,
  };
  if (p.method !== undefined) rec.method = p.method;
  if (p.byMethod !== undefined) rec.byMethod = p.byMethod;
  return rec;
}

function clock(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** Columns to draw in: a terminal that reports 0 (or nothing sensible) columns gets 80. */
export function barWidth(columns: number | undefined): number {
  return columns !== undefined && Number.isFinite(columns) && columns >= 1 ? Math.floor(columns) : 80;
}

/**
 * One bar line, at most `width` - 1 columns: "[#####-----]  45.0%  29 MiB/64 MiB  52 MiB/s odx
 * ETA 0:01". Below 20 columns only the percentage is drawn, so a narrow terminal still shows
 * something other than carriage returns.
 */
export function renderBar(p: ProgressEvent, width = 80): string {
  const frac = p.totalBytes > 0n ? Number((p.bytesDone * 10000n) / p.totalBytes) / 10000 : 1;
  const rate = p.elapsedMs > 0 ? (Number(p.bytesDone) * 1000) / p.elapsedMs : 0;
  const left = Number(p.totalBytes - p.bytesDone);
  const eta = rate > 0 ? clock((left / rate) * 1000) : '-:--';
  const pct = `${(frac * 100).toFixed(1).padStart(5)}%`;
  if (width < 20) return pct.trim();
  const tail = ` ${pct}  ${formatBytes(p.bytesDone)}/${formatBytes(p.totalBytes)}  ${formatBytes(Math.round(rate))}/s${p.method ? ` ${p.method}` : ''}  ETA ${eta}`;
  const barWidth = Math.max(10, Math.min(40, width - tail.length - 3));
  const filled = Math.min(barWidth, Math.floor(frac * barWidth));
  const line = `[${'#'.repeat(filled)}${'-'.repeat(barWidth - filled)}]${tail}`;
  return line.length > width - 1 ? line.slice(0, Math.max(0, width - 1)) : line;
}

/** Which reporter: `auto` draws a bar only on a terminal and never with --json. */
export function chooseProgress(kind: ProgressKind, json: boolean, stderr: OutStream): Exclude<ProgressKind, 'auto'> {
  if (kind !== 'auto') return kind;
  return !json && stderr.isTTY === true ? 'bar' : 'none';
}

/** Where the NDJSON stream records that it ended with its `done` record. */
export interface DoneFlag {
  doneWritten: boolean;
}

export function makeProgress(kind: Exclude<ProgressKind, 'auto'>, stderr: OutStream, run?: DoneFlag): ProgressReporter {
  if (kind === 'json') {
    return {
      onProgress: (p) => stderr.write(`${toJsonLine(progressRecord(p))}\n`),
      finish: (summary) => {
        if (run?.doneWritten) return;
        if (run) run.doneWritten = true;
        stderr.write(`${toJsonLine({ event: 'done', ...(summary ?? {}) })}\n`);
      },
    };
  }
  if (kind === 'bar') {
    let drawn = 0;
    return {
      onProgress: (p) => {
        const line = renderBar(p, barWidth(stderr.columns));
        stderr.write(`\r${line}${' '.repeat(Math.max(0, drawn - line.length))}`);
        drawn = line.length;
      },
      finish: () => {
        if (drawn > 0) stderr.write('\n');
        drawn = 0;
      },
    };
  }
  return { onProgress: () => undefined, finish: () => undefined };
}
