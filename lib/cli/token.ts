// `odxcp token populate|write|info`: token files for handing a copy to another host. The work
// is in lib/tokens/token-file.ts; these parse, call it and print.
import { UsageError } from '../errors';
import { describeRodToken } from '../scsi/rod-token';
import { checkTokenFileOut, tokenFileInfo, TOKEN_FILE_FORMATS, TOKEN_FILE_LENGTH, type TokenFileFormat, type TokenFileInfo } from '../tokens/token-file';
import { TokenWriteError } from '../tokens/token-ops';
import { cliExitCode, oneLineText, printJsonError, reportError, reportLeaving, signalExitCode, withSignals, type CliContext, type Stopped } from './context';
import { toJson } from './json';
import { checkDevicePath } from './options';
import { chooseProgress, makeProgress, PROGRESS_KINDS, type ProgressKind } from './progress';
import { formatBytes, parseSeconds, parseSize, resolveSize, type SizeSpec } from './sizes';

/** Bytes of a size option; `Nb` needs the LUN's block size, read only then. */
export async function sizeOnDevice(ctx: CliContext, device: string, spec: SizeSpec | undefined, name: string): Promise<bigint | undefined> {
  if (!spec) return undefined;
  if (spec.unit === 'bytes') return spec.value;
  const g = await ctx.geometry(device);
  return resolveSize(spec, g.blockSize, name, true, device);
}

function inactivity(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text.trim())) throw new UsageError(`--inactivity-timeout: '${text}' is not a whole number of seconds`);
  const n = Number(text.trim());
  if (!Number.isSafeInteger(n) || n > 0xffffffff) throw new UsageError(`--inactivity-timeout: ${text} is out of range`);
  return n;
}

const FORMAT_NAMES: Record<TokenFileFormat, string> = {
  odxcp: 'odxcp token file',
  raw: 'bare 512-byte ROD token, as ddptctl --rtf reads and writes',
  'raw-len': "ROD token and 8-byte length, ddpt's rtf_len form (520 bytes)",
};

export interface TokenPopulateCliOptions {
  offset?: string;
  length?: string;
  out?: string;
  inactivityTimeout?: string;
  force?: boolean;
  json?: boolean;
  timeout?: string;
  format?: string;
}

export async function tokenPopulateCommand(ctx: CliContext, device: string, o: TokenPopulateCliOptions): Promise<number> {
  checkDevicePath(device, 'DEVICE');
  if (o.out === undefined) throw new UsageError('--out: missing the token file to write');
  if (o.length === undefined) throw new UsageError('--length: missing (bytes the token should represent; Nb = blocks)');
  const offsetSpec = parseSize(o.offset ?? '0', '--offset');
  const lengthSpec = parseSize(o.length, '--length');
  if (lengthSpec.value === 0n) throw new UsageError('--length: must be more than 0');
  const timeoutMs = o.timeout !== undefined ? parseSeconds(o.timeout, '--timeout') : undefined;
  const inact = inactivity(o.inactivityTimeout);
  const format = (o.format ?? 'odxcp') as TokenFileFormat;
  if (!TOKEN_FILE_FORMATS.includes(format)) throw new UsageError(`--format: '${o.format}' is not one of ${TOKEN_FILE_FORMATS.join(', ')}`);
  // Before the token exists: a token that cannot be saved would stay live on the array.
  checkTokenFileOut(o.out, o.force === true);
  const offset = (await sizeOnDevice(ctx, device, offsetSpec, '--offset')) as bigint;
  const length = (await sizeOnDevice(ctx, device, lengthSpec, '--length')) as bigint;
  const r = await withSignals(ctx, (s) =>
    ctx.populateTokenFile({ device, offset, length, out: o.out as string, overwrite: o.force === true, inactivityTimeout: inact, format, timeoutMs, signal: s.signal }),
  );
  if (o.json) {
    ctx.stdout.write(`${toJson({ ...r, token: tokenSummary(r.token) })}\n`);
  } else {
    ctx.stdout.write(
      [
        `wrote ${r.file}${r.format === 'odxcp' ? '' : ` (${FORMAT_NAMES[r.format]})`}: a token for ${r.bytes} bytes (${formatBytes(r.bytes)}) of ${r.device} from +${r.offset} (LBA ${r.lba}, ${r.blockSize}-byte blocks)`,
        `  ${describeRodToken(r.token)}`,
        ...(r.truncated ? [`  note: the target truncated the token: ${r.bytes} of the ${r.requestedBytes} bytes asked for`] : []),
        `  inactivity timeout: ${r.inactivityTimeout ? `${r.inactivityTimeout} s` : 'device default'}; the file grants read access to that data: keep it private`,
      ].join('\n') + '\n',
    );
  }
  return 0;
}

