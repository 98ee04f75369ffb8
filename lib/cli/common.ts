// What every command shares, applied once to the whole commander tree (so commands added later
// get it too): -v/-vv/-vvv (the transport's command trace), -q/--quiet, the defaults shown in
// --help (taken from the constants the code runs with), an example and the exit statuses in
// each command's help. `--dry-run` is a helper the commands that write declare themselves.
import type { Command } from 'commander';
import { DEFAULT_MAX_IN_FLIGHT, DEFAULT_TOKEN_BYTES } from '../engine/plan';
import { defaultTimeoutMs } from '../scsi/transport';
import type { CliContext } from './context';
import { formatBytes } from './sizes';
import { startTrace } from './verbose';

const secs = (op: number) => `${defaultTimeoutMs(Buffer.from([op])) / 1000} s`;

/** `(default: ...)` text per long option, from the values the code uses. */
export const OPTION_DEFAULTS: Readonly<Record<string, string>> = {
  '--timeout': `${secs(0x00)} per command; ${secs(0x83)} for POPULATE TOKEN, WRITE USING TOKEN and EXTENDED COPY; ${secs(0x91)} for WRITE SAME and SYNCHRONIZE CACHE`,
  '--token-size': `the targets' optimal or maximum ROD size, else ${formatBytes(DEFAULT_TOKEN_BYTES)}`,
  '--max-in-flight': String(DEFAULT_MAX_IN_FLIGHT),
};

/** One example per command (full name as `odxcp X Y`), shown in its help and the man page. */
export const EXAMPLES: Readonly<Record<string, readonly string[]>> = {
  copy: ['odxcp copy /dev/sdb /dev/sdc', 'odxcp copy /dev/sdb /dev/sdc --length 1G --dst-offset 2048b --verify', 'odxcp copy /dev/sdb /dev/sdc --dry-run -v', 'odxcp copy /dev/sdb /dev/sdc /dev/sdd --fail-fast', 'odxcp copy /dev/sdb /dev/sdc --journal copy.jnl'],
  batch: ['odxcp batch jobs.json --jobs 3', 'odxcp batch - < jobs.ndjson --progress json'],
  resume: ['odxcp resume copy.jnl'],
  info: ['odxcp info /dev/sg1', 'odxcp info /dev/sdb /dev/sdc --json'],
  list: ['odxcp list', 'odxcp list --json'],
  token: ['odxcp token info tok.bin'],
  'token populate': ['odxcp token populate /dev/sdb --length 1G --out tok.bin', 'odxcp token populate /dev/sdb --length 1G --out tok.raw --format raw'],
  'token write': ['odxcp token write /dev/sdc --in tok.bin --delete-token'],
  'token info': ['odxcp token info tok.bin --json', 'odxcp token info ddpt.rtf'],
  zero: ['odxcp zero /dev/sdc --length 64M', 'odxcp zero /dev/sdc --length 8b --method write-same --dry-run'],
  'exit-codes': ['odxcp exit-codes --json'],
  completion: ['odxcp completion bash > /etc/bash_completion.d/odxcp', 'source <(odxcp completion bash)', 'odxcp completion zsh > ~/.zfunc/_odxcp'],
};

export const EXIT_LINE = 'Exit status: 0 success, 1 usage error, 15 device or file problem, 2-99 the SCSI error category, 120 output lost, 128+N signal N (`odxcp exit-codes`).';

/** The command's name as typed after `odxcp`: `token populate`. */
export function commandPath(c: Command): string {
  const names: string[] = [];
  for (let cur: Command | null = c; cur && cur.parent; cur = cur.parent) names.unshift(cur.name());
  return names.join(' ');
}

/** Every command below `program` (depth first), except commander's implicit help. */
export function allCommands(program: Command): Command[] {
  const out: Command[] = [];
  const walk = (c: Command) => {
    for (const s of c.commands) {
      if (s.name() === 'help') continue;
      out.push(s);
      walk(s);
    }
  };
  walk(program);
  return out;
}

const increase = (_v: string, prev: number) => prev + 1;

/** `--dry-run`, for commands that write (copy, zero, batch): open, probe, plan, print, write nothing. */
export const DRY_RUN_OPTION = ['-n, --dry-run', 'open and probe the devices, plan, print what would be done and exit: nothing is written'] as const;

export function addDryRunOption(cmd: Command): Command {
  return cmd.option(...DRY_RUN_OPTION);
}

/**
 * Give every command -v/-q, the defaults in its option help, examples and exit statuses, and
 * wire -v to the transport trace and -q to the outputs before each action.
 */
export function applyCommon(program: Command, ctx: CliContext): void {
  for (const c of allCommands(program)) {
    // Not on a command that only groups others (token): commander would take -v there
    // wherever it stands, and the subcommand that runs would never see it.
    const grouping = c.commands.length > 0;
    if (!grouping) c.option('-v, --verbose', 'trace SCSI commands on stderr: -v CDBs, status, decoded sense, duration; -vv also parameter lists and raw sense; -vvv also data received', increase, 0);
    if (!grouping) c.option('-q, --quiet', 'print nothing on success except what --json asks for (errors still go to stderr; no progress bar unless --progress says so)');
    for (const o of c.options) {
      const d = o.long ? OPTION_DEFAULTS[o.long] : undefined;
      if (d && !/default/.test(o.description)) o.description = `${o.description} (default: ${d})`;
    }
    const ex = EXAMPLES[commandPath(c)];
    const hidden = (c as unknown as { _hidden?: boolean })._hidden === true;
    if (!hidden) c.addHelpText('after', `${ex ? `\nExamples:\n${ex.map((e) => `  ${e}`).join('\n')}\n` : ''}\n${EXIT_LINE}`);
  }
  program.hook('preAction', (_p, action) => {
    const o = action.opts<{ verbose?: number; quiet?: boolean; json?: boolean }>();
    if (o.quiet && !o.json) ctx.run.quiet = true;
    stopTrace();
    stopCurrent = startTrace(o.verbose ?? 0, ctx.stderr);
  });
}

let stopCurrent: () => void = () => undefined;

/** End the trace a command started (main() calls it however the command ended). */
export function stopTrace(): void {
  stopCurrent();
  stopCurrent = () => undefined;
}
