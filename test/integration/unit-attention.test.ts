// The retry policy against a real UNIT ATTENTION: adding a LUN to a tcm_loop TPG makes LIO
// queue REPORTED LUNS DATA HAS CHANGED (3F/0E) for the other LUNs of that nexus. sg_turs
// shows the condition is really there; the device layer must absorb it and count it.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ScsiDevice } from '../../lib/device/device';
import * as cmds from '../../lib/scsi/commands';
import { lun, toolStatus } from './lab';

const CFG = '/sys/kernel/config/target';

/** The configfs TPG directory whose tcm_loop SCSI host carries this H:C:T:L address. */
function tpgOf(address: string): string {
  const host = address.split(':')[0];
  for (const wwn of fs.readdirSync(path.join(CFG, 'loopback'))) {
    const tpg = path.join(CFG, 'loopback', wwn, 'tpgt_1');
    if (!fs.existsSync(path.join(tpg, 'address'))) continue;
    if (fs.readFileSync(path.join(tpg, 'address'), 'utf8').trim().split(':')[0] === host) return tpg;
  }
  throw new Error(`no tcm_loop TPG for ${address}`);
}

describe('unit attention from a real target', function () {
  const probe = path.join(CFG, 'core', 'fileio_0', 'uaprobe');
  let lunDir = '';

  after(() => {
    if (lunDir && fs.existsSync(lunDir)) {
      fs.rmSync(path.join(lunDir, 'uaprobe'), { force: true });
      fs.rmdirSync(lunDir);
    }
    if (fs.existsSync(probe)) fs.rmdirSync(probe);
    fs.rmSync('/tmp/uaprobe.img', { force: true });
  });

  it('LIO raises 3F/0E when a LUN is added; the device layer retries and counts it', async () => {
    const [a, b] = [lun('fio1'), lun('fio2')];
    const dev = await ScsiDevice.open(a.sg);
    try {
      await cmds.testUnitReady(dev); // clear whatever was pending
      toolStatus('sg_turs', [b.sg]);
      toolStatus('sg_turs', [b.sg]);
      const before = dev.stats.unitAttentions;

      fs.writeFileSync('/tmp/uaprobe.img', Buffer.alloc(1 << 20));
      fs.mkdirSync(probe, { recursive: true });
      fs.writeFileSync(path.join(probe, 'control'), 'fd_dev_name=/tmp/uaprobe.img,fd_dev_size=1048576');
      fs.writeFileSync(path.join(probe, 'enable'), '1');
      lunDir = path.join(tpgOf(a.address), 'lun', 'lun_30');
      fs.mkdirSync(lunDir);
      fs.symlinkSync(probe, path.join(lunDir, 'uaprobe'));

      const turs = toolStatus('sg_turs', [b.sg]);
      assert.equal(turs.status, 6, `sg_turs should see the unit attention (exit 6): ${turs.stdout}${turs.stderr}`);

      await cmds.testUnitReady(dev);
      assert.equal(dev.stats.unitAttentions, before + 1, 'exactly one unit attention absorbed');
    } finally {
      await dev.close();
    }
  });
});
