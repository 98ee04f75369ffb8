// EXTENDED COPY (LID1) through the addon's encoder between real LIO / tcmu-runner LUNs,
// checked against the backing files and against sg_xcopy; and the error paths of real
// targets decoded to named errors (reference 2.6, 5.13, 8.8-8.10).
import { strict as assert } from 'node:assert';
import { ScsiDevice, type DeviceIdentity } from '../../lib/device/device';
import * as cmds from '../../lib/scsi/commands';
import { ScsiError } from '../../lib/scsi/errors';
import type { IdentificationCscdInput } from '../../lib/native';
import { backing, lun, tool, toolStatus, type LabLun } from './lab';

const opened: ScsiDevice[] = [];
async function open(l: LabLun): Promise<ScsiDevice> {
  const d = await ScsiDevice.open(l.sg);
  opened.push(d);
  return d;
}
after(() => Promise.all(opened.map((d) => d.close())));

function cscd(id: DeviceIdentity, blockLength: number): IdentificationCscdInput {
  const d = id.copyDesignator;
  if (!d) throw new Error('no copy designator');
  return { designator: { codeSet: d.codeSet, association: d.association, designatorType: d.designatorType, designator: d.designator }, blockLength };
}

/** Expect a ScsiError with this key/ASC/ASCQ. */
function scsi(key: number, asc: number, ascq: number) {
  return (e: unknown) => {
    assert.ok(e instanceof ScsiError, `expected ScsiError, got ${String(e)}`);
    assert.equal(e.senseKey, key, e.message);
    assert.equal(e.asc, asc, e.message);
    assert.equal(e.ascq, ascq, e.message);
    assert.ok(e.ascName && !/^ASC 0x/.test(e.ascName), `a human name for ${e.message}`);
    return true;
  };
}

async function lid1(sendTo: ScsiDevice, src: ScsiDevice, dst: ScsiDevice, o: { srcLba: number; dstLba: number; blocks: number; listId?: number; usage?: 'hold' | 'discard' | 'none' }) {
  const [si, di, sc, dc] = await Promise.all([src.identity(), dst.identity(), src.capacity(), dst.capacity()]);
  return cmds.extendedCopyLid1(sendTo, {
    listId: o.listId ?? 0,
    listIdUsage: o.usage ?? 'none',
    cscds: [cscd(si, sc.blockSize), cscd(di, dc.blockSize)],
    segments: [{ sourceCscdId: 0, destinationCscdId: 1, blocks: o.blocks, sourceLba: o.srcLba, destinationLba: o.dstLba }],
  });
}

describe('EXTENDED COPY (LID1) on LIO', () => {
  it('reports LIO\'s operating parameters (RCR SA 03h) as sg_copy_results does', async () => {
    const d = await open(lun('fio0'));
    const op = await cmds.receiveCopyOperatingParameters(d);
    assert.equal(op.snlid, true);
    assert.equal(op.maximumCscdDescriptorCount, 2);
    assert.equal(op.maximumSegmentDescriptorCount, 1);
    assert.equal(op.maximumDescriptorListLength, 1024);
    assert.deepEqual([...op.implementedDescriptorTypeCodes].sort(), [0x02, 0xe4]);
    const out = tool('sg_copy_results', ['-p', lun('fio0').sg]);
    assert.match(out, new RegExp(`[Mm]aximum segment length: ${op.maximumSegmentLength}\\b`));
  });

  it('copies fio0 -> fio1 through the addon\'s encoder, byte-exact in the backing files, nothing else touched', async () => {
    const [s, t] = [lun('fio0'), lun('fio1')];
    const [src, dst] = [await open(s), await open(t)];
    const blocks = 8191; // 4 MiB less one block: not a round number on purpose
    const guardBefore = backing(t, 2999 * 512, 512);
    const guardAfter = backing(t, (3000 + blocks) * 512, 512);
    await lid1(dst, src, dst, { srcLba: 100, dstLba: 3000, blocks });
    assert.ok(backing(t, 3000 * 512, blocks * 512).equals(backing(s, 100 * 512, blocks * 512)));
    assert.ok(backing(t, 2999 * 512, 512).equals(guardBefore));
    assert.ok(backing(t, (3000 + blocks) * 512, 512).equals(guardAfter));
  });

  it('gives the same bytes as sg_xcopy for the same copy', async () => {
    const [s, t] = [lun('fio0'), lun('fio2')];
    const [src, dst] = [await open(s), await open(t)];
    await lid1(dst, src, dst, { srcLba: 20000, dstLba: 0, blocks: 4096 });
    const r = toolStatus('sg_xcopy', [`if=${s.sg}`, `of=${t.sg}`, 'bs=512', 'count=4096', 'skip=20000', 'seek=8192']);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(backing(t, 0, 4096 * 512).equals(backing(t, 8192 * 512, 4096 * 512)), 'odxcp and sg_xcopy wrote the same bytes');
    assert.ok(backing(t, 0, 4096 * 512).equals(backing(s, 20000 * 512, 4096 * 512)));
  });

  it('copies on an iblock LUN over a loop device, sent to the source (--on_src style)', async () => {
    const [s, t] = [lun('fio0'), lun('iblk0')];
    const [src, dst] = [await open(s), await open(t)];
    await lid1(src, src, dst, { srcLba: 0, dstLba: 64, blocks: 2048 });
    assert.ok(backing(t, 64 * 512, 2048 * 512).equals(backing(s, 0, 2048 * 512)));
  });

  it('refuses a block-size mismatch (fio0 512 -> fio4k 4096) with NOT READY 08/00 (reference 8.9)', async () => {
    const [src, dst] = [await open(lun('fio0')), await open(lun('fio4k'))];
    await assert.rejects(lid1(dst, src, dst, { srcLba: 0, dstLba: 0, blocks: 8 }), scsi(0x2, 0x08, 0x00));
  });

  it('refuses a copy to a LUN of another nexus (xnex0) with COPY ABORTED 0D/02', async () => {
    const [src, dst] = [await open(lun('fio0')), await open(lun('xnex0'))];
    await assert.rejects(lid1(src, src, dst, { srcLba: 0, dstLba: 0, blocks: 8 }), scsi(0xa, 0x0d, 0x02));
  });
});

