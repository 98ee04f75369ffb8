// The odxcp command line. Commands are thin: parse, call the library, print, map the error
// to an exit code (lib/cli/exit-status.ts, the table the README prints). Every failure is one
// line `odxcp: <message>` on stderr (stacks only with ODXCP_DEBUG=1).
import { Command, CommanderError } from 'commander';
import { cliExitCode, defaultContext, jsonErrorMember, oneLineText, reportError, type CliContext } from './context';
import { addCopyOptions, copyCommand, ddCommand } from './copy';
import { batchCommand, copyManyCommand, resumeCommand, type BatchCliOptions, type FanOutCliOptions } from './fleet';
import { isDdForm, SG_XCOPY_HELP, SUBCOMMANDS } from './dd-operands';
import { exitCodesMarkdown } from './exit-codes';
import { infoCommand, type InfoCliOptions } from './info';
import { tokenInfoCommand, tokenPopulateCommand, tokenWriteCommand, type TokenPopulateCliOptions, type TokenWriteCliOptions } from './token';
import { zeroCommand, type ZeroCliOptions } from './zero';
import { EXIT_CODES } from './exit-status';
import { UsageError } from '../errors';
import { toJson, toJsonLine } from './json';
import { explainExcessArguments, refuseRepeats } from './options';
import { guardStream, OUTPUT_LOST_EXIT, RunState, settle } from './output';
import { DRY_RUN_OPTION, addDryRunOption, applyCommon, stopTrace } from './common';
import { listCommand } from './list';
import { bashCompletion, manPage, zshCompletion } from './docs-gen';

export { toJson } from './json';
export type { CliContext } from './context';

function version(): string {
  // A require, not a read relative to __dirname: the bundle (tools/bundle-cli.js) inlines it.
  return (require('../../../package.json') as { version: string }).version;
}

/** Commander's message on one line, without its "error: " prefix. */
function oneLine(s: string): string {
  return s
    .replace(/^error: /, '')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .join(' ');
}

const EXIT_HELP = `
Exit status (sg3_utils' values; \`odxcp exit-codes\` prints the table): 0 success, 1 usage error,
  15 device or file problem, 2-99 the SCSI error category, 120 the command completed but its
  output could not be written (a full disk, a closed pipe), 128+N stopped by signal N (130 for
  SIGINT, 143 SIGTERM, 129 SIGHUP; a second signal leaves without waiting).`;

