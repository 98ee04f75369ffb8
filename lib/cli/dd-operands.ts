// sg_xcopy-compatible operands: `odxcp if=SRC of=DST [bs=] [count=] [skip=] [seek=] [list_id=]
// [id_usage=] [--on_src|--on_dst] [odxcp copy options]`. The operands mean what they mean to
// sg_xcopy (sg_xcopy(8)); odxcp still picks the best copy method unless --mode says otherwise.
//
// Decisions where sg_xcopy leaves room:
// - bs= must equal the logical block size of both LUNs (sg_xcopy: "BS must be the logical block
//   size"). Without bs=, skip= and count= count source blocks and seek= destination blocks.
// - count= (or count=-1) absent: the rest of the source after skip=, cut back so the copy does
//   not run past the destination after seek= (sg_xcopy's derived count).
// - list_id=/id_usage= go to the engine for EXTENDED COPY (id_usage=disable is LIST ID USAGE 11b,
//   which needs list_id=0). --on_src/--on_dst (or iflag=xcopy / oflag=xcopy, or the
//   XCOPY_TO_SRC / XCOPY_TO_DST environment variables, as sg_xcopy) pick where it is sent.
// - conv= is ignored (as sg_xcopy does); time=1 prints the elapsed time and rate on stderr (in
//   sg_xcopy's MB/sec, and the account then leaves its MiB/s rate out); verbose=N / -v are
//   accepted (ODXCP_DEBUG=1 is odxcp's debug switch); -V / --version print the version.
//   Operands that change the EXTENDED COPY segment (bpt, cat, dc, fco, prio, app) or the file
//   handling (iflag/oflag flags other than xcopy, and oflag=excl which odxcp always does) are
//   refused rather than silently ignored.
import { UsageError } from '../errors';
import { parseSgNumber, U64_MAX } from './sizes';

export interface DdOperands {
  if: string;
  of: string;
  /** bs= (ibs=/obs= must agree with it). */
  bs?: number;
  /** Blocks; undefined: derived (count absent or count=-1). */
  count?: bigint;
  skip: bigint;
  seek: bigint;
  listId?: number;
  idUsage?: 'hold' | 'discard' | 'disable';
  /** Where EXTENDED COPY is sent, when given on the command line or in the environment. */
  on?: 'src' | 'dst';
  time: boolean;
  verbose: number;
  /** The arguments that are not operands (odxcp copy options such as --mode, --json). */
  options: string[];
}

const OPERANDS = new Set(['if', 'of', 'bs', 'ibs', 'obs', 'count', 'skip', 'seek', 'list_id', 'id_usage', 'conv', 'time', 'verbose', 'iflag', 'oflag']);
const REFUSED: Record<string, string> = {
  bpt: 'odxcp sizes EXTENDED COPY segments itself (see --max-in-flight and the engine limits)',
  cat: 'odxcp never produces residual data (equal block sizes)',
  dc: 'odxcp counts source blocks',
  fco: 'use --mode and --no-fallback to control offload',
  prio: 'odxcp uses the copy manager default priority',
  app: 'append applies to regular files only',
  append: 'append applies to regular files only',
};

/** The sg_xcopy form in `odxcp --help` (and `odxcp if=... --help`). */
export const SG_XCOPY_HELP = `
sg_xcopy form (for scripts written for sg_xcopy; odxcp still picks the best method):
  odxcp if=SRC of=DST [bs=BS] [count=N] [skip=N] [seek=N] [list_id=ID]
        [id_usage=hold|discard|disable] [--on_src|--on_dst] [time=0|1] [copy options]
  count/skip/seek are in blocks, as sg3_utils numbers: 2k, 0x100, 100h, and a b suffix
  multiplies by 512 as in sg3_utils (in --options, Nb means N logical blocks instead).
  bs= must equal the LUNs' logical block size; count defaults to the rest of SRC (cut to fit
  DST). iflag=xcopy / oflag=xcopy send EXTENDED COPY to SRC / DST; oflag=excl is what odxcp
  does anyway; other flags are refused. -V prints the version.
  The copy options are those of \`odxcp copy --help\`.`;

/** odxcp's subcommands: an argument list starting with one of them is not the sg_xcopy form. */
export const SUBCOMMANDS: readonly string[] = ['copy', 'info', 'token', 'zero', 'batch', 'resume', 'list', 'scan', 'completion', 'man', 'exit-codes', 'help'];

/**
 * True for the sg_xcopy form: an `if=` or `of=` operand and no subcommand (options, and their
 * values, may come first: `odxcp --mode odx if=A of=B`).
 */
export function isDdForm(args: readonly string[], subcommands: readonly string[] = SUBCOMMANDS): boolean {
  const first = args.find((a) => !a.startsWith('-'));
  if (first === undefined || subcommands.includes(first)) return false;
  return args.some((a) => /^(if|of)=/.test(a));
}

