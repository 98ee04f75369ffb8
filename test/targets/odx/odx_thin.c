/*
 * odx handler: thin provisioning over the backing file's holes (knob thin=1).
 * A hole is a deallocated block and reads zeros (LBPRZ); data is mapped.
 * GET LBA STATUS (SBC-3 5.7) asks the file with SEEK_DATA/SEEK_HOLE; UNMAP
 * (SBC-3 5.28) and WRITE SAME with UNMAP (odx_main.c) punch holes. Nothing is
 * ever anchored (ANC_SUP 0).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "odx.h"

#define LBS_MAX_DESCS 1024	/* per answer; the initiator asks again from the end */

enum { LBS_MAPPED = 0, LBS_DEALLOCATED = 1 };

/*
 * The state of block p and where that state ends (exclusive, in blocks, at
 * most nblocks). A block any byte of which is data is mapped: holes are file-
 * system blocks, which may be smaller than ours.
 */
static int lbs_run(struct odx_dev *d, uint64_t p, uint64_t *end)
{
	uint64_t bs = d->bs, size = d->nblocks * bs;
	off_t data = lseek(d->fd, (off_t)(p * bs), SEEK_DATA), hole;

	if (data < 0) {
		if (errno == ENXIO) {		/* no data from here to EOF */
			*end = d->nblocks;
			return LBS_DEALLOCATED;
		}
		*end = d->nblocks;		/* no hole support: all mapped */
		return LBS_MAPPED;
	}
	if ((uint64_t)data >= (p + 1) * bs) {
		*end = (uint64_t)data >= size ? d->nblocks : (uint64_t)data / bs;
		return LBS_DEALLOCATED;
	}
	hole = lseek(d->fd, data, SEEK_HOLE);
	if (hole < 0 || (uint64_t)hole >= size)
		*end = d->nblocks;
	else
		*end = ((uint64_t)hole + bs - 1) / bs;
	if (*end <= p)
		*end = p + 1;
	return LBS_MAPPED;
}

/* whether a run of provisioning status `state` is one REPORT TYPE `rt` asks for */
static bool lbs_wanted(uint8_t rt, int state)
{
	switch (rt) {
	case 0x00: return true;				/* all LBAs */
	case 0x01: return state != LBS_MAPPED;		/* nonzero provisioning status */
	case 0x02: return state == LBS_MAPPED;
	case 0x03: return state == LBS_DEALLOCATED;
	default: return false;		/* 0x04 anchored, 0x10 may read unrecovered: none here */
	}
}

/*
 * CDB: 2-9 STARTING LBA, 10-13 ALLOCATION LENGTH, 14 REPORT TYPE (SBC-4: 0
 * all, 1 nonzero provisioning status, 2 mapped, 3 deallocated, 4 anchored,
 * 0x10 LBAs that may return an unrecovered error; others 24/00). Data: 0-3
 * PARAMETER DATA LENGTH, 7 bits 3-1 COMPLETION CONDITION (1 allocation length,
 * 3 capacity reached) and bit 0 RTP (REPORT TYPE processed: always), then
 * 16-byte descriptors (LBA, NUMBER OF LOGICAL BLOCKS, PROVISIONING STATUS in
 * byte 12) of the runs REPORT TYPE asks for, from the starting LBA on, as many
 * as the allocation length holds (REPORT TYPE 0: at least one, truncated by
 * data_in).
 */
int odx_get_lba_status(struct odx_dev *d, const uint8_t *cdb, const struct iovec *iov, size_t cnt,
		       struct odx_sense *s)
{
	uint64_t lba = get_be64(&cdb[2]);
	uint32_t alloc = get_be32(&cdb[10]);
	uint8_t rt = cdb[14];
	size_t max = alloc > 24 ? (alloc - 8) / 16 : 1, n = 0;
	uint8_t *b;

