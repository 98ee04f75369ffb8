/*
 * odx handler for tcmu-runner: plugin glue, device open/close, block I/O
 * (READ/WRITE 6/10/12/16, VERIFY and WRITE AND VERIFY 10/12/16, COMPARE AND WRITE,
 * WRITE SAME 10/16, SYNCHRONIZE CACHE, READ CAPACITY)
 * and the one write path every write takes (odx_write*).
 *
 * Config string: odx/<file>[?knob=value&knob=value...]   (README.md)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "libtcmu.h"
#include "tcmu-runner.h"
#include "tcmur_device.h"

#include "odx.h"

pthread_mutex_t odx_lock = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t odx_cond = PTHREAD_COND_INITIALIZER;

static struct odx_dev *odx_devs;	/* registry of open devices (odx_lock) */
static uint8_t *zero_buf;		/* ODX_CHUNK bytes of zeros */

#define ODX_CHUNK (1u << 20)		/* internal I/O size for WRITE SAME */

uint64_t odx_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void odx_sleep_ms(uint64_t ms)
{
	struct timespec ts = { .tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

uint32_t odx_max_xfer_blocks(struct odx_dev *d)
{
	uint32_t m = tcmu_dev_get_max_xfer_len(d->tdev);

	return m ? m : 128;
}

/* ------------------------------------------------------------------ */
/* file I/O                                                            */

int odx_pread_full(int fd, uint8_t *buf, size_t len, uint64_t off)
{
	while (len) {
		ssize_t r = pread(fd, buf, len, (off_t)off);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0) {		/* past EOF of a short file reads as zeros */
			memset(buf, 0, len);
			return 0;
		}
		buf += r;
		len -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

static int pwrite_full(int fd, const uint8_t *buf, size_t len, uint64_t off)
{
	while (len) {
		ssize_t r = pwrite(fd, buf, len, (off_t)off);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += r;
		len -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

/* pwrite of len bytes taken from an iovec starting at byte ioff */
static int pwrite_iov(int fd, const struct iovec *iov, size_t cnt, size_t ioff, size_t len, uint64_t off)
{
	for (; cnt && len; iov++, cnt--) {
		size_t n;

		if (ioff >= iov->iov_len) {
			ioff -= iov->iov_len;
			continue;
		}
		n = iov->iov_len - ioff;
		if (n > len)
			n = len;
		if (pwrite_full(fd, (const uint8_t *)iov->iov_base + ioff, n, off))
			return -1;
		off += n;
		len -= n;
		ioff = 0;
	}
	return len ? -1 : 0;
}

/*
 * Every write of this handler comes here, under odx_lock: tokens that cover
 * the range are revoked or get the old data saved aside (point in time), and
 * only then does the new data reach the file (ref 6, README "Tokens").
 */
static int write_locked(struct odx_dev *d, uint64_t lba, uint64_t nblocks,
			const uint8_t *buf, const struct iovec *iov, size_t cnt, size_t ioff)
{
	uint64_t off = lba * d->bs, len = nblocks * d->bs;
	int rc = 0;

	if (!nblocks)
		return 0;
	if (odx_tokens_before_write(d, lba, nblocks))
		return -1;
	if (iov) {
		rc = pwrite_iov(d->fd, iov, cnt, ioff, (size_t)len, off);
	} else if (buf) {
		rc = pwrite_full(d->fd, buf, (size_t)len, off);
	} else {
		while (len && !rc) {
			size_t n = len > ODX_CHUNK ? ODX_CHUNK : (size_t)len;

			rc = pwrite_full(d->fd, zero_buf, n, off);
			off += n;
			len -= n;
		}
	}
	return rc;
}

static int write_common(struct odx_dev *d, uint64_t lba, uint64_t nblocks,
			const uint8_t *buf, const struct iovec *iov, size_t cnt, size_t ioff)
{
	int rc;

	pthread_mutex_lock(&odx_lock);
	rc = write_locked(d, lba, nblocks, buf, iov, cnt, ioff);
	pthread_mutex_unlock(&odx_lock);
	return rc;
}

int odx_write(struct odx_dev *d, uint64_t lba, uint64_t nblocks, const uint8_t *buf)
{
	return write_common(d, lba, nblocks, buf, NULL, 0, 0);
}

/*
 * A deallocation changes what the blocks read (zeros, LBPRZ), so tokens over
 * them are revoked or keep the old data exactly as for a write. KEEP_SIZE: the
 * file keeps the device's size. A partial file-system block is zero-filled by
 * the kernel and stays allocated; GET LBA STATUS then says mapped, which is
 * true of what the file holds.
 */
int odx_deallocate(struct odx_dev *d, uint64_t lba, uint64_t nblocks)
{
	int rc;

	if (!nblocks)
		return 0;
	pthread_mutex_lock(&odx_lock);
	rc = odx_tokens_before_write(d, lba, nblocks) ? -1 : 0;
	if (!rc && fallocate(d->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			     (off_t)(lba * d->bs), (off_t)(nblocks * d->bs))) {
		if (errno == EOPNOTSUPP || errno == ENOSYS)
			rc = write_locked(d, lba, nblocks, NULL, NULL, 0, 0);
		else
			rc = -1;
	}
	pthread_mutex_unlock(&odx_lock);
	return rc;
}

/* ------------------------------------------------------------------ */
/* registry                                                            */

/* Find the open LU whose LU-associated designator matches the designation
 * descriptor at desc4 (4-byte header + designator), for EXTENDED COPY CSCDs.
 * Caller holds odx_lock. */
struct odx_dev *odx_find_dev_by_designator(const uint8_t *desc4, size_t len)
{
	uint8_t code_set = desc4[0] & 0x0F, assoc = (desc4[1] >> 4) & 3, type = desc4[1] & 0x0F;
	uint8_t dlen = desc4[3];
	struct odx_dev *d;

	if (dlen + 4u > len || assoc != 0)
		return NULL;
	for (d = odx_devs; d; d = d->next) {
		if (d->closing)
			continue;
		if (type == 3 && code_set == 1 && dlen == 16 && !memcmp(&desc4[4], d->naa, 16))
			return d;
		if (type == 1 && dlen == 8 + strlen(d->serial) && !memcmp(&desc4[4], "ODXCP   ", 8) &&
		    !memcmp(&desc4[12], d->serial, dlen - 8u))
			return d;
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* open / close                                                        */

static const char *cfg_body(const char *cfgstring)
{
	const char *p = strchr(cfgstring, '/');

	return p ? p + 1 : NULL;
}

/* split "<path>?<knobs>" into a malloc'd path and a pointer to the knobs */
static char *split_cfg(const char *body, const char **knobs)
{
	const char *q = strchr(body, '?');
	size_t n = q ? (size_t)(q - body) : strlen(body);
	char *path = strndup(body, n);

	*knobs = q ? q + 1 : "";
	return path;
}

static bool odx_check_config(const char *cfgstring, char **reason)
{
	const char *body = cfg_body(cfgstring), *knobs;
	struct odx_knobs k;
	char err[256], *path;
	bool ok = true;

	if (!body || !*body) {
		if (asprintf(reason, "no file in config string '%s'", cfgstring) < 0)
			*reason = NULL;
		return false;
	}
	path = split_cfg(body, &knobs);
	if (!path || !*path) {
		if (asprintf(reason, "no file in config string '%s'", cfgstring) < 0)
			*reason = NULL;
		ok = false;
	} else if (odx_knobs_parse(knobs, &k, err, sizeof(err))) {
		if (asprintf(reason, "odx: %s", err) < 0)
			*reason = NULL;
		ok = false;
	}
	free(path);
	return ok;
}

static int odx_open(struct tcmu_device *tdev, bool reopen)
{
	const char *body = cfg_body(tcmu_dev_get_cfgstring(tdev)), *knobs;
	struct odx_dev *d;
	char err[256];
	char *wwn;
	uint32_t hw_bs;
	uint64_t bytes;
	struct stat st;

	(void)reopen;
	if (!body) {
		tcmu_dev_err(tdev, "odx: no file in config string\n");
		return -EINVAL;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->tdev = tdev;
	d->fd = -1;
	d->path = split_cfg(body, &knobs);
	if (!d->path || !*d->path) {
		tcmu_dev_err(tdev, "odx: no file in config string\n");
		goto fail;
	}
	/* Bad knobs fail the open: enabling the backstore then fails too. */
	if (odx_knobs_parse(knobs, &d->k, err, sizeof(err))) {
		tcmu_dev_err(tdev, "odx: %s (config '%s')\n", err, body);
		goto fail;
	}

	hw_bs = tcmu_dev_get_block_size(tdev);
	bytes = tcmu_dev_get_num_lbas(tdev) * (uint64_t)hw_bs;
	d->bs = d->k.block_size ? d->k.block_size : hw_bs;
	if (d->bs != 512 && d->bs != 1024 && d->bs != 2048 && d->bs != 4096) {
		tcmu_dev_err(tdev, "odx: unsupported block size %" PRIu32 "\n", d->bs);
		goto fail;
	}
	if (d->bs != hw_bs) {
		/* the kernel's hw_block_size only matters to tcmu-runner's own
		 * emulation, which reads it back from the device we set here */
		tcmu_dev_warn(tdev, "odx: block_size=%" PRIu32 " overrides hw_block_size %" PRIu32
			      " (set hw_block_size=%" PRIu32 " in the control file to match)\n",
			      d->bs, hw_bs, d->bs);
		tcmu_dev_set_block_size(tdev, d->bs);
	}
	d->nblocks = bytes / d->bs;
	tcmu_dev_set_num_lbas(tdev, d->nblocks);
	if (!d->nblocks) {
		tcmu_dev_err(tdev, "odx: device size %" PRIu64 " is less than one block\n", bytes);
		goto fail;
	}

	d->fd = open(d->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (d->fd < 0) {
		tcmu_dev_err(tdev, "odx: cannot open %s: %s\n", d->path, strerror(errno));
		goto fail;
	}
	/* holes come and go in whole file-system blocks: the unmap granularity */
	d->unmap_gran = fstat(d->fd, &st) == 0 && st.st_blksize > (blksize_t)d->bs &&
			st.st_blksize % d->bs == 0 ? (uint32_t)(st.st_blksize / d->bs) : 1;
	if (fstat(d->fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    (uint64_t)st.st_size < d->nblocks * d->bs &&
	    ftruncate(d->fd, (off_t)(d->nblocks * d->bs))) {
		tcmu_dev_err(tdev, "odx: cannot size %s: %s\n", d->path, strerror(errno));
		goto fail;
	}

	wwn = tcmu_cfgfs_dev_get_wwn(tdev);
	if (wwn && *wwn) {
		snprintf(d->serial, sizeof(d->serial), "%s", wwn);
	} else {
		/* no unit serial yet: derive one from the uio name so the NAA is stable */
		const char *u = tcmu_dev_get_uio_name(tdev);

		snprintf(d->serial, sizeof(d->serial), "odx%s", u ? u : "");
	}
	free(wwn);
	odx_make_naa(d->serial, d->naa);

	tcmu_dev_set_write_cache_enabled(tdev, 1);
	tcmur_dev_set_private(tdev, d);

	pthread_mutex_lock(&odx_lock);
	for (struct odx_dev *o = odx_devs; o; o = o->next) {
		if (memcmp(o->naa, d->naa, 16))
			continue;
		/* EXTENDED COPY could not tell the two apart: this one gets a
		 * hashed designator (and LIO's own engine, which derives the
		 * designator from the serial, is confused by such serials too) */
		tcmu_dev_warn(tdev, "odx: serial %s has the same hex digits as %s's (%s): using a"
			      " hashed NAA designator; give LUNs serials with distinct hex digits\n",
			      d->serial, o->path, o->serial);
		odx_make_naa_hashed(d->serial, d->naa);
		break;
	}
	d->next = odx_devs;
	odx_devs = d;
	pthread_mutex_unlock(&odx_lock);

	tcmu_dev_info(tdev, "odx: %s, %" PRIu64 " blocks of %" PRIu32 ", serial %s, knobs '%s'\n",
		      d->path, d->nblocks, d->bs, d->serial, knobs);
	return 0;

fail:
	if (d->fd >= 0)
		close(d->fd);
	free(d->path);
	free(d);
	return -EINVAL;
}

static void odx_close(struct tcmu_device *tdev)
{
	struct odx_dev *d = tcmur_dev_get_private(tdev), **pp;
	int old;

	if (!d)
		return;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
	pthread_mutex_lock(&odx_lock);
	odx_tpc_dev_close(d);		/* waits for users of d; drops odx_lock meanwhile */
	for (pp = &odx_devs; *pp; pp = &(*pp)->next) {
		if (*pp == d) {
			*pp = d->next;
			break;
		}
	}
	odx_tpc_free_lists(d);
	pthread_mutex_unlock(&odx_lock);
	close(d->fd);
	free(d->path);
	free(d);
	tcmur_dev_set_private(tdev, NULL);
	pthread_setcancelstate(old, NULL);
}

static int odx_reconfig(struct tcmu_device *tdev, struct tcmulib_cfg_info *cfg)
{
	struct odx_dev *d = tcmur_dev_get_private(tdev);

	switch (cfg->type) {
	case TCMULIB_CFG_DEV_SIZE:
		if (!d)
			return -EINVAL;
		pthread_mutex_lock(&odx_lock);
		d->nblocks = cfg->data.dev_size / d->bs;
		pthread_mutex_unlock(&odx_lock);
		if (ftruncate(d->fd, (off_t)(d->nblocks * d->bs)) && errno != EINVAL)
			tcmu_dev_warn(tdev, "odx: resize of %s failed: %s\n", d->path, strerror(errno));
		return 0;
	case TCMULIB_CFG_WRITE_CACHE:
		return 0;
	default:
		return -EOPNOTSUPP;
	}
}

/* ------------------------------------------------------------------ */
/* block commands                                                      */

/* LBA, block count and FUA of READ/WRITE(6/10/12/16); false if not one */
static bool rw_fields(const uint8_t *cdb, uint64_t *lba, uint32_t *n, bool *fua)
{
	*fua = false;
	switch (cdb[0]) {
	case 0x08: case 0x0A:
		*lba = ((uint32_t)(cdb[1] & 0x1F) << 16) | get_be16(&cdb[2]);
		*n = cdb[4] ? cdb[4] : 256;
		return true;
	case 0x28: case 0x2A:
		*lba = get_be32(&cdb[2]);
		*n = get_be16(&cdb[7]);
		break;
	case 0xA8: case 0xAA:
		*lba = get_be32(&cdb[2]);
		*n = get_be32(&cdb[6]);
		break;
	case 0x88: case 0x8A:
		*lba = get_be64(&cdb[2]);
		*n = get_be32(&cdb[10]);
		break;
	default:
		return false;
	}
	*fua = (cdb[1] & 0x08) != 0;
	return true;
}

/*
 * RDPROTECT/WRPROTECT/VRPROTECT (byte 1, bits 7-5) of the 10/12/16-byte CDBs:
 * this LU has no protection information (READ CAPACITY(16) PROT_EN 0), so any
 * value but 0 is INVALID FIELD IN CDB (SBC-3 4.22.2, tables of the READ/WRITE/
 * VERIFY/WRITE SAME commands). The 6-byte CDBs have no such field.
 */
static bool bad_protect(const uint8_t *cdb, struct odx_sense *s)
{
	if (cdb[0] == 0x08 || cdb[0] == 0x0A || !(cdb[1] & 0xE0))
		return false;
	sense_set(s, SK_ILLEGAL_REQUEST, 0x24, 0x00);
	sense_set_field(s, true, 1, 7);
	return true;
}

/* LBA..LBA+N-1 on the medium; else the sense says LBA OUT OF RANGE with the starting LBA. */
static bool range_ok(struct odx_dev *d, uint64_t lba, uint64_t n, struct odx_sense *s)
{
	if (lba <= d->nblocks && n <= d->nblocks - lba)
		return true;
	sense_lba_range(s, lba);
	return false;
}

static int do_read(struct odx_dev *d, const uint8_t *cdb, const struct iovec *iov, size_t cnt,
		   struct odx_sense *s)
{
	uint64_t lba, off;
	uint32_t n;
	bool fua;
	size_t left, have = iov_len(iov, cnt);

	rw_fields(cdb, &lba, &n, &fua);
	if (bad_protect(cdb, s))
		return -1;
	if (!range_ok(d, lba, n, s))
		return -1;
	left = (size_t)n * d->bs;
	if (left > have)
		left = have;	/* the initiator gave a smaller buffer: fill what fits */
	/* a slow source for host copies; rounded up so small reads cost something too */
	if (d->k.read_ms_per_mib)
		odx_sleep_ms(((uint64_t)left * d->k.read_ms_per_mib + (1u << 20) - 1) >> 20);
	off = lba * d->bs;
	for (; cnt && left; iov++, cnt--) {
		size_t k = iov->iov_len < left ? iov->iov_len : left;

		if (odx_pread_full(d->fd, iov->iov_base, k, off)) {
			sense_set(s, SK_MEDIUM_ERROR, 0x11, 0x00);
			return -1;
		}
		off += k;
		left -= k;
	}
	return 0;
}

static int do_write(struct odx_dev *d, const uint8_t *cdb, const struct iovec *iov, size_t cnt,
		    struct odx_sense *s)
{
	uint64_t lba;
	uint32_t n;
	bool fua;

	rw_fields(cdb, &lba, &n, &fua);
	if (bad_protect(cdb, s))
		return -1;
	if (!range_ok(d, lba, n, s))
		return -1;
	if (iov_len(iov, cnt) < (size_t)n * d->bs) {
		/* data-out shorter than the CDB asks for */
		sense_invalid_cdb(s, cdb[0] == 0x0A ? 4 : cdb[0] == 0x2A ? 7 : cdb[0] == 0xAA ? 6 : 10);
		return -1;
	}
	if (write_common(d, lba, n, NULL, iov, cnt, 0)) {
		sense_set(s, SK_MEDIUM_ERROR, 0x0C, 0x00);
		return -1;
	}
	if (fua && fdatasync(d->fd)) {
		sense_set(s, SK_MEDIUM_ERROR, 0x0C, 0x00);
		return -1;
	}
	return 0;
}

static int do_write_same(struct odx_dev *d, const uint8_t *cdb, const struct iovec *iov, size_t cnt,
			 struct odx_sense *s)
{
	bool ws16 = cdb[0] == 0x93, ndob = ws16 && (cdb[1] & 0x01);
	uint64_t lba = ws16 ? get_be64(&cdb[2]) : get_be32(&cdb[2]);
	uint64_t n = ws16 ? get_be32(&cdb[10]) : get_be16(&cdb[7]);
	uint8_t *pattern = NULL, *buf = NULL;
	uint32_t per = ODX_CHUNK / d->bs;
	bool unmap;
	int rc = -1;

	if (bad_protect(cdb, s))
		return -1;
	if (cdb[1] & (d->k.thin ? 0x16 : 0x1E)) {
		/* ANCHOR is never offered (ANC_SUP 0); UNMAP only on a thin LU
		 * (without: LBPME 0, no VPD 0xB2, LBPWS/LBPWS10 0); LBDATA and
		 * PBDATA are obsolete (SBC-3 5.42/5.43) */
		uint8_t bad = cdb[1] & (d->k.thin ? 0x16 : 0x1E);

		sense_set(s, SK_ILLEGAL_REQUEST, 0x24, 0x00);
		sense_set_field(s, true, 1, 31 - __builtin_clz(bad));
		return -1;
	}
	unmap = cdb[1] & 0x08;
	if (n == 0)			/* WSNZ = 0: zero blocks means "to the end" */
		n = lba < d->nblocks ? d->nblocks - lba : 0;
	if (!range_ok(d, lba, n, s))
		return -1;
	if (unmap) {
		/* The data-out block is not looked at: the blocks are deallocated
		 * and read zeros (LBPRZ), as LIO and FreeBSD CTL do and libiscsi's
		 * WriteSame10/16.UnmapUntilEnd expect (they send 0xFF blocks). It
		 * must still have been sent, as without UNMAP. */
		if (!ndob && iov_len(iov, cnt) < d->bs) {
			sense_invalid_cdb(s, ws16 ? 10 : 7);
			return -1;
		}
		if (odx_deallocate(d, lba, n)) {
			sense_set(s, SK_MEDIUM_ERROR, 0x0C, 0x00);
			return -1;
		}
		return 0;
	}
	if (!ndob) {
		pattern = malloc(d->bs);
		if (!pattern || iov_copy_in(pattern, d->bs, iov, cnt, 0) < d->bs) {
			free(pattern);
			sense_invalid_cdb(s, ws16 ? 10 : 7);
			return -1;
		}
		buf = malloc(ODX_CHUNK);
		if (!buf)
			goto hw;
		for (uint32_t i = 0; i < per; i++)
			memcpy(buf + (size_t)i * d->bs, pattern, d->bs);
	}
	while (n) {
		uint64_t k = n > per ? per : n;

		if (odx_write(d, lba, k, buf)) {
			sense_set(s, SK_MEDIUM_ERROR, 0x0C, 0x00);
			goto out;
		}
		lba += k;
		n -= k;
	}
	rc = 0;
	goto out;
hw:
	sense_set(s, SK_HARDWARE_ERROR, 0x44, 0x00);
out:
	free(pattern);
	free(buf);
	return rc;
}

/*
 * VERIFY(10/12/16), SBC-3 5.27-5.29. BYTCHK 00b: medium verification only (the
 * file is readable: GOOD); 01b: the data-out holds the blocks to compare;
 * 11b: one block, compared with each block of the range; 10b is reserved. A
 * difference is MISCOMPARE / MISCOMPARE DURING VERIFY OPERATION with the
 * offset of the first differing byte of the data-out in INFORMATION.
 */
static int do_verify(struct odx_dev *d, const uint8_t *cdb, const struct iovec *iov, size_t cnt,
		     struct odx_sense *s)
{
	uint8_t bytchk = (cdb[1] >> 1) & 0x03;
	uint64_t lba = cdb[0] == 0x8F ? get_be64(&cdb[2]) : get_be32(&cdb[2]);
	uint32_t n = cdb[0] == 0x2F ? get_be16(&cdb[7]) : cdb[0] == 0xAF ? get_be32(&cdb[6]) : get_be32(&cdb[10]);
	uint32_t per = ODX_CHUNK / d->bs;
	uint8_t *want = NULL, *have = NULL;
	int rc = -1;

	if (bad_protect(cdb, s))
		return -1;
	if (bytchk == 0x02) {
		sense_set(s, SK_ILLEGAL_REQUEST, 0x24, 0x00);
		sense_set_field(s, true, 1, 2);
		return -1;
	}
	if (!range_ok(d, lba, n, s))
		return -1;
	if (!bytchk || !n)
		return 0;
	if (iov_len(iov, cnt) < (bytchk == 0x03 ? d->bs : (size_t)n * d->bs)) {
		/* data-out shorter than the CDB asks for */
		sense_invalid_cdb(s, cdb[0] == 0x2F ? 7 : cdb[0] == 0xAF ? 6 : 10);
		return -1;
	}
	want = malloc(ODX_CHUNK);
	have = malloc(ODX_CHUNK);
	if (!want || !have) {
		sense_set(s, SK_HARDWARE_ERROR, 0x44, 0x00);
		goto out;
	}
	if (bytchk == 0x03) {
		iov_copy_in(want, d->bs, iov, cnt, 0);
		for (uint32_t i = 1; i < per; i++)
			memcpy(want + (size_t)i * d->bs, want, d->bs);
	}
	for (uint64_t done = 0; done < n;) {
		uint64_t k = n - done > per ? per : n - done;
		size_t bytes = (size_t)k * d->bs;

		if (bytchk == 0x01)
			iov_copy_in(want, bytes, iov, cnt, (size_t)done * d->bs);
		if (odx_pread_full(d->fd, have, bytes, (lba + done) * d->bs)) {
			sense_set(s, SK_MEDIUM_ERROR, 0x11, 0x00);
			goto out;
		}
		if (memcmp(want, have, bytes)) {
			size_t i = 0;

			while (want[i] == have[i])
				i++;
			sense_set(s, 0xE, 0x1D, 0x00);	/* MISCOMPARE */
			sense_set_info(s, bytchk == 0x03 ? (done * d->bs + i) % d->bs : done * d->bs + i);
			goto out;
		}
		done += k;
	}
	rc = 0;
out:
	free(want);
	free(have);
	return rc;
}

/* Compare n blocks at lba with the data-out from byte ioff on; 1 and the offset
 * (from ioff) of the first differing byte when they differ, -1 on a read error. */
static int compare_iov(struct odx_dev *d, uint64_t lba, uint64_t n, const struct iovec *iov, size_t cnt,
		       size_t ioff, uint8_t *want, uint8_t *have, uint64_t *at)
{
	uint32_t per = ODX_CHUNK / d->bs;

	for (uint64_t done = 0; done < n;) {
		uint64_t k = n - done > per ? per : n - done;
		size_t bytes = (size_t)k * d->bs;

		iov_copy_in(want, bytes, iov, cnt, ioff + (size_t)done * d->bs);
		if (odx_pread_full(d->fd, have, bytes, (lba + done) * d->bs))
			return -1;
		if (memcmp(want, have, bytes)) {
			size_t i = 0;

			while (want[i] == have[i])
				i++;
			*at = done * d->bs + i;
			return 1;
		}
		done += k;
	}
	return 0;
}

/*
 * WRITE AND VERIFY(10/12/16), SBC-3 5.40-5.42: the write, then (BYTCHK 01b) the
 * blocks read back and compared with the data-out; BYTCHK 00b: medium
 * verification only; 10b and 11b are reserved here.
 */
static int do_write_verify(struct odx_dev *d, const uint8_t *cdb, const struct iovec *iov, size_t cnt,
			   struct odx_sense *s)
{
	uint8_t bytchk = (cdb[1] >> 1) & 0x03;
	uint64_t lba = cdb[0] == 0x8E ? get_be64(&cdb[2]) : get_be32(&cdb[2]), at = 0;
	uint32_t n = cdb[0] == 0x2E ? get_be16(&cdb[7]) : cdb[0] == 0xAE ? get_be32(&cdb[6]) : get_be32(&cdb[10]);
	uint8_t *want = NULL, *have = NULL;
	int rc = -1, c;

	if (bad_protect(cdb, s))
		return -1;
	if (bytchk > 1) {
		sense_set(s, SK_ILLEGAL_REQUEST, 0x24, 0x00);
		sense_set_field(s, true, 1, 2);
		return -1;
	}
	if (!range_ok(d, lba, n, s))
		return -1;
	if (iov_len(iov, cnt) < (size_t)n * d->bs) {
		sense_invalid_cdb(s, cdb[0] == 0x2E ? 7 : cdb[0] == 0xAE ? 6 : 10);
		return -1;
	}
	if (write_common(d, lba, n, NULL, iov, cnt, 0) || fdatasync(d->fd)) {
		sense_set(s, SK_MEDIUM_ERROR, 0x0C, 0x00);
		return -1;
	}
	if (!bytchk || !n)
		return 0;
	want = malloc(ODX_CHUNK);
	have = malloc(ODX_CHUNK);
	if (!want || !have) {
		sense_set(s, SK_HARDWARE_ERROR, 0x44, 0x00);
		goto out;
	}
	c = compare_iov(d, lba, n, iov, cnt, 0, want, have, &at);
	if (c < 0) {
		sense_set(s, SK_MEDIUM_ERROR, 0x11, 0x00);
		goto out;
	}
	if (c > 0) {
		sense_set(s, 0xE, 0x1D, 0x00);
		sense_set_info(s, at);
		goto out;
	}
	rc = 0;
out:
	free(want);
	free(have);
	return rc;
}

/*
 * COMPARE AND WRITE, SBC-3 5.2: the data-out holds n verify blocks, then n
 * write blocks; the compare and the write happen under odx_lock, so no other
 * write of this process (any command, any thread) lands between them. At most
 * MAXIMUM COMPARE AND WRITE LENGTH blocks (VPD 0xB0: 1); 0 blocks do nothing.
 */
#define ODX_MAX_CAW 1

static int do_compare_and_write(struct odx_dev *d, const uint8_t *cdb, const struct iovec *iov, size_t cnt,
				struct odx_sense *s)
{
	uint64_t lba = get_be64(&cdb[2]), at = 0;
	uint32_t n = cdb[13];
	bool fua = cdb[1] & 0x08;
	uint8_t *want = NULL, *have = NULL;
	int rc = -1, c;

	if (bad_protect(cdb, s))
		return -1;
	if (n > ODX_MAX_CAW) {
		sense_invalid_cdb(s, 13);
		return -1;
	}
	if (!range_ok(d, lba, n, s))
		return -1;
	if (!n)
		return 0;
	if (iov_len(iov, cnt) < 2 * (size_t)n * d->bs) {
		sense_invalid_cdb(s, 13);
		return -1;
	}
	want = malloc((size_t)n * d->bs);
	have = malloc((size_t)n * d->bs);
	if (!want || !have) {
		sense_set(s, SK_HARDWARE_ERROR, 0x44, 0x00);
		goto out;
	}
	pthread_mutex_lock(&odx_lock);
	c = compare_iov(d, lba, n, iov, cnt, 0, want, have, &at);
	if (c == 0 && write_locked(d, lba, n, NULL, iov, cnt, (size_t)n * d->bs))
		c = -2;
	pthread_mutex_unlock(&odx_lock);
	if (c == 1) {
		sense_set(s, 0xE, 0x1D, 0x00);		/* MISCOMPARE DURING VERIFY OPERATION */
		sense_set_info(s, at);
		goto out;
	}
	if (c < 0 || (fua && fdatasync(d->fd))) {
		sense_set(s, SK_MEDIUM_ERROR, c == -1 ? 0x11 : 0x0C, 0x00);
		goto out;
	}
	rc = 0;
out:
	free(want);
	free(have);
	return rc;
}

static int do_read_capacity(struct odx_dev *d, const uint8_t *cdb, const struct iovec *iov, size_t cnt,
			    struct odx_sense *s)
{
	uint8_t b[32];

	memset(b, 0, sizeof(b));
	if (cdb[0] == 0x25) {
		uint64_t last = d->nblocks - 1;

		put_be32(&b[0], last > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)last);
		put_be32(&b[4], d->bs);
		data_in(iov, cnt, b, 8, 8);
		return 0;
	}
	if ((cdb[1] & 0x1F) == 0x12 && d->k.thin)
		return odx_get_lba_status(d, cdb, iov, cnt, s);
	if ((cdb[1] & 0x1F) != 0x10)
		return 1;		/* other SERVICE ACTION IN(16): not ours */
	put_be64(&b[0], d->nblocks - 1);
	put_be32(&b[8], d->bs);
	/* P_TYPE, LBPPBE, LOWEST ALIGNED: zero; thin: LBPME and LBPRZ (holes read zeros) */
	if (d->k.thin)
		b[14] = 0xC0;
	data_in(iov, cnt, b, 32, get_be32(&cdb[10]));
	(void)s;
	return 0;
}

/* ------------------------------------------------------------------ */
/* dispatch                                                            */

static int finish(struct tcmulib_cmd *cmd, int rc, struct odx_sense *s)
{
	if (rc == 0)
		return TCMU_STS_OK;
	memcpy(cmd->sense_buf, s->b, ODX_SENSE_LEN);
	memset(cmd->sense_buf + ODX_SENSE_LEN, 0, SENSE_BUFFERSIZE - ODX_SENSE_LEN);
	return TCMU_STS_PASSTHROUGH_ERR;
}

static int handle_cmd(struct tcmu_device *tdev, struct tcmur_cmd *tcmur_cmd)
{
	struct tcmulib_cmd *cmd = tcmur_cmd->lib_cmd;
	struct odx_dev *d = tcmur_dev_get_private(tdev);
	const uint8_t *cdb = cmd->cdb;
	const struct iovec *iov = cmd->iovec;
	size_t cnt = cmd->iov_cnt;
	struct odx_sense s = { 0 };
	int rc;

	if (!d)
		return TCMU_STS_NOT_HANDLED;
	odx_reply_len = SIZE_MAX;
	switch (cdb[0]) {
	case 0x12:				/* INQUIRY */
		rc = odx_inquiry(d, cdb, iov, cnt, &s);
		break;
	case 0x25:				/* READ CAPACITY(10) */
	case 0x9E:				/* SERVICE ACTION IN(16) */
		rc = do_read_capacity(d, cdb, iov, cnt, &s);
		if (rc > 0)
			return TCMU_STS_NOT_HANDLED;
		break;
	case 0x08: case 0x28: case 0xA8: case 0x88:
		rc = do_read(d, cdb, iov, cnt, &s);
		break;
	case 0x0A: case 0x2A: case 0xAA: case 0x8A:
		rc = do_write(d, cdb, iov, cnt, &s);
		break;
	case 0x2E: case 0xAE: case 0x8E:	/* WRITE AND VERIFY(10/12/16) */
		rc = do_write_verify(d, cdb, iov, cnt, &s);
		break;
	case 0x89:				/* COMPARE AND WRITE */
		rc = do_compare_and_write(d, cdb, iov, cnt, &s);
		break;
	case 0x2F: case 0xAF: case 0x8F:	/* VERIFY(10/12/16) */
		rc = do_verify(d, cdb, iov, cnt, &s);
		break;
	case 0xA3:				/* MAINTENANCE IN */
		if ((cdb[1] & 0x1F) != 0x0C)
			return TCMU_STS_NOT_HANDLED;	/* RTPG...: tcmu-runner's */
		rc = odx_rsoc(d, cdb, iov, cnt, &s);
		break;
	case 0x1A: case 0x5A:			/* MODE SENSE(6/10) */
		rc = odx_mode_sense(d, cdb, iov, cnt, &s);
		break;
	case 0x41: case 0x93:			/* WRITE SAME(10/16) */
		rc = do_write_same(d, cdb, iov, cnt, &s);
		break;
	case 0x42:				/* UNMAP */
		if (!d->k.thin)
			return TCMU_STS_NOT_HANDLED;	/* tcmu-runner: 20/00 */
		rc = odx_unmap(d, cdb, iov, cnt, &s);
		break;
	case 0x35: case 0x91:			/* SYNCHRONIZE CACHE(10/16) */
		rc = fdatasync(d->fd) ? -1 : 0;
		if (rc)
			sense_set(&s, SK_MEDIUM_ERROR, 0x0C, 0x00);
		break;
	case 0x83:				/* THIRD-PARTY COPY OUT */
		rc = odx_tpc_out(d, cdb, iov, cnt, &s);
		break;
	case 0x84:				/* THIRD-PARTY COPY IN */
		rc = odx_tpc_in(d, cdb, iov, cnt, &s);
		break;
	default:
		/* TEST UNIT READY, MODE SELECT, FORMAT UNIT, START STOP
		 * UNIT, RTPG ...: tcmu-runner's emulation,
		 * whose data path comes back through odx_read/odx_write below */
		return TCMU_STS_NOT_HANDLED;
	}
	if (rc > 0)
		return TCMU_STS_NOT_HANDLED;
	if (rc == 0 && odx_reply_len < iov_len(iov, cnt))
		odx_set_read_len(tdev, cmd->cmd_id, (uint32_t)odx_reply_len);
	return finish(cmd, rc, &s);
}

/*
 * tcmu-runner stops a device by cancelling its threads; a cancel that lands
 * inside one of our file calls would leave odx_lock held. Commands therefore
 * run with cancellation off: the cancel takes effect once they are done.
 */
static int odx_handle_cmd(struct tcmu_device *tdev, struct tcmur_cmd *tcmur_cmd)
{
	int old, rc;

	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
	rc = handle_cmd(tdev, tcmur_cmd);
	pthread_setcancelstate(old, NULL);
	return rc;
}

/* read/write/flush callouts used by tcmu-runner's own emulations */
static int odx_read_cb(struct tcmu_device *tdev, struct tcmur_cmd *cmd, struct iovec *iov,
		       size_t cnt, size_t len, off_t off)
{
	struct odx_dev *d = tcmur_dev_get_private(tdev);

	(void)cmd;
	for (; cnt && len; iov++, cnt--) {
		size_t k = iov->iov_len < len ? iov->iov_len : len;

		if (odx_pread_full(d->fd, iov->iov_base, k, (uint64_t)off))
			return TCMU_STS_RD_ERR;
		off += (off_t)k;
		len -= k;
	}
	return TCMU_STS_OK;
}

static int odx_write_cb(struct tcmu_device *tdev, struct tcmur_cmd *cmd, struct iovec *iov,
			size_t cnt, size_t len, off_t off)
{
	struct odx_dev *d = tcmur_dev_get_private(tdev);

	int old, rc = TCMU_STS_OK;

	(void)cmd;
	if (off % d->bs || len % d->bs)
		return TCMU_STS_WR_ERR;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
	if (write_common(d, (uint64_t)off / d->bs, len / d->bs, NULL, iov, cnt, 0))
		rc = TCMU_STS_WR_ERR;
	pthread_setcancelstate(old, NULL);
	return rc;
}

static int odx_flush_cb(struct tcmu_device *tdev, struct tcmur_cmd *cmd)
{
	struct odx_dev *d = tcmur_dev_get_private(tdev);

	(void)cmd;
	return fdatasync(d->fd) ? TCMU_STS_WR_ERR : TCMU_STS_OK;
}

static const char odx_cfg_desc[] =
	"odx/<file>[?knob=value&...]: a raw file with POPULATE TOKEN / WRITE USING TOKEN "
	"and EXTENDED COPY between LUNs of this process; knobs in test/targets/odx/README.md";

static struct tcmur_handler odx_handler = {
	.name = "ODX token copy test target",
	.subtype = "odx",
	.cfg_desc = odx_cfg_desc,
	.check_config = odx_check_config,
	.reconfig = odx_reconfig,
	.open = odx_open,
	.close = odx_close,
	.handle_cmd = odx_handle_cmd,
	.read = odx_read_cb,
	.write = odx_write_cb,
	.flush = odx_flush_cb,
	/* the callouts above run on one runner I/O thread; handle_cmd runs on
	 * the device's command thread either way */
	.nr_threads = 1,
};

/* the one symbol tcmu-runner looks up (the build hides everything else) */
__attribute__((visibility("default"))) int handler_init(void);

int handler_init(void)
{
	if (!zero_buf) {
		zero_buf = calloc(1, ODX_CHUNK);
		if (!zero_buf)
			return -ENOMEM;
	}
	return tcmur_register_handler(&odx_handler);
}