function isOperand(a: string): boolean {
  return !a.startsWith('-') && /^[a-z_]+=/.test(a);
}

/**
 * Split and parse the sg_xcopy form. `args` are the user's arguments (no node/script);
 * `env` supplies XCOPY_TO_SRC / XCOPY_TO_DST.
 */
export function parseDdArgs(args: readonly string[], env: Readonly<Record<string, string | undefined>> = {}): DdOperands {
  const seen = new Map<string, string>();
  const options: string[] = [];
  let onSrc = false;
  let onDst = false;
  let verbose = 0;
  for (const a of args) {
    if (isOperand(a)) {
      const eq = a.indexOf('=');
      const key = a.slice(0, eq);
      const value = a.slice(eq + 1);
      if (key in REFUSED) throw new UsageError(`${key}=: not supported by odxcp (${REFUSED[key]})`);
      if (!OPERANDS.has(key)) throw new UsageError(`unknown operand '${a}' (sg_xcopy operands: if= of= bs= count= skip= seek= list_id= id_usage=)`);
      if (seen.has(key)) throw new UsageError(`${key}=: given twice`);
      seen.set(key, value);
    } else if (a === '--on_src') onSrc = true;
    else if (a === '--on_dst') onDst = true;
    else if (a === '--verbose') verbose++;
    else if (/^-v+$/.test(a)) verbose += a.length - 1;
    else options.push(a);
  }
  if (onSrc && onDst) throw new UsageError('--on_src and --on_dst: give only one');

  const src = seen.get('if');
  const dst = seen.get('of');
  if (!src) throw new UsageError('if=: missing source device (sg_xcopy form: odxcp if=SRC of=DST ...)');
  if (!dst) throw new UsageError('of=: missing destination device (sg_xcopy form: odxcp if=SRC of=DST ...)');
  if (src === '-' || dst === '-') throw new UsageError(`${src === '-' ? 'if' : 'of'}=-: stdin/stdout are not SCSI devices; odxcp copies between LUNs`);
  if (dst === '.' || dst === '/dev/null') throw new UsageError(`of=${dst}: odxcp copies between LUNs, not to /dev/null`);

  const out: DdOperands = { if: src, of: dst, skip: 0n, seek: 0n, time: false, verbose, options };

  const bsOf = (key: string): number | undefined => {
    const v = seen.get(key);
    if (v === undefined) return undefined;
    const n = parseSgNumber(v, `${key}=`);
    if (n === 0n || n > 0x7fffffffn) throw new UsageError(`${key}=: block size ${v} is out of range`);
    return Number(n);
  };
  const bs = bsOf('bs');
  const ibs = bsOf('ibs');
  const obs = bsOf('obs');
  for (const [k, v] of [['ibs', ibs], ['obs', obs]] as const) {
    if (v !== undefined && bs !== undefined && v !== bs) throw new UsageError(`${k}=: must equal bs= (${v} != ${bs})`);
  }
  if (ibs !== undefined && obs !== undefined && ibs !== obs) throw new UsageError(`ibs=/obs=: must be equal (${ibs} != ${obs})`);
  out.bs = bs ?? ibs ?? obs;

  const count = seen.get('count');
  if (count !== undefined && count.trim() !== '-1') {
    out.count = parseSgNumber(count, 'count=');
  }
  const skip = seen.get('skip');
  if (skip !== undefined) out.skip = parseSgNumber(skip, 'skip=');
  const seek = seen.get('seek');
  if (seek !== undefined) out.seek = parseSgNumber(seek, 'seek=');

  const listId = seen.get('list_id');
  if (listId !== undefined) {
    const n = parseSgNumber(listId, 'list_id=');
    if (n > 255n) throw new UsageError(`list_id=: ${listId} is out of range (0..255, a LID1 list identifier)`);
    out.listId = Number(n);
  }
  const usage = seen.get('id_usage');
  if (usage !== undefined) {
    if (usage !== 'hold' && usage !== 'discard' && usage !== 'disable') throw new UsageError(`id_usage=: '${usage}' is not hold, discard or disable`);
    out.idUsage = usage;
    if (usage === 'disable' && out.listId !== undefined && out.listId !== 0) {
      throw new UsageError('list_id=: must be 0 with id_usage=disable (LIST ID USAGE 11b)');
    }
  }

  const time = seen.get('time');
  if (time !== undefined) {
    if (time !== '0' && time !== '1') throw new UsageError(`time=: '${time}' is not 0 or 1`);
    out.time = time === '1';
  }
  const verb = seen.get('verbose');
  if (verb !== undefined) out.verbose += Number(parseSgNumber(verb, 'verbose='));

  let flagOn: 'src' | 'dst' | undefined;
  for (const key of ['iflag', 'oflag'] as const) {
    const v = seen.get(key);
    if (v === undefined) continue;
    for (const f of v.split(',')) {
      if (f === 'xcopy') {
        const where = key === 'iflag' ? 'src' : 'dst';
        if (flagOn && flagOn !== where) throw new UsageError('iflag=xcopy and oflag=xcopy: give only one');
        flagOn = where;
      } else if (key === 'oflag' && f === 'excl') {
        // What odxcp does anyway: the destination is always opened exclusively.
      } else if (f !== '') {
        const why =
          f === 'excl' ? 'odxcp opens the source shared, as reading needs; only oflag=excl is accepted (odxcp always opens the destination exclusively)' : f === 'null' ? 'odxcp copies between LUNs; there is no null file to read or write' : 'it changes the file handling';
        throw new UsageError(`${key}=: flag '${f}' is not supported by odxcp (${why}; supported: ${key === 'iflag' ? 'xcopy' : 'xcopy, excl'})`);
      }
    }
  }
  if (onSrc) out.on = 'src';
  else if (onDst) out.on = 'dst';
  else if (flagOn) out.on = flagOn;
  else {
    // sg_xcopy: either variable (but not both) decides when the command line does not.
    const toSrc = env.XCOPY_TO_SRC !== undefined;
    const toDst = env.XCOPY_TO_DST !== undefined;
    if (toSrc !== toDst) out.on = toSrc ? 'src' : 'dst';
  }
  return out;
}