function tokenSummary(t: { rodType: number; rodTypeName: string; copyManagerRodTokenId?: string; numberOfBytesRepresented?: bigint }) {
  return { rodType: t.rodType, rodTypeName: t.rodTypeName, copyManagerRodTokenId: t.copyManagerRodTokenId, numberOfBytesRepresented: t.numberOfBytesRepresented };
}

export interface TokenWriteCliOptions {
  in?: string;
  offset?: string;
  rodOffset?: string;
  length?: string;
  deleteToken?: boolean;
  sync?: boolean;
  json?: boolean;
  progress?: string;
  timeout?: string;
}

export async function tokenWriteCommand(ctx: CliContext, device: string, o: TokenWriteCliOptions): Promise<number> {
  checkDevicePath(device, 'DEVICE');
  if (!o.in) throw new UsageError('--in: missing the token file to read');
  const progress = (o.progress ?? 'auto') as ProgressKind;
  if (!PROGRESS_KINDS.includes(progress)) throw new UsageError(`--progress: '${o.progress}' is not one of ${PROGRESS_KINDS.join(', ')}`);
  const offsetSpec = parseSize(o.offset ?? '0', '--offset');
  const rodSpec = o.rodOffset !== undefined ? parseSize(o.rodOffset, '--rod-offset') : undefined;
  const lengthSpec = o.length !== undefined ? parseSize(o.length, '--length') : undefined;
  if (lengthSpec?.value === 0n) throw new UsageError('--length: must be more than 0');
  const timeoutMs = o.timeout !== undefined ? parseSeconds(o.timeout, '--timeout') : undefined;
  const tf = ctx.readTokenFile(o.in);
  const offset = (await sizeOnDevice(ctx, device, offsetSpec, '--offset')) as bigint;
  const rodOffset = await sizeOnDevice(ctx, device, rodSpec, '--rod-offset');
  const length = await sizeOnDevice(ctx, device, lengthSpec, '--length');
  const reporter = makeProgress(chooseProgress(progress, o.json === true, ctx.stderr), ctx.stderr, ctx.run);
  const start = Date.now();
  const stopped: Stopped = {};
  const { onProgress, leaving } = reportLeaving(ctx, reporter, 'written', o.json === true, { device });
  try {
    const r = await withSignals(ctx, async (s) => {
      return await ctx.writeTokenFile({
        device,
        token: tf,
        offset,
        rodOffset,
        length,
        deleteToken: o.deleteToken === true,
        sync: o.sync !== false,
        timeoutMs,
        signal: s.signal,
        onProgress: (p) => onProgress({ bytesDone: p.bytesWritten, totalBytes: p.totalBytes, elapsedMs: Date.now() - start, method: 'odx' }),
      });
    }, leaving, stopped);
    reporter.finish({ ok: true, bytes: r.bytesWritten });
    if (o.json) ctx.stdout.write(`${toJson({ ...r, complete: r.bytesWritten === r.requestedBytes })}\n`);
    else {
      ctx.stdout.write(
        `wrote ${r.bytesWritten} bytes (${formatBytes(r.bytesWritten)}) to ${r.device}+${r.offset} from ${o.in} (ROD offset ${r.rodOffset}) with ${r.commands} WRITE USING TOKEN${r.commands === 1 ? '' : 's'}${r.truncations ? `, ${r.truncations} truncated and re-driven` : ''}; ${r.synced ? 'flushed' : 'not flushed (--no-sync)'}\n`,
      );
    }
    return 0;
  } catch (e) {
    const written = e instanceof TokenWriteError ? e : undefined;
    const code = stopped.by ? signalExitCode(stopped.by) : undefined;
    reporter.finish({ ok: false, bytes: written?.bytesWritten ?? null, exitCode: code ?? cliExitCode(e) });
    if (o.json) printJsonError(ctx, e, code ?? cliExitCode(e), written ? { device, offset, bytesWritten: written.bytesWritten, exact: written.exact } : { device, offset });
    if (code !== undefined) {
      ctx.stderr.write(`odxcp: aborted by ${stopped.by}${written ? `: ${written.exact ? '' : 'at least '}${written.bytesWritten} bytes written` : ''}\n`);
      return code;
    }
    return reportError(ctx, e);
  }
}