describe('EXTENDED COPY (LID1) on tcmu-runner', () => {
  it('copies within one LUN with LIST ID USAGE 11b and list id 0', async () => {
    const t = lun('tcmu0');
    const d = await open(t);
    await cmds.write16(d, { lba: 0, data: backing(lun('fio0'), 0, 256 * 512), blockSize: 512 });
    await lid1(d, d, d, { srcLba: 0, dstLba: 10000, blocks: 256, usage: 'none', listId: 0 });
    assert.ok(backing(t, 10000 * 512, 256 * 512).equals(backing(t, 0, 256 * 512)));
  });

  it('rejects any other LIST ID USAGE with ILLEGAL REQUEST 26/00 (reference 8.8)', async () => {
    const d = await open(lun('tcmu0'));
    await assert.rejects(lid1(d, d, d, { srcLba: 0, dstLba: 20000, blocks: 8, usage: 'discard', listId: 1 }), scsi(0x5, 0x26, 0x00));
  });
});

describe('error paths of real targets, decoded', () => {
  it('POPULATE TOKEN on scsi_debug: ILLEGAL REQUEST 20/00 invalid command operation code', async () => {
    const d = await open(lun('sdebug0'));
    await assert.rejects(cmds.populateToken(d, { listId: 0x101, ranges: [{ lba: 0, blocks: 8 }] }), (e: unknown) => {
      scsi(0x5, 0x20, 0x00)(e);
      assert.equal((e as ScsiError).category, 'INVALID_OP');
      assert.equal((e as ScsiError).command, 'POPULATE TOKEN');
      return true;
    });
  });

  it('POPULATE TOKEN on LIO: ILLEGAL REQUEST 20/00 as well (no token copy in LIO)', async () => {
    const d = await open(lun('fio0'));
    await assert.rejects(cmds.populateToken(d, { listId: 0x102, ranges: [{ lba: 0, blocks: 8 }] }), scsi(0x5, 0x20, 0x00));
  });

  it('READ(16) past the last LBA: ILLEGAL REQUEST 21/00 logical block address out of range', async () => {
    const l = lun('fio1');
    const d = await open(l);
    const last = (await d.capacity()).blocks;
    await assert.rejects(cmds.read16(d, { lba: last, blocks: 1, blockSize: l.blockSize }), scsi(0x5, 0x21, 0x00));
    await assert.rejects(cmds.read16(d, { lba: last - 1n, blocks: 2, blockSize: l.blockSize }), scsi(0x5, 0x21, 0x00));
  });

  it('scsi_debug has no copy manager: 3PC=0 and RECEIVE COPY RESULTS refused', async () => {
    const d = await open(lun('sdebug0'));
    assert.equal((await d.identity()).threePC, false);
    await assert.rejects(cmds.receiveCopyOperatingParameters(d), (e: unknown) => e instanceof ScsiError && e.senseKey === 0x5);
  });
});