export interface DdGeometry {
  blockSize: number;
  bytes: bigint;
}

/** The byte range an sg_xcopy command line means for these two LUNs. */
export interface DdRange {
  srcOffset: bigint;
  dstOffset: bigint;
  length: bigint;
}

/** Resolve skip/seek/count against the LUNs' block sizes and capacities (sg_xcopy semantics). */
export function ddRange(dd: DdOperands, src: DdGeometry, dst: DdGeometry): DdRange {
  if (dd.bs !== undefined) {
    for (const [name, g] of [['if', src], ['of', dst]] as const) {
      if (g.blockSize !== dd.bs) {
        throw new UsageError(`bs=${dd.bs}: must be the logical block size of ${name}=${name === 'if' ? dd.if : dd.of} (${g.blockSize})`);
      }
    }
  }
  const sbs = BigInt(src.blockSize);
  const dbs = BigInt(dst.blockSize);
  const srcOffset = dd.skip * sbs;
  const dstOffset = dd.seek * dbs;
  if (srcOffset > U64_MAX || dstOffset > U64_MAX) throw new UsageError('skip=/seek=: offset beyond 2^64-1 bytes');
  if (srcOffset > src.bytes) throw new UsageError(`skip=${dd.skip}: beyond the end of if=${dd.if} (${src.bytes / sbs} blocks)`);
  if (dstOffset > dst.bytes) throw new UsageError(`seek=${dd.seek}: beyond the end of of=${dd.of} (${dst.bytes / dbs} blocks)`);
  let length: bigint;
  if (dd.count !== undefined) {
    length = dd.count * sbs;
    if (length > U64_MAX) throw new UsageError(`count=${dd.count}: more than 2^64-1 bytes`);
    // Said in blocks and naming count=, as the user counted (the engine would say it in bytes).
    if (srcOffset + length > src.bytes) {
      throw new UsageError(`count=${dd.count}: skip=${dd.skip} + count=${dd.count} runs past the end of if=${dd.if} (${src.bytes / sbs} blocks)`);
    }
    if (length % dbs !== 0n) {
      throw new UsageError(`count=${dd.count}: ${dd.count} blocks of ${src.blockSize} bytes are not a whole number of of=${dd.of}'s ${dst.blockSize}-byte blocks`);
    }
    if (dstOffset + length > dst.bytes) {
      throw new UsageError(`count=${dd.count}: seek=${dd.seek} + ${length / dbs} blocks runs past the end of of=${dd.of} (${dst.bytes / dbs} blocks)`);
    }
  } else {
    const srcRest = src.bytes - srcOffset;
    const dstRest = dst.bytes - dstOffset;
    length = srcRest < dstRest ? srcRest : dstRest;
    length -= length % (sbs > dbs ? sbs : dbs);
    if (length === 0n) throw new UsageError('count=: nothing to copy (skip= or seek= is at the end of a device)');
  }
  return { srcOffset, dstOffset, length };
}

/** LIST ID USAGE as the engine names it ('disable' is 11b, the engine's 'none'). */
export function ddListIdUsage(u: DdOperands['idUsage']): 'hold' | 'discard' | 'none' | undefined {
  return u === 'disable' ? 'none' : u;
}