	if (rt > 0x04 && rt != 0x10) {
		sense_invalid_cdb(s, 14);
		return -1;
	}
	if (lba >= d->nblocks) {
		sense_lba_range(s, lba);
		return -1;
	}
	if (max > LBS_MAX_DESCS)
		max = LBS_MAX_DESCS;
	b = calloc(1, 8 + max * 16);
	if (!b) {
		sense_set(s, SK_HARDWARE_ERROR, 0x44, 0x00);
		return -1;
	}
	while (n < max && lba < d->nblocks) {
		uint64_t end, blocks;
		int state = lbs_run(d, lba, &end);
		uint8_t *e = &b[8 + n * 16];

		/* NUMBER OF LOGICAL BLOCKS is 32 bits: a longer run is cut */
		blocks = end - lba > 0xFFFFFFFFu ? 0xFFFFFFFFu : end - lba;
		if (lbs_wanted(rt, state)) {
			put_be64(e, lba);
			put_be32(&e[8], (uint32_t)blocks);
			e[12] = (uint8_t)state;
			n++;
		}
		lba += blocks;
	}
	put_be32(b, (uint32_t)(4 + n * 16));
	b[7] = (uint8_t)(((lba >= d->nblocks ? 3 : 1) << 1) | 0x01);
	data_in(iov, cnt, b, 8 + n * 16, alloc);
	free(b);
	return 0;
}

/*
 * UNMAP, SBC-3 5.28. CDB: 1 bit 0 ANCHOR, 7-8 PARAMETER LIST LENGTH. List:
 * 0-1 UNMAP DATA LENGTH (n-1), 2-3 UNMAP BLOCK DESCRIPTOR DATA LENGTH (n-7),
 * descriptors from 8 (LBA, NUMBER OF LOGICAL BLOCKS). Every descriptor is
 * checked before any block is deallocated.
 */
int odx_unmap(struct odx_dev *d, const uint8_t *cdb, const struct iovec *iov, size_t cnt,
	      struct odx_sense *s)
{
	uint16_t plen = get_be16(&cdb[7]);
	uint8_t *p;
	size_t got, ndesc, i;
	uint64_t total = 0;
	int rc = -1;

	if (cdb[1] & 0x01) {			/* ANCHOR: ANC_SUP 0 */
		sense_invalid_cdb(s, 1);
		sense_set_field(s, true, 1, 0);
		return -1;
	}
	if (plen == 0)				/* nothing to do, not an error */
		return 0;
	if (plen < 8) {
		sense_param_len(s);
		return -1;
	}
	p = malloc(plen);
	if (!p) {
		sense_set(s, SK_HARDWARE_ERROR, 0x44, 0x00);
		return -1;
	}
	got = iov_copy_in(p, plen, iov, cnt, 0);
	if (got < 8) {
		sense_param_len(s);
		goto out;
	}
	/* the lengths must fit what was sent; a partial descriptor is ignored */
	if ((size_t)get_be16(&p[0]) + 2 > got || (size_t)get_be16(&p[2]) + 8 > got) {
		sense_param_len(s);
		goto out;
	}
	if (get_be16(&p[2]) > get_be16(&p[0]) - 6u || get_be16(&p[0]) < 6) {
		sense_invalid_param(s, 0);
		goto out;
	}
	ndesc = get_be16(&p[2]) / 16;
	if (ndesc > d->k.max_unmap_descs) {
		sense_invalid_param(s, 2);
		goto out;
	}
	for (i = 0; i < ndesc; i++) {
		const uint8_t *e = &p[8 + i * 16];
		uint64_t lba = get_be64(e), nb = get_be32(&e[8]);

		if (lba > d->nblocks || nb > d->nblocks - lba) {
			sense_lba_range(s, lba);
			goto out;
		}
		total += nb;
		if (nb > d->k.max_unmap_blocks || total > d->k.max_unmap_blocks) {
			sense_invalid_param(s, (uint16_t)(8 + i * 16 + 8));
			goto out;
		}
	}
	for (i = 0; i < ndesc; i++) {
		const uint8_t *e = &p[8 + i * 16];

		if (odx_deallocate(d, get_be64(e), get_be32(&e[8]))) {
			sense_set(s, SK_MEDIUM_ERROR, 0x0C, 0x00);
			goto out;
		}
	}
	rc = 0;
out:
	free(p);
	return rc;
}

/* VPD 0xB2 Logical Block Provisioning (SBC-3 6.5.4): page length 4, THRESHOLD
 * EXPONENT 0, LBPU LBPWS LBPWS10, LBPRZ (001b: zeros), ANC_SUP 0, DP 0,
 * PROVISIONING TYPE 010b (thin). */
size_t odx_vpd_lbp(struct odx_dev *d, uint8_t *b)
{
	(void)d;
	put_be16(&b[2], 4);
	b[5] = 0x80 | 0x40 | 0x20 | 0x04;
	b[6] = 0x02;
	return 8;
}