function buildProgram(ctx: CliContext, done: (code: number) => void): Command {
  const program = new Command();
  program
    .name('odxcp')
    .description('SCSI copy offload for Linux: ODX token copy, EXTENDED COPY (LID1), buffered fallback')
    .version(version(), '-V, --version')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => ctx.stdout.write(s),
      writeErr: (s) => ctx.stderr.write(s),
      outputError: (s, write) => write(`odxcp: ${oneLine(s)}\n`),
    })
    .addHelpText('after', `${SG_XCOPY_HELP}\n${EXIT_HELP}`);

  addCopyOptions(
    program
      .command('copy')
      .description('copy a range from SRC to DST (or to several destinations), offloaded to the array when the pair allows it')
      .argument('<src>', 'source LUN: /dev/sdX, /dev/sgN or a /dev/disk/by-* link')
      .argument('<dst...>', 'destination LUN(s) (opened exclusively: refused when mounted or in use); several: one source range populated once, written to each')
      .option('--fail-fast', 'with several destinations: stop them all when one fails (default: the others go on)'),
  ).action(async (src: string, dsts: string[], o: FanOutCliOptions) => done(dsts.length === 1 && !o.failFast ? await copyCommand(ctx, src, dsts[0]!, o) : await copyManyCommand(ctx, src, dsts, o)));

  program
    .command('batch')
    .description('run a batch of copies from a job file (JSON array or NDJSON of {src, dst, srcOffset?, dstOffset?, length?, mode?, sparse?}; - for stdin): every pair checked before any starts, N at a time, one NDJSON result per pair as it ends, then a summary; exit status: the worst pair\'s')
    .argument('<jobfile>', 'the job file, or - for stdin')
    .option('--jobs <n>', 'pairs at a time, 1..64 (default 4)')
    .option(...DRY_RUN_OPTION)
    .option('--no-fallback', 'fail a pair instead of continuing on the host when its offload fails')
    .option('--no-sync', 'skip SYNCHRONIZE CACHE after each pair')
    .option('--progress <kind>', 'auto|bar|json|none (on stderr: bytes of the whole batch, pairs done)')
    .option('--timeout <seconds>', 'SG_IO timeout for each command')
    .option('--sparse <mode>', 'auto|never for every pair without a "sparse" of its own (default auto)')
    .option('--journal <file>', 'journal every pair (FILE.1, FILE.2... and FILE listing them, all created before any pair starts), so `odxcp resume FILE` can finish the batch after a crash')
    .action(async (file: string, o: BatchCliOptions) => done(await batchCommand(ctx, file, o)));

  program
    .command('resume')
    .description('finish a copy, fan-out or batch made with --journal FILE after a crash: copy exactly what the journal does not confirm (the devices must be the same LUNs)')
    .argument('<file>', 'the journal')
    .option('--json', 'print the result as JSON')
    .option('--progress <kind>', 'auto|bar|json|none')
    .action(async (file: string, o: { json?: boolean; progress?: string }) => done(await resumeCommand(ctx, file, o)));

  addCopyOptions(
    program
      .command('info')
      .description('identity, size, block size and copy-offload support (with limits) of LUNs; for a pair SRC DST, the copy plan')
      .argument('<device...>', '/dev/sdX, /dev/sgN or a /dev/disk/by-* link')
      .option('--json', 'print JSON'),
    'plan',
  ).action(async (devices: string[], o: InfoCliOptions) => done(await infoCommand(ctx, devices, o)));

  const token = program
    .command('token')
    .description('ROD token files: hand a copy to another host')
    .argument('[subcommand]', 'populate, write or info')
    .action((sub: string | undefined) => {
      throw new UsageError(sub === undefined ? 'token: missing subcommand (populate, write or info)' : `token: unknown subcommand '${sub}' (populate, write or info)`);
    });
  token
    .command('populate')
    .description('POPULATE TOKEN on a range of DEV and save the token to a file (mode 0600)')
    .argument('<device>', 'source LUN')
    .option('--offset <size>', 'byte offset of the range (Nb = logical blocks; default 0)')
    .option('--length <size>', 'bytes the token represents, more than 0 (Nb = logical blocks)')
    .option('--out <file>', 'token file to write (checked before the token is made; if writing still fails, the token is left to expire)')
    .option('--inactivity-timeout <seconds>', 'how long the token lives unused (default: the device default)')
    .option('--force', 'replace an existing token file')
    .option('--format <format>', "odxcp|raw|raw-len: odxcp's token file (default), the bare 512-byte token (ddptctl --rtf), or the token and its 8-byte length (ddpt's rtf_len)")
    .option('--json', 'print the result as JSON')
    .option('--timeout <seconds>', 'SG_IO timeout for each command')
    .action(async (device: string, o: TokenPopulateCliOptions) => done(await tokenPopulateCommand(ctx, device, o)));
  token
    .command('write')
    .description('WRITE USING TOKEN from a token file to DEV until all of it is written (no fallback)')
    .argument('<device>', 'destination LUN (opened exclusively)')
    .option('--in <file>', 'token file to read')
    .option('--offset <size>', 'destination byte offset (Nb = blocks; default 0)')
    .option('--rod-offset <size>', 'start this many bytes into the token (default 0)')
    .option('--length <size>', 'bytes to write (default: all the token represents after --rod-offset)')
    .option('--delete-token', 'ask the target to delete the token after the last write')
    .option('--no-sync', 'skip SYNCHRONIZE CACHE of the written range afterwards (default: flush it; a failing flush fails the command)')
    .option('--json', 'print the result as JSON')
    .option('--progress <kind>', 'auto|bar|json|none')
    .option('--timeout <seconds>', 'SG_IO timeout for each command')
    .action(async (device: string, o: TokenWriteCliOptions) => done(await tokenWriteCommand(ctx, device, o)));
  token
    .command('info')
    .description('decode a token file: ROD type, length, creator LU, bytes represented, block device data, age (a creation time in the future is flagged); exit 15 if it is not a valid token file')
    .argument('<file>', "token file: odxcp's, a bare 512-byte token (ddptctl) or ddpt's 520-byte rtf_len form")
    .option('--json', 'print JSON')
    .action(async (file: string, o: { json?: boolean }) => done(await tokenInfoCommand(ctx, file, o)));

  addDryRunOption(program
    .command('zero')
    .description('zero a range: block device zero token, else WRITE SAME(16), else WRITE(16)')
    .argument('<device>', 'LUN (opened exclusively: refused when mounted or in use)')
    .option('--offset <size>', 'byte offset (Nb = blocks; default 0)')
    .option('--length <size>', 'bytes to zero, more than 0 (Nb = logical blocks)')
    .option('--method <method>', 'auto|unmap|token|write-same|write (default auto)')
    .option('--no-sync', 'skip SYNCHRONIZE CACHE of the written range afterwards (default: flush it; a failing flush fails the command)')
    .option('--json', 'print the result as JSON')
    .option('--progress <kind>', 'auto|bar|json|none')
    .option('--timeout <seconds>', 'SG_IO timeout for each command'))
    .action(async (device: string, o: ZeroCliOptions) => done(await zeroCommand(ctx, device, o)));

  program
    .command('list')
    .alias('scan')
    .description('every SCSI LUN and multipath map on this host (like lsscsi): size, block size, copy offload with its limits, shared copy managers')
    .option('--json', 'print a JSON array (one object per LUN, then one per multipath map)')
    .action(async (o: { json?: boolean }) => done(await listCommand(ctx, o)));

  program
    .command('completion')
    .description('print the shell completion script for bash or zsh')
    .argument('<shell>', 'bash|zsh')
    .action((shell: string) => {
      if (shell !== 'bash' && shell !== 'zsh') throw new UsageError(`completion: '${shell}' is not one of bash, zsh`);
      ctx.stdout.write(shell === 'bash' ? bashCompletion(program) : zshCompletion(program));
      done(0);
    });

  program
    .command('man', { hidden: true })
    .description('print the man page (roff); the build installs it as odxcp.1')
    .action(() => {
      ctx.stdout.write(manPage(program, version()));
      done(0);
    });

  program
    .command('exit-codes')
    .description('print the exit status table (Markdown, or --json)')
    .option('--json', 'print JSON')
    .action((o: { json?: boolean }) => {
      ctx.stdout.write(`${o.json ? toJson(EXIT_CODES) : exitCodesMarkdown()}\n`);
      done(0);
    });
  applyCommon(program, ctx);
  refuseRepeats(program);
  explainExcessArguments(program);
  return program;
}