export function tokenInfoLines(file: string, i: TokenFileInfo): string[] {
  const lines = [`${oneLineText(file)}: ${i.format === 'odxcp' ? `odxcp token file v${i.version} (${TOKEN_FILE_LENGTH} bytes)` : FORMAT_NAMES[i.format]}`];
  lines.push(`  ROD type 0x${i.rodType.toString(16).padStart(8, '0')} (${i.rodTypeName}), ROD TOKEN LENGTH ${i.rodTokenLength}${i.truncated ? ' (truncated)' : ''}`);
  if (i.copyManagerRodTokenId) lines.push(`  copy manager token id ${i.copyManagerRodTokenId}`);
  if (i.bytes !== undefined) lines.push(`  represents ${i.bytes} bytes (${formatBytes(i.bytes)})${i.lba !== undefined ? ` from LBA ${i.lba}` : ''}${i.blockSize ? ` of ${i.blockSize}-byte blocks` : ''}`);
  if (i.numberOfBytesRepresented !== undefined && i.numberOfBytesRepresented !== i.bytes) lines.push(`  token says NUMBER OF BYTES REPRESENTED ${i.numberOfBytesRepresented}`);
  if (i.creatorLogicalUnit) {
    const c = i.creatorLogicalUnit;
    lines.push(`  creator LU: ${c.designatorTypeName} ${c.designator} (block length ${c.diskBlockLength}, PDT ${c.peripheralDeviceType})`);
  } else if (i.creatorLogicalUnitError) lines.push(`  creator LU: undecodable (${i.creatorLogicalUnitError})`);
  if (i.blockDevice) {
    const b = i.blockDevice;
    lines.push(`  block device data: block length ${b.blockLength}, LBPPBE ${b.lbppbe}, PROT_EN ${b.protEn ? 1 : 0}, LBPME ${b.lbpme ? 1 : 0}, LBPRZ ${b.lbprz ? 1 : 0}, lowest aligned LBA ${b.lowestAlignedLba}`);
  }
  if (i.targetDeviceDescriptor) lines.push(`  target device: ${i.targetDeviceDescriptor.designatorTypeName} ${i.targetDeviceDescriptor.designator}`);
  if (i.createdAt) {
    const timeout = i.inactivityTimeout ? `${i.inactivityTimeout} s` : 'the device default';
    const age = i.inFuture ? `${i.futureSeconds} s in the future` : `${i.ageSeconds} s ago`;
    lines.push(`  created ${i.createdAt} (${age}); inactivity timeout ${timeout}`);
  }
  for (const w of i.warnings) lines.push(`  warning: ${w}`);
  return lines;
}

export async function tokenInfoCommand(ctx: CliContext, file: string, o: { json?: boolean }): Promise<number> {
  if (file === '') throw new UsageError('FILE: empty path (give the token file to decode)');
  const info = tokenFileInfo(ctx.readTokenFile(file), ctx.now());
  if (o.json) ctx.stdout.write(`${toJson(info)}\n`);
  else ctx.stdout.write(`${tokenInfoLines(file, info).join('\n')}\n`);
  return 0;
}
