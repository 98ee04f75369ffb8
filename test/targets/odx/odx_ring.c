/*
 * odx handler: the length of a data-in reply, told to the kernel.
 *
 * SPC-4 4.2.5.6: a device server stops the data-in transfer at the allocation
 * length or at the end of the available data, whichever comes first. TCMU
 * otherwise returns the whole buffer the initiator offered (an INQUIRY page of
 * 64 bytes asked with 255 arrives as 255 bytes, the tail zeros). The kernel
 * (since 4.19) takes a shorter length from the completion entry: flag
 * TCMU_UFLAG_READ_LEN and rsp.read_len. tcmu-runner 1.5.4 has no call for it,
 * so this file writes those two fields into the command ring itself, with
 * tcmu-runner's private structures (the build pins the exact tcmu-runner
 * version whose headers it compiles against, see build.sh).
 *
 * libtcmu completes "the oldest entry of the ring" relabelled with the
 * finishing command's id. The entry is therefore ours only when no other
 * command is in flight: we run on the device's command thread (handle_cmd is
 * synchronous for handlers with read/write callouts), nothing new is fetched
 * until we return, and tracked_aio_ops counts what runs elsewhere (tcmu-runner's
 * emulated commands on the I/O thread). With anything else in flight the reply
 * keeps its full length, as before.
 */
#include <stdio.h>
#include <string.h>

#include "libtcmu.h"
#include "target_core_user_local.h"
#include "tcmu-runner.h"
#include "tcmur_device.h"

#include "odx.h"

/* The first members of libtcmu's private struct tcmu_device (libtcmu_priv.h,
 * which needs glib's headers; build.sh checks that they still lead it). */
struct tcmu_device_head {
	int fd;
	struct tcmu_mailbox *map;
};

#define UFLAG_READ_LEN		0x2		/* uapi target_core_user.h */
#define MAILBOX_CAP_READ_LEN	(1 << 1)

bool odx_set_read_len(struct tcmu_device *tdev, uint16_t cmd_id, uint32_t len)
{
	struct tcmur_device *rdev = tcmu_dev_get_private(tdev);
	struct tcmu_mailbox *mb = ((struct tcmu_device_head *)tdev)->map;
	struct tcmu_cmd_entry *ent;
	uint32_t tail, hops = 0;
	bool done = false;

	if (!rdev || !mb || !len || !(mb->flags & MAILBOX_CAP_READ_LEN))
		return false;
	pthread_mutex_lock(&rdev->track_queue.track_lock);
	if (rdev->track_queue.tracked_aio_ops == 1) {	/* only us */
		pthread_spin_lock(&rdev->lock);
		for (tail = mb->cmd_tail; tail != mb->cmd_head && hops < 64; hops++) {
			ent = (void *)((uint8_t *)mb + mb->cmdr_off + tail);
			if (tcmu_hdr_get_op(ent->hdr.len_op) == TCMU_OP_CMD) {
				if (ent->hdr.cmd_id == cmd_id) {
					ent->hdr.uflags |= UFLAG_READ_LEN;
					/* rsp.read_len: bytes 4-7 of the response (__pad3 in 1.5.4's copy) */
					ent->rsp.__pad3 = len;
					done = true;
				}
				break;
			}
			tail = (tail + tcmu_hdr_get_len(ent->hdr.len_op)) % mb->cmdr_size;
		}
		pthread_spin_unlock(&rdev->lock);
	}
	pthread_mutex_unlock(&rdev->track_queue.track_lock);
	return done;
}