/** `--json` among the arguments: an error must then still print one JSON object. */
function wantsJson(args: readonly string[]): boolean {
  return args.includes('--json');
}

/** `--progress json`: the NDJSON stream on stderr must end with a `done` record. */
function wantsProgressJson(args: readonly string[]): boolean {
  return args.some((a, i) => a === '--progress=json' || (a === '--progress' && args[i + 1] === 'json'));
}

/** `odxcp help WORD` for a WORD that is no command: commander would print the general help. */
function checkHelpTopic(args: readonly string[]): void {
  if (args[0] !== 'help' || args.length < 2) return;
  const topic = args[1] as string;
  const known = SUBCOMMANDS.filter((c) => c !== 'help');
  if (!known.includes(topic)) throw new UsageError(`help: '${topic}' is not a command (commands: ${known.filter((c) => c !== 'man' && c !== 'scan').join(', ')})`);
}

/** After an error: the JSON object and the `done` record the arguments promised, if not yet out. */
function promisedRecords(ctx: CliContext, args: readonly string[], e: unknown, code: number): void {
  if (wantsProgressJson(args) && !ctx.run.doneWritten) {
    ctx.run.doneWritten = true;
    ctx.stderr.write(`${toJsonLine({ event: 'done', ok: false, exitCode: code, error: jsonErrorMember(e, code).message })}\n`);
  }
  if (wantsJson(args) && !ctx.run.stdoutWritten) ctx.stdout.write(`${toJson({ complete: false, error: jsonErrorMember(e, code) })}\n`);
}

/**
 * Run the CLI with `argv` as process.argv (node, script, args...). `overrides` replace parts
 * of the context (the engine, devices, streams) for tests. Resolves with the exit status.
 */
export async function main(argv: string[], overrides: Partial<CliContext> = {}): Promise<number> {
  const base: CliContext = { ...defaultContext(), ...overrides };
  const run = new RunState();
  // A full or closed stdout/stderr must not crash odxcp or stop a copy (output.ts).
  const ctx: CliContext = { ...base, run, stdout: guardStream(base.stdout, 'stdout', run), stderr: guardStream(base.stderr, 'stderr', run) };
  const args = argv.slice(2);
  let code = 0;
  try {
    // sg_xcopy's operand form has no subcommand: recognise it before commander sees it.
    if (isDdForm(args)) code = await ddCommand(ctx, args, version());
    else {
      checkHelpTopic(args);
      await buildProgram(ctx, (c) => (code = c)).parseAsync(args, { from: 'user' });
    }
  } catch (e) {
    if (e instanceof CommanderError) {
      code = e.exitCode === 0 ? 0 : 1;
      if (code !== 0) promisedRecords(ctx, args, new UsageError(oneLineText(e.message.replace(/^error: /, ''))), code);
    } else {
      code = reportError(ctx, e);
      promisedRecords(ctx, args, e, cliExitCode(e));
    }
  } finally {
    stopTrace();
  }
  return outputStatus(ctx, code);
}

/**
 * The exit status once the outputs have had their say: a command that succeeded but whose
 * stdout or stderr was lost (ENOSPC, EPIPE...) exits 120, with a line on the other stream if
 * that one still works. A failure keeps its own status.
 */
async function outputStatus(ctx: CliContext, code: number): Promise<number> {
  await settle();
  if (ctx.run.lost.size === 0 || code !== 0) return code;
  const [which, why] = [...ctx.run.lost][0] as ['stdout' | 'stderr', string];
  if (!ctx.run.lost.has('stderr')) ctx.stderr.write(`odxcp: ${which}: ${why}: output lost (the command itself completed); exit status ${OUTPUT_LOST_EXIT}\n`);
  return OUTPUT_LOST_EXIT;
}
