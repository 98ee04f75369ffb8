// The odxcp command line. Commands are thin: parse, call the library, print, map the error
// to an exit code (lib/scsi/exit-codes.ts, the table the README prints). Every failure is one
// line `odxcp: <message>` on stderr (stacks only with ODXCP_DEBUG=1).
import { Command, CommanderError } from 'commander';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { defaultContext, reportError, type CliContext } from './context';
import { addCopyOptions, copyCommand, ddCommand, type CopyCliOptions } from './copy';
import { isDdForm, SG_XCOPY_HELP } from './dd-operands';
import { exitCodesMarkdown } from './exit-codes';
import { infoCommand, type InfoCliOptions } from './info';
import { tokenInfoCommand, tokenPopulateCommand, tokenWriteCommand, type TokenPopulateCliOptions, type TokenWriteCliOptions } from './token';
import { zeroCommand, type ZeroCliOptions } from './zero';
import { EXIT_CODES } from './exit-status';
import { UsageError } from '../errors';
import { toJson } from './json';

export { toJson } from './json';
export type { CliContext } from './context';

function version(): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
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
    .addHelpText('after', SG_XCOPY_HELP);

  addCopyOptions(
    program
      .command('copy')
      .description('copy a range from SRC to DST, offloaded to the array when the pair allows it')
      .argument('<src>', 'source LUN: /dev/sdX, /dev/sgN or a /dev/disk/by-* link')
      .argument('<dst>', 'destination LUN (opened exclusively: refused when mounted or in use)'),
  ).action(async (src: string, dst: string, o: CopyCliOptions) => done(await copyCommand(ctx, src, dst, o)));

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
    .option('--offset <size>', 'byte offset of the range (Nb = blocks; default 0)')
    .option('--length <size>', 'bytes the token represents (Nb = blocks)')
    .option('--out <file>', 'token file to write')
    .option('--inactivity-timeout <seconds>', 'how long the token lives unused (default: the device default)')
    .option('--force', 'replace an existing token file')
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
    .description('decode a token file: ROD type, length, creator LU, bytes represented, block device data')
    .argument('<file>', 'token file (odxcp format or a bare 512-byte token)')
    .option('--json', 'print JSON')
    .action(async (file: string, o: { json?: boolean }) => done(await tokenInfoCommand(ctx, file, o)));

  program
    .command('zero')
    .description('zero a range: block device zero token, else WRITE SAME(16), else WRITE(16)')
    .argument('<device>', 'LUN (opened exclusively: refused when mounted or in use)')
    .option('--offset <size>', 'byte offset (Nb = blocks; default 0)')
    .option('--length <size>', 'bytes to zero (Nb = blocks)')
    .option('--method <method>', 'auto|unmap|token|write-same|write (default auto)')
    .option('--no-sync', 'skip SYNCHRONIZE CACHE of the written range afterwards (default: flush it; a failing flush fails the command)')
    .option('--json', 'print the result as JSON')
    .option('--progress <kind>', 'auto|bar|json|none')
    .option('--timeout <seconds>', 'SG_IO timeout for each command')
    .action(async (device: string, o: ZeroCliOptions) => done(await zeroCommand(ctx, device, o)));

  program
    .command('exit-codes', { hidden: true })
    .description('print the exit status table (Markdown, or --json)')
    .option('--json', 'print JSON')
    .action((o: { json?: boolean }) => {
      ctx.stdout.write(`${o.json ? toJson(EXIT_CODES) : exitCodesMarkdown()}\n`);
      done(0);
    });
  return program;
}

/**
 * Run the CLI with `argv` as process.argv (node, script, args...). `overrides` replace parts
 * of the context (the engine, devices, streams) for tests. Resolves with the exit status.
 */
export async function main(argv: string[], overrides: Partial<CliContext> = {}): Promise<number> {
  const ctx: CliContext = { ...defaultContext(), ...overrides };
  const args = argv.slice(2);
  let code = 0;
  try {
    // sg_xcopy's operand form has no subcommand: recognise it before commander sees it.
    if (isDdForm(args)) return await ddCommand(ctx, args);
    await buildProgram(ctx, (c) => (code = c)).parseAsync(args, { from: 'user' });
    return code;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 1;
    return reportError(ctx, e);
  }
}
