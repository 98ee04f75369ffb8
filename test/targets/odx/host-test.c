/*
 * Host-side test of the odx handler without tcmu-runner or SCSI: the handler's
 * sources are compiled together with stand-ins for the few tcmu-runner/libtcmu
 * functions it calls, and commands go straight to handle_cmd. Built with
 * AddressSanitizer/UBSan by host-test.sh; it catches crashes and out-of-bounds
 * access on bad initiator input (the fuzz section) in seconds. The real proof
 * is conformance.sh in the lab VM (LIO TCMU -> tcmu-runner -> this handler).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
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

/* ---- stand-ins for tcmu-runner / libtcmu ---- */

struct tcmu_device {
	char cfg[512];
	uint32_t bs;
	uint64_t lbas;
	void *priv;
	char serial[64];
	char uio[16];
};

static struct tcmur_handler *H;
static int verbose;

char *tcmu_dev_get_cfgstring(struct tcmu_device *d) { return d->cfg; }
uint32_t tcmu_dev_get_block_size(struct tcmu_device *d) { return d->bs; }
void tcmu_dev_set_block_size(struct tcmu_device *d, uint32_t bs) { d->bs = bs; }
uint64_t tcmu_dev_get_num_lbas(struct tcmu_device *d) { return d->lbas; }
void tcmu_dev_set_num_lbas(struct tcmu_device *d, uint64_t n) { d->lbas = n; }
uint32_t tcmu_dev_get_max_xfer_len(struct tcmu_device *d) { (void)d; return 128; }
const char *tcmu_dev_get_uio_name(struct tcmu_device *d) { return d->uio; }
char *tcmu_cfgfs_dev_get_wwn(struct tcmu_device *d) { return strdup(d->serial); }
void tcmu_dev_set_write_cache_enabled(struct tcmu_device *d, bool e) { (void)d; (void)e; }
void *tcmur_dev_get_private(struct tcmu_device *d) { return d->priv; }
void tcmur_dev_set_private(struct tcmu_device *d, void *p) { d->priv = p; }
int tcmur_register_handler(struct tcmur_handler *h) { H = h; return 0; }
/* odx_ring.c writes into tcmu-runner's command ring; here the length is only recorded */
static long read_len = -1;
bool odx_set_read_len(struct tcmu_device *d, uint16_t id, uint32_t len) { (void)d; (void)id; read_len = len; return true; }

static void logmsg(const char *lvl, const char *fmt, va_list ap)
{
	fprintf(stderr, "  [%s] ", lvl);
	vfprintf(stderr, fmt, ap);
}
#define LOGFN(name, lvl, always) \
	void name(struct tcmu_device *dev, const char *f, int l, const char *fmt, ...) \
	{ va_list ap; (void)dev; (void)f; (void)l; if (!(always || verbose)) return; \
	  va_start(ap, fmt); logmsg(lvl, fmt, ap); va_end(ap); }
LOGFN(tcmu_err_message, "ERR", verbose)
LOGFN(tcmu_warn_message, "WARN", 0)
LOGFN(tcmu_info_message, "INFO", 0)

int handler_init(void);

/* ---- test plumbing ---- */

static int passed, failed;
static char dir[256];

#define CHECK(cond, ...) do { if (cond) { passed++; } else { failed++; \
	printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); } } while (0)

struct res { int sts; uint8_t key, asc, ascq; uint8_t sense[18]; };

static struct res cmd(struct tcmu_device *d, const uint8_t *cdb, void *buf, size_t len)
{
	struct tcmulib_cmd lc;
	struct tcmur_cmd rc;
	struct iovec iov = { buf, len };
	uint8_t cdbcopy[32];
	struct res r = { 0 };

	memset(&lc, 0, sizeof(lc));
	memset(&rc, 0, sizeof(rc));
	memcpy(cdbcopy, cdb, 16);
	lc.cdb = cdbcopy;
	lc.iovec = len ? &iov : NULL;
	lc.iov_cnt = len ? 1 : 0;
	rc.lib_cmd = &lc;
	read_len = -1;
	r.sts = H->handle_cmd(d, &rc);
	if (r.sts == TCMU_STS_PASSTHROUGH_ERR) {
		memcpy(r.sense, lc.sense_buf, 18);
		r.key = lc.sense_buf[2] & 0x0F;
		r.asc = lc.sense_buf[12];
		r.ascq = lc.sense_buf[13];
	}
	return r;
}

#define GOOD(r) ((r).sts == TCMU_STS_OK)
#define SENSE(r, k, a, q) ((r).sts == TCMU_STS_PASSTHROUGH_ERR && (r).key == (k) && (r).asc == (a) && (r).ascq == (q))

static struct tcmu_device *mkdev(const char *name, uint64_t mib, const char *knobs, int *open_rc)
{
	struct tcmu_device *d = calloc(1, sizeof(*d));

	snprintf(d->cfg, sizeof(d->cfg), "odx/%s/%s.img%s%s", dir, name, *knobs ? "?" : "", knobs);
	d->bs = 512;
	d->lbas = (mib << 20) / 512;
	snprintf(d->serial, sizeof(d->serial), "odxlab%s", name);
	snprintf(d->uio, sizeof(d->uio), "uio-%s", name);
	*open_rc = H->open(d, false);
	return d;
}

static struct tcmu_device *dev(const char *name, uint64_t mib, const char *knobs)
{
	int rc;
	struct tcmu_device *d = mkdev(name, mib, knobs, &rc);

	if (rc) {
		printf("FATAL: open %s (%s) failed\n", name, knobs);
		exit(1);
	}
	return d;
}

static void closedev(struct tcmu_device *d)
{
	H->close(d);
	free(d);
}

static char *path_of(struct tcmu_device *d)
{
	static char p[600];
	char *q = strchr(d->cfg, '/') + 1, *e;

	snprintf(p, sizeof(p), "%s", q);
	e = strchr(p, '?');
	if (e)
		*e = 0;
	return p;
}

static void cdb16(uint8_t *c, uint8_t op, uint8_t sa, uint32_t id, uint32_t len)
{
	memset(c, 0, 16);
	c[0] = op;
	c[1] = sa;
	put_be32(&c[2], 0);
	if (op == 0x83 && (sa == 0x10 || sa == 0x11)) {
		put_be32(&c[6], id);
		put_be32(&c[10], len);
	} else if (op == 0x83 && sa == 0x00) {
		put_be32(&c[10], len);
	} else {
		put_be32(&c[2], id);
		put_be32(&c[10], len);
	}
}

/* build a POPULATE TOKEN parameter list */
static size_t pt_list(uint8_t *b, uint8_t flags, uint32_t tmo, uint32_t rod, int n, const uint64_t *lba,
		      const uint32_t *cnt)
{
	memset(b, 0, 16 + 16 * n);
	put_be16(&b[0], (uint16_t)(14 + 16 * n));
	b[2] = flags;
	put_be32(&b[4], tmo);
	put_be32(&b[8], rod);
	put_be16(&b[14], (uint16_t)(16 * n));
	for (int i = 0; i < n; i++) {
		put_be64(&b[16 + 16 * i], lba[i]);
		put_be32(&b[24 + 16 * i], cnt[i]);
	}
	return 16 + 16 * (size_t)n;
}

static size_t wut_list(uint8_t *b, uint8_t flags, uint64_t off, const uint8_t *tok, int n, const uint64_t *lba,
		       const uint32_t *cnt)
{
	memset(b, 0, 536 + 16 * n);
	put_be16(&b[0], (uint16_t)(534 + 16 * n));
	b[2] = flags;
	put_be64(&b[8], off);
	memcpy(&b[16], tok, 512);
	put_be16(&b[534], (uint16_t)(16 * n));
	for (int i = 0; i < n; i++) {
		put_be64(&b[536 + 16 * i], lba[i]);
		put_be32(&b[544 + 16 * i], cnt[i]);
	}
	return 536 + 16 * (size_t)n;
}

static struct res pt(struct tcmu_device *d, uint32_t id, uint8_t flags, uint32_t tmo, uint32_t rod, int n,
		     const uint64_t *lba, const uint32_t *cnt)
{
	uint8_t b[16 + 16 * 70], c[16];
	size_t l = pt_list(b, flags, tmo, rod, n, lba, cnt);

	cdb16(c, 0x83, 0x10, id, (uint32_t)l);
	return cmd(d, c, b, l);
}

static struct res wut(struct tcmu_device *d, uint32_t id, uint8_t flags, uint64_t off, const uint8_t *tok,
		      int n, const uint64_t *lba, const uint32_t *cnt)
{
	uint8_t b[536 + 16 * 70], c[16];
	size_t l = wut_list(b, flags, off, tok, n, lba, cnt);

	cdb16(c, 0x83, 0x11, id, (uint32_t)l);
	return cmd(d, c, b, l);
}

/* RRTI into out[1024]; returns the result */
static struct res rrti(struct tcmu_device *d, uint32_t id, uint8_t *out)
{
	uint8_t c[16];

	memset(out, 0, 1024);
	cdb16(c, 0x84, 0x07, id, 1024);
	return cmd(d, c, out, 1024);
}

static int get_token(struct tcmu_device *d, uint32_t id, uint8_t *tok)
{
	uint8_t r[1024];

	if (!GOOD(rrti(d, id, r)) || get_be32(&r[32]) != 514)
		return -1;
	memcpy(tok, &r[38], 512);
	return 0;
}

static void fill_random_file(struct tcmu_device *d, uint64_t bytes)
{
	int fd = open(path_of(d), O_WRONLY);
	uint8_t *b = malloc(bytes);

	for (uint64_t i = 0; i < bytes; i++)
		b[i] = (uint8_t)rand();
	if (pwrite(fd, b, bytes, 0) != (ssize_t)bytes)
		abort();
	close(fd);
	free(b);
}

static int same(struct tcmu_device *a, uint64_t aoff, struct tcmu_device *b, uint64_t boff, uint64_t len)
{
	int fa = open(path_of(a), O_RDONLY), fb = open(path_of(b), O_RDONLY);
	uint8_t *x = malloc(len), *y = malloc(len);
	int ok = pread(fa, x, len, aoff) == (ssize_t)len && pread(fb, y, len, boff) == (ssize_t)len &&
		 !memcmp(x, y, len);

	close(fa);
	close(fb);
	free(x);
	free(y);
	return ok;
}

static int is_zero(struct tcmu_device *a, uint64_t off, uint64_t len)
{
	int f = open(path_of(a), O_RDONLY);
	uint8_t *x = malloc(len);
	int ok = pread(f, x, len, off) == (ssize_t)len;

	for (uint64_t i = 0; ok && i < len; i++)
		ok = !x[i];
	close(f);
	free(x);
	return ok;
}

static struct res write10(struct tcmu_device *d, uint32_t lba, uint16_t n, uint8_t val)
{
	uint8_t c[16] = { 0x2A }, *b = malloc((size_t)n * 512);
	struct res r;

	memset(b, val, (size_t)n * 512);
	put_be32(&c[2], lba);
	put_be16(&c[7], n);
	r = cmd(d, c, b, (size_t)n * 512);
	free(b);
	return r;
}

static int is_pattern(struct tcmu_device *d, uint64_t off, size_t len, uint8_t v)
{
	uint8_t *b = malloc(len);
	int fd = open(path_of(d), O_RDONLY), ok;

	ok = fd >= 0 && pread(fd, b, len, (off_t)off) == (ssize_t)len;
	for (size_t i = 0; ok && i < len; i++)
		ok = b[i] == v;
	if (fd >= 0)
		close(fd);
	free(b);
	return ok;
}

/* ---- tests ---- */

static void t_inquiry(struct tcmu_device *a)
{
	uint8_t c[16] = { 0x12, 0, 0, 0, 255 }, b[2048];
	struct res r;
	size_t off;
	int seen = 0;

	r = cmd(a, c, b, 255);
	CHECK(GOOD(r) && (b[5] & 0x08), "INQUIRY 3PC");
	c[1] = 1; c[2] = 0x00;
	r = cmd(a, c, b, 255);
	CHECK(GOOD(r) && memchr(&b[4], 0x8F, b[3]), "VPD 0x00 lists 0x8F");
	c[2] = 0x83;
	r = cmd(a, c, b, 255);
	CHECK(GOOD(r) && b[4] == 0x01 && b[5] == 0x03 && b[7] == 16 && (b[8] >> 4) == 6, "VPD 0x83 NAA-6");
	c[2] = 0x8F; c[3] = 0x08; c[4] = 0;
	r = cmd(a, c, b, 2048);
	CHECK(GOOD(r), "VPD 0x8F");
	for (off = 4; off + 4 <= 4u + get_be16(&b[2]);) {
		uint16_t t = get_be16(&b[off]), l = get_be16(&b[off + 2]);

		CHECK(l % 4 == 0, "0x8F descriptor %04x length %u multiple of 4", t, l);
		if (t == 0x0000) seen |= 1;
		if (t == 0x0001) seen |= 2;
		if (t == 0x0004) seen |= 4;
		if (t == 0x0008) seen |= 8;
		if (t == 0x000C) seen |= 16;
		if (t == 0x0106) seen |= 32;
		if (t == 0x0108) seen |= 64;
		if (t == 0x8001) seen |= 128;
		off += 4 + l;
	}
	CHECK(off == 4u + get_be16(&b[2]) && seen == 255, "0x8F walks to its end, all 8 descriptors (%x)", seen);
	c[2] = 0x99; c[3] = 0; c[4] = 255;
	r = cmd(a, c, b, 255);
	CHECK(SENSE(r, 5, 0x24, 0), "unknown VPD page -> 24/00");
}

static void t_rw(struct tcmu_device *a)
{
	uint8_t c[16] = { 0x88 }, b[4096];
	struct res r;

	r = write10(a, 100, 8, 0x5A);
	CHECK(GOOD(r), "WRITE(10)");
	put_be64(&c[2], 100);
	put_be32(&c[10], 8);
	r = cmd(a, c, b, 4096);
	CHECK(GOOD(r) && b[0] == 0x5A && b[4095] == 0x5A, "READ(16) reads it back");
	put_be64(&c[2], a->lbas - 4);
	r = cmd(a, c, b, 4096);
	CHECK(SENSE(r, 5, 0x21, 0), "READ past the end -> 21/00");
	memset(c, 0, 16);
	c[0] = 0x93; c[1] = 0x01;			/* WRITE SAME(16) NDOB */
	put_be64(&c[2], 100);
	put_be32(&c[10], 8);
	r = cmd(a, c, NULL, 0);
	CHECK(GOOD(r) && is_zero(a, 100 * 512, 4096), "WRITE SAME(16) NDOB zeroes");
	memset(c, 0, 16);
	c[0] = 0x9E; c[1] = 0x10; c[13] = 32;
	r = cmd(a, c, b, 32);
	CHECK(GOOD(r) && get_be64(b) == a->lbas - 1 && get_be32(&b[8]) == 512, "READ CAPACITY(16)");
}

static void t_token_basic(struct tcmu_device *a, struct tcmu_device *b)
{
	uint64_t lba[3] = { 0, 4096, 10000 }, dl[2] = { 20000, 30000 };
	uint32_t n[3] = { 2048, 1024, 512 }, dn[2] = { 1000, 2584 };
	uint8_t tok[512], r[1024];
	struct res x;

	fill_random_file(a, 8 << 20);
	x = pt(a, 1, 0, 0, 0, 1, lba, n);
	CHECK(GOOD(x), "PT 1 range");
	x = rrti(a, 1, r);
	CHECK(GOOD(x) && r[4] == 0x10 && r[5] == 0x01 && r[15] == 0xF1 && get_be64(&r[16]) == 2048 &&
	      get_be32(&r[0]) == 546, "RRTI after PT: op 10, status 1, 2048 blocks, 550 bytes");
	CHECK(!get_token(a, 1, tok), "token in RRTI");
	x = wut(b, 2, 0, 0, tok, 1, lba, n);
	CHECK(GOOD(x) && same(a, 0, b, 0, 2048 * 512), "WUT cross-LU copies the bytes");
	x = rrti(b, 2, r);
	CHECK(GOOD(x) && r[4] == 0x11 && r[5] == 1 && get_be64(&r[16]) == 2048 && get_be32(&r[32]) == 0,
	      "RRTI after WUT: no token, 2048 blocks");

	/* 3 source ranges, 2 destination ranges, offset into ROD */
	x = pt(a, 3, 0, 0, 0, 3, lba, n);
	CHECK(GOOD(x) && !get_token(a, 3, tok), "PT 3 ranges");
	x = wut(b, 4, 0, 100, tok, 2, dl, dn);
	CHECK(GOOD(x), "WUT 2 ranges offset 100");
	/* ROD = a[0..2048) a[4096..5120) a[10000..10512); from 100: 1948 from the first */
	CHECK(same(a, 100 * 512, b, 20000 * 512, 1000 * 512), "WUT piece 1");
	CHECK(same(a, 1100 * 512, b, 30000 * 512, 948 * 512), "WUT piece 2");
	CHECK(same(a, 4096 * 512, b, 30948 * 512, 1024 * 512), "WUT piece 3");
	CHECK(same(a, 10000 * 512, b, 31972 * 512, 512 * 512), "WUT piece 4");
	x = rrti(b, 4, r);
	CHECK(GOOD(x) && get_be64(&r[16]) == 3484 && r[5] == 0x04, "WUT wrote the 3484 the ROD had: residual");

	/* WUT asking for more than the ROD holds: residual (trunc_status) */
	x = wut(b, 5, 0, 3000, tok, 1, dl, dn + 1);
	x = rrti(b, 5, r);
	CHECK(GOOD(x) && get_be64(&r[16]) == 584 && r[5] == 0x04, "WUT past the ROD: 584 done, status 4");
	x = wut(b, 6, 0, 3584, tok, 1, dl, dn);
	CHECK(SENSE(x, 5, 0x26, 0), "OFFSET INTO ROD past the ROD -> 26/00");

	/* DEL_TKN then reuse */
	x = wut(b, 7, 0x02, 0, tok, 1, dl, dn);
	CHECK(GOOD(x), "WUT DEL_TKN");
	x = wut(b, 8, 0, 0, tok, 1, dl, dn);
	CHECK(SENSE(x, 5, 0x23, 0x09), "deleted token -> 23/09");

	/* zero token */
	memset(tok, 0, 512);
	put_be32(tok, 0xFFFF0001);
	put_be16(&tok[6], 0x01F8);
	x = wut(b, 9, 0, 0, tok, 1, lba, n);
	CHECK(GOOD(x) && is_zero(b, 0, 2048 * 512), "block device zero token");

	/* same-LU copy */
	x = pt(a, 10, 0, 0, 0, 1, lba, n);
	CHECK(GOOD(x) && !get_token(a, 10, tok), "PT for same-LU");
	x = wut(a, 11, 0, 0, tok, 1, dl, n);
	CHECK(GOOD(x) && same(a, 0, a, 20000 * 512, 2048 * 512), "same-LU WUT");
}

static void t_token_errors(struct tcmu_device *a, struct tcmu_device *b, struct tcmu_device *k4)
{
	uint64_t lba[2] = { 0, 100 }, big = a->lbas;
	uint32_t n[2] = { 200, 10 }, one = 1;
	uint8_t tok[512], bad[512];
	struct res x;

	x = pt(a, 20, 0, 0, 0, 1, lba, n);
	CHECK(GOOD(x) && !get_token(a, 20, tok), "PT");
	x = wut(k4, 21, 0, 0, tok, 1, lba, &one);
	CHECK(SENSE(x, 5, 0x23, 0x00), "512 token on 4096 LU -> 23/00");
	memcpy(bad, tok, 512);
	bad[300] ^= 1;
	x = wut(b, 22, 0, 0, bad, 1, lba, n);
	CHECK(SENSE(x, 5, 0x23, 0x05), "corrupt -> 23/05");
	memcpy(bad, tok, 512);
	put_be16(&bad[6], 0x100);
	x = wut(b, 22, 0, 0, bad, 1, lba, n);
	CHECK(SENSE(x, 5, 0x23, 0x0A), "bad length -> 23/0A");
	memcpy(bad, tok, 512);
	put_be32(bad, 0);
	x = wut(b, 22, 0, 0, bad, 1, lba, n);
	CHECK(SENSE(x, 5, 0x23, 0x01), "bad type -> 23/01");
	/* AUR: a write into the source range revokes */
	x = write10(a, 150, 1, 1);
	x = wut(b, 23, 0, 0, tok, 1, lba, n);
	CHECK(SENSE(x, 5, 0x23, 0x06), "written source -> 23/06");
	/* parameter errors */
	x = pt(a, 24, 0, 0, 0, 2, (uint64_t[]){ 0, 100 }, (uint32_t[]){ 200, 10 });
	CHECK(SENSE(x, 5, 0x26, 0x00), "overlapping ranges -> 26/00");
	x = pt(a, 24, 0, 0, 0, 1, &big, &one);
	CHECK(SENSE(x, 5, 0x21, 0x00) && x.sense[0] == 0xF0 && get_be32(&x.sense[3]) == big,
	      "range past end -> 21/00 with INFO");
	x = pt(a, 24, 0, 601, 0, 1, lba, n);
	CHECK(SENSE(x, 5, 0x26, 0x00) && get_be16(&x.sense[16]) == 4, "timeout > max -> 26/00 @4");
	x = pt(a, 24, 0x02, 0, 0x00800000, 1, lba, n);
	CHECK(SENSE(x, 5, 0x26, 0x00) && get_be16(&x.sense[16]) == 8, "PIT type on AUR LU -> 26/00 @8");
	{
		uint64_t l[65];
		uint32_t c[65];

		for (int i = 0; i < 65; i++) {
			l[i] = (uint64_t)i * 10;
			c[i] = 1;
		}
		x = pt(a, 24, 0, 0, 0, 65, l, c);
		CHECK(SENSE(x, 5, 0x26, 0x08), "65 ranges -> 26/08");
	}
	{
		uint8_t buf[32], c[16];

		pt_list(buf, 0, 0, 0, 1, lba, n);
		put_be16(&buf[14], 32);		/* claims 2 ranges, carries 1 */
		cdb16(c, 0x83, 0x10, 24, 32);
		x = cmd(a, c, buf, 32);
		CHECK(SENSE(x, 5, 0x1A, 0x00), "range list longer than the data -> 1A/00");
		cdb16(c, 0x83, 0x10, 24, 8);
		x = cmd(a, c, buf, 8);
		CHECK(SENSE(x, 5, 0x24, 0x00), "tiny parameter list -> 24/00");
	}
	x = rrti(a, 777, (uint8_t[1024]){ 0 });
	CHECK(SENSE(x, 5, 0x24, 0x00), "RRTI unknown list -> 24/00");
	/* expiry */
	x = pt(a, 25, 0, 1, 0, 1, lba, n);
	CHECK(GOOD(x) && !get_token(a, 25, tok), "PT timeout 1s");
	sleep(2);
	x = wut(b, 26, 0, 0, tok, 1, lba, n);
	CHECK(SENSE(x, 5, 0x23, 0x07), "expired -> 23/07");
}

static void t_pit(void)
{
	struct tcmu_device *p = dev("pit", 16, "token_mode=pit"), *q = dev("pitdst", 16, "");
	uint64_t lba = 0;
	uint32_t n = 2048;
	uint8_t tok[512], r[1024];
	struct res x;

	fill_random_file(p, 2 << 20);
	x = pt(p, 1, 0, 0, 0, 1, &lba, &n);
	CHECK(GOOD(x) && !get_token(p, 1, tok) && get_be32(tok) == 0x00800000, "PIT token");
	/* the original, for comparison: a same-LU copy at 8192 made before the write */
	x = wut(p, 3, 0, 0, tok, 1, (uint64_t[]){ 8192 }, &n);
	CHECK(GOOD(x), "same-LU WUT of the PIT token");
	x = rrti(p, 1, r);
	write10(p, 10, 100, 0xEE);
	write10(p, 2000, 100, 0xEE);		/* past the ROD end too */
	x = wut(q, 2, 0, 0, tok, 1, &lba, &n);
	CHECK(GOOD(x), "WUT after the source changed");
	CHECK(same(p, 8192 * 512, q, 0, 2048 * 512), "PIT: the data as it was at POPULATE TOKEN");
	closedev(q);
	closedev(p);
}

static void t_knobs(void)
{
	int rc;
	struct tcmu_device *d;
	char *why = NULL;

	d = mkdev("bad1", 4, "bogus=1", &rc);
	CHECK(rc != 0, "unknown knob fails open");
	free(d);
	d = mkdev("bad2", 4, "fail_pt=x:1/2/3", &rc);
	CHECK(rc != 0, "bad fault fails open");
	free(d);
	d = mkdev("bad3", 4, "inactivity_default=700", &rc);
	CHECK(rc != 0, "default > max fails open");
	free(d);
	CHECK(!H->check_config("odx//x.img?max_ranges=0", &why), "check_config refuses");
	free(why);
	CHECK(H->check_config("odx//x.img?max_ranges=8&tc_units=bytes&fail_wut=%3:A/0D/01", &why), "check_config accepts");
}

static void t_faults(void)
{
	struct tcmu_device *f = dev("flt", 16, "fail_pt=2:5/26/00&fail_wut=1:A/0D/01&fail_after_bytes=64k&fail_rrti=2&tc_units=bytes");
	struct tcmu_device *t = dev("trc", 16, "max_token_bytes=1m&max_wut_bytes=256k&trunc_status=3&trunc_every=3");
	uint64_t lba = 0, d2 = 8192;
	uint32_t n = 4096;
	uint8_t tok[512], r[1024];
	struct res x;

	x = pt(f, 1, 0, 0, 0, 1, &lba, &n);
	CHECK(GOOD(x), "1st PT fine");
	x = pt(f, 2, 0, 0, 0, 1, &lba, &n);
	CHECK(SENSE(x, 5, 0x26, 0x00), "2nd PT fails as told");
	x = rrti(f, 2, r);
	CHECK(GOOD(x) && r[5] == 0x02 && r[14] == 18 && r[32 + 12] == 0x26, "its RRTI: status 2 + sense");
	x = rrti(f, 1, r);
	CHECK(SENSE(x, 4, 0x44, 0x00), "2nd RRTI fails (HARDWARE ERROR 44/00 default)");
	CHECK(!get_token(f, 1, tok), "3rd RRTI fine");
	x = wut(f, 3, 0, 0, tok, 1, &d2, &n);
	CHECK(SENSE(x, 0xA, 0x0D, 0x01), "1st WUT fails as told");
	x = rrti(f, 3, r);
	CHECK(GOOD(x) && r[5] == 0x02 && r[15] == 0x00 && get_be64(&r[16]) == 65536, "after 64 KiB (bytes units)");

	x = pt(t, 1, 0, 0, 0, 1, &lba, &n);
	x = rrti(t, 1, r);
	CHECK(GOOD(x) && get_be64(&r[16]) == 2048 && r[5] == 0x03, "PT truncated to max_token_bytes, status 3");
	CHECK(!get_token(t, 1, tok), "token");
	x = wut(t, 2, 0, 0, tok, 1, &d2, &n);
	x = rrti(t, 2, r);
	CHECK(GOOD(x) && get_be64(&r[16]) == 512 && r[5] == 0x03, "WUT capped by max_wut_bytes");
	x = wut(t, 3, 0, 512, tok, 1, &d2, &n);
	x = wut(t, 4, 0, 1024, tok, 1, &d2, &n);
	x = rrti(t, 4, r);
	CHECK(GOOD(x) && get_be64(&r[16]) == 256, "3rd WUT halved (trunc_every=3)");
	closedev(f);
	closedev(t);
}

static void t_immed(void)
{
	struct tcmu_device *s = dev("slow", 16, "latency_ms=300&lid_busy=2600");
	struct tcmu_device *w = dev("slow2", 16, "latency_ms_per_mib=200");
	uint64_t lba = 0;
	uint32_t n = 16384;
	uint8_t tok[512], r[1024];
	struct res x;

	x = pt(s, 1, 0x01, 0, 0, 1, &lba, &n);
	CHECK(GOOD(x), "PT IMMED returns at once");
	x = rrti(s, 1, r);
	CHECK(GOOD(x) && r[5] == 0x12 && get_be32(&r[32]) == 0, "RRTI: in progress in background, no token");
	x = pt(s, 1, 0, 0, 0, 1, &lba, &n);
	CHECK(SENSE(x, 5, 0x26, 0x00), "same list id while busy -> 26/00 (lid_busy=2600)");
	usleep(500000);
	CHECK(!get_token(s, 1, tok), "token after the delay");
	x = wut(w, 2, 0x01, 0, tok, 1, &lba, &n);
	CHECK(GOOD(x), "WUT IMMED on a slow LU");
	x = pt(w, 2, 0, 0, 0, 1, &lba, &n);
	CHECK(SENSE(x, 5, 0x00, 0x16), "list id in use -> 00/16");
	usleep(200000);
	{
		uint8_t c[16] = { 0x83, 0x1C };

		put_be32(&c[2], 2);
		x = cmd(w, c, NULL, 0);
		CHECK(GOOD(x), "COPY OPERATION ABORT");
	}
	for (int i = 0; i < 50; i++) {
		rrti(w, 2, r);
		if (r[5] < 0x10 || r[5] > 0x12)
			break;
		usleep(100000);
	}
	CHECK(r[5] == 0x60 && get_be64(&r[16]) < n, "aborted: 0x60, partial count %llu",
	      (unsigned long long)get_be64(&r[16]));
	closedev(w);
	closedev(s);
}

static uint64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/* latency_mib: only the LU's first MiB written by WUT are slowed */
static void t_slow_start(void)
{
	struct tcmu_device *s = dev("sssrc", 8, "");
	struct tcmu_device *w = dev("ssdst", 8, "latency_ms_per_mib=400&latency_mib=1");
	uint64_t lba = 0, t0, first, second;
	uint32_t n = 4096;			/* 2 MiB */
	uint8_t tok[512];
	struct res x;

	x = pt(s, 1, 0, 0, 0, 1, &lba, &n);
	CHECK(GOOD(x) && !get_token(s, 1, tok), "slow start: a token of 2 MiB");
	t0 = now_ms();
	x = wut(w, 2, 0, 0, tok, 1, &lba, &n);
	first = now_ms() - t0;
	t0 = now_ms();
	x = wut(w, 3, 0, 0, tok, 1, &lba, &n);
	second = now_ms() - t0;
	CHECK(GOOD(x) && first >= 400 && second < 400,
	      "latency_mib=1: the first 2 MiB WUT waits for its first MiB only, the next not at all (%llu, %llu ms)",
	      (unsigned long long)first, (unsigned long long)second);
	closedev(w);
	closedev(s);
}

/* read_ms_per_mib slows READ by the bytes it returns, rounded up */
static void t_slow_read(void)
{
	struct tcmu_device *s = dev("slowread", 4, "read_ms_per_mib=400");
	static uint8_t b[1 << 20];
	uint8_t c[16] = { 0x88 };
	uint64_t t0, ms;
	struct res x;

	put_be32(&c[10], (1u << 20) / 512);
	t0 = now_ms();
	x = cmd(s, c, b, sizeof(b));
	ms = now_ms() - t0;
	CHECK(GOOD(x) && ms >= 400, "READ(16) of 1 MiB at read_ms_per_mib=400 takes %llu ms", (unsigned long long)ms);
	put_be32(&c[10], 1);
	t0 = now_ms();
	x = cmd(s, c, b, 512);
	ms = now_ms() - t0;
	CHECK(GOOD(x) && ms >= 1 && ms < 100, "one block: rounded up to 1 ms, not more (%llu ms)", (unsigned long long)ms);
	closedev(s);
}

static void t_xcopy(struct tcmu_device *a, struct tcmu_device *b, struct tcmu_device *k4)
{
	uint8_t p[16 + 96 + 56], c[16], r[64], vpd[64];
	struct res x;
	uint8_t inq[16] = { 0x12, 1, 0x83, 0, 64 };

	memset(p, 0, sizeof(p));
	p[0] = 7;
	p[1] = 0x10;				/* LIST ID USAGE 10b */
	put_be16(&p[2], 96);
	put_be32(&p[8], 56);
	/* CSCD 0: a, 1: b, 2: k4 */
	struct tcmu_device *devs[3] = { a, b, k4 };
	for (int i = 0; i < 3; i++) {
		uint8_t *d = &p[16 + 32 * i];

		cmd(devs[i], inq, vpd, 64);
		d[0] = 0xE4;
		memcpy(&d[4], &vpd[4], 20);
		d[4] &= 0x0F;
		d[5] &= 0x3F;
		put_be24(&d[29], i == 2 ? 4096 : 512);
	}
	/* segment 0: a -> b 1000 blocks at 5000; segment 1: a -> k4 800 blocks (=100 4k) */
	uint8_t *s = &p[112];
	s[0] = 0x02; put_be16(&s[2], 0x18); put_be16(&s[4], 0); put_be16(&s[6], 1);
	put_be16(&s[10], 1000); put_be64(&s[12], 0); put_be64(&s[20], 5000);
	s += 28;
	s[0] = 0x02; put_be16(&s[2], 0x18); put_be16(&s[4], 0); put_be16(&s[6], 2);
	put_be16(&s[10], 800); put_be64(&s[12], 0); put_be64(&s[20], 10);
	cdb16(c, 0x83, 0x00, 0, sizeof(p));
	x = cmd(b, c, p, sizeof(p));
	CHECK(GOOD(x), "XCOPY LID1 2 segments");
	CHECK(same(a, 0, b, 5000 * 512, 1000 * 512), "XCOPY a->b bytes");
	CHECK(same(a, 0, k4, 10 * 4096, 800 * 512), "XCOPY 512 -> 4096 bytes");
	memset(c, 0, 16);
	c[0] = 0x84; c[1] = 0x00; c[2] = 7; c[13] = 64;
	x = cmd(b, c, r, 64);
	CHECK(GOOD(x) && r[4] == 1 && get_be16(&r[5]) == 2 && get_be32(&r[8]) == 1800 * 512,
	      "RECEIVE COPY STATUS(LID1)");
	p[16 + 32 + 8] ^= 0xFF;			/* break CSCD 1 */
	cdb16(c, 0x83, 0x00, 0, sizeof(p));
	x = cmd(b, c, p, sizeof(p));
	CHECK(SENSE(x, 0xA, 0x0D, 0x02), "unknown designator -> COPY ABORTED 0D/02");
	p[16 + 32 + 8] ^= 0xFF;
	p[112] = 0x0A;
	x = cmd(b, c, p, sizeof(p));
	CHECK(SENSE(x, 5, 0x26, 0x09), "segment type 0x0A -> 26/09");
	p[112] = 0x02;
	p[16] = 0xE5;
	x = cmd(b, c, p, sizeof(p));
	CHECK(SENSE(x, 5, 0x26, 0x07), "CSCD type 0xE5 -> 26/07");
	p[16] = 0xE4;
	cdb16(c, 0x83, 0x00, 0, 40);
	x = cmd(b, c, p, 40);
	CHECK(SENSE(x, 5, 0x1A, 0x00), "short list -> 1A/00");
}

/* what libiscsi's iscsi-test-cu found (peer.sh, README "Peer suite") */
static void t_peer(struct tcmu_device *a, struct tcmu_device *b)
{
	uint8_t c[16], buf[4096], p[16 + 32 + 28];
	struct res r;

	/* data-in length: the page or the allocation length, not the buffer */
	memset(c, 0, 16); c[0] = 0x12; c[1] = 1; c[2] = 0xB0; c[4] = 255;
	r = cmd(a, c, buf, 255);
	CHECK(GOOD(r) && buf[3] == 60 && read_len == 64, "VPD 0xB0 with 255: 64 bytes (read_len %ld)", read_len);
	memset(c, 0, 16); c[0] = 0x12; put_be16(&c[3], 511);
	r = cmd(a, c, buf, 511);
	CHECK(GOOD(r) && read_len == 96, "standard INQUIRY with 511: 96 bytes (read_len %ld)", read_len);
	c[3] = 0; c[4] = 20;
	r = cmd(a, c, buf, 255);
	CHECK(GOOD(r) && read_len == 20, "allocation length 20 in a 255-byte buffer: 20 (read_len %ld)", read_len);
	r = cmd(a, c, buf, 20);
	CHECK(GOOD(r) && read_len == -1, "reply filling the buffer: no read_len (%ld)", read_len);
	memset(c, 0, 16); c[0] = 0x28; c[1] = 0x20; put_be16(&c[7], 1);
	r = cmd(a, c, buf, 512);
	CHECK(SENSE(r, 5, 0x24, 0) && (r.sense[15] & 0x4F) == 0x4F && get_be16(&r.sense[16]) == 1,
	      "READ(10) RDPROTECT=1 -> 24/00 at byte 1 bit 7");
	CHECK(read_len == -1, "READ keeps its whole length");

	/* RD/WR/VRPROTECT without protection information */
	memset(c, 0, 16); c[0] = 0x8A; c[1] = 0x60; put_be32(&c[10], 1);
	CHECK(SENSE(cmd(a, c, buf, 512), 5, 0x24, 0), "WRITE(16) WRPROTECT=3 -> 24/00");
	memset(c, 0, 16); c[0] = 0xA8; c[1] = 0xE0; put_be32(&c[6], 1);
	CHECK(SENSE(cmd(a, c, buf, 512), 5, 0x24, 0), "READ(12) RDPROTECT=7 -> 24/00");
	memset(c, 0, 16); c[0] = 0x93; c[1] = 0x20; put_be32(&c[10], 1);
	CHECK(SENSE(cmd(a, c, buf, 512), 5, 0x24, 0), "WRITE SAME(16) WRPROTECT=1 -> 24/00");
	memset(c, 0, 16); c[0] = 0x8F; c[1] = 0x20; put_be32(&c[10], 1);
	CHECK(SENSE(cmd(a, c, buf, 512), 5, 0x24, 0), "VERIFY(16) VRPROTECT=1 -> 24/00");
	/* no thin provisioning: UNMAP/ANCHOR refused, not silently written */
	memset(c, 0, 16); c[0] = 0x93; c[1] = 0x08; put_be32(&c[10], 1);
	r = cmd(a, c, buf, 512);
	CHECK(SENSE(r, 5, 0x24, 0) && (r.sense[15] & 0x0F) == 0x0B, "WRITE SAME(16) UNMAP -> 24/00 at bit 3");
	memset(c, 0, 16); c[0] = 0x41; c[1] = 0x10; put_be16(&c[7], 1);
	CHECK(SENSE(cmd(a, c, buf, 512), 5, 0x24, 0), "WRITE SAME(10) ANCHOR -> 24/00");

	/* VERIFY */
	write10(a, 300, 8, 0x6B);
	memset(buf, 0x6B, sizeof(buf));
	memset(c, 0, 16); c[0] = 0x2F; c[1] = 0x02; put_be32(&c[2], 300); put_be16(&c[7], 8);
	CHECK(GOOD(cmd(a, c, buf, 4096)), "VERIFY(10) BYTCHK=01 equal data -> GOOD");
	buf[3 * 512 + 7] ^= 1;
	r = cmd(a, c, buf, 4096);
	CHECK(SENSE(r, 0xE, 0x1D, 0) && (r.sense[0] & 0x80) && get_be32(&r.sense[3]) == 3 * 512 + 7,
	      "VERIFY(10) a differing byte -> MISCOMPARE 1D/00, INFORMATION = its offset");
	memset(c, 0, 16); c[0] = 0xAF; c[1] = 0x06; put_be32(&c[2], 300); put_be32(&c[6], 8);
	buf[3 * 512 + 7] ^= 1;
	CHECK(GOOD(cmd(a, c, buf, 512)), "VERIFY(12) BYTCHK=11: one block against 8");
	c[1] = 0x04;
	CHECK(SENSE(cmd(a, c, buf, 4096), 5, 0x24, 0), "VERIFY BYTCHK=10 (reserved) -> 24/00");
	memset(c, 0, 16); c[0] = 0x8F; put_be64(&c[2], a->lbas); put_be32(&c[10], 1);
	CHECK(SENSE(cmd(a, c, NULL, 0), 5, 0x21, 0), "VERIFY(16) past the end -> 21/00");
	c[1] = 0x02;
	put_be64(&c[2], 300);
	CHECK(SENSE(cmd(a, c, buf, 100), 5, 0x24, 0), "VERIFY with a short data-out -> 24/00");

	/* WRITE AND VERIFY, COMPARE AND WRITE */
	memset(buf, 0x3C, 4096);
	memset(c, 0, 16); c[0] = 0x2E; c[1] = 0x02; put_be32(&c[2], 320); put_be16(&c[7], 8);
	r = cmd(a, c, buf, 4096);
	CHECK(GOOD(r) && is_pattern(a, 320 * 512, 4096, 0x3C), "WRITE AND VERIFY(10) BYTCHK=01 writes and compares");
	c[1] = 0x22;
	CHECK(SENSE(cmd(a, c, buf, 4096), 5, 0x24, 0), "WRITE AND VERIFY(10) WRPROTECT=1 -> 24/00");
	memset(c, 0, 16); c[0] = 0x8E; c[1] = 0x06; put_be64(&c[2], 320); put_be32(&c[10], 1);
	CHECK(SENSE(cmd(a, c, buf, 512), 5, 0x24, 0), "WRITE AND VERIFY(16) BYTCHK=11 -> 24/00");
	memset(c, 0, 16); c[0] = 0xAE; put_be32(&c[2], 320); put_be32(&c[6], 8);
	CHECK(SENSE(cmd(a, c, buf, 100), 5, 0x24, 0), "WRITE AND VERIFY(12) short data-out -> 24/00");
	memset(buf, 0x3C, 512);
	memset(buf + 512, 0x4D, 512);
	memset(c, 0, 16); c[0] = 0x89; put_be64(&c[2], 320); c[13] = 1;
	r = cmd(a, c, buf, 1024);
	CHECK(GOOD(r) && is_pattern(a, 320 * 512, 512, 0x4D) && is_pattern(a, 321 * 512, 512, 0x3C),
	      "COMPARE AND WRITE: equal, so the second block is written");
	r = cmd(a, c, buf, 1024);
	CHECK(SENSE(r, 0xE, 0x1D, 0) && get_be32(&r.sense[3]) == 0 && is_pattern(a, 320 * 512, 512, 0x4D),
	      "COMPARE AND WRITE again: MISCOMPARE at offset 0, nothing written");
	c[13] = 2;
	CHECK(SENSE(cmd(a, c, buf, 2048), 5, 0x24, 0), "COMPARE AND WRITE of 2 blocks (limit 1) -> 24/00");
	c[13] = 1; c[1] = 0x40;
	CHECK(SENSE(cmd(a, c, buf, 1024), 5, 0x24, 0), "COMPARE AND WRITE WRPROTECT=2 -> 24/00");
	c[1] = 0; c[13] = 1;
	CHECK(SENSE(cmd(a, c, buf, 600), 5, 0x24, 0), "COMPARE AND WRITE short data-out -> 24/00");

	/* MODE SENSE: DPOFUA, since READ/WRITE take DPO and FUA */
	memset(c, 0, 16); c[0] = 0x1A; c[2] = 0x3F; c[4] = 255;
	r = cmd(a, c, buf, 255);
	CHECK(GOOD(r) && buf[0] == 47 && (buf[2] & 0x10) && buf[4] == 0x01 && buf[16] == 0x08 && (buf[18] & 0x04) &&
	      buf[36] == 0x0A && read_len == 48, "MODE SENSE(6) all pages: DPOFUA, 0x01 0x08(WCE) 0x0A, 48 bytes");
	memset(c, 0, 16); c[0] = 0x5A; c[2] = 0x08; c[8] = 4;
	r = cmd(a, c, buf, 4);
	CHECK(GOOD(r) && get_be16(buf) == 26 && (buf[3] & 0x10), "MODE SENSE(10) caching page, 4 bytes allowed");
	memset(c, 0, 16); c[0] = 0x1A; c[2] = 0xC8; c[4] = 255;
	CHECK(SENSE(cmd(a, c, buf, 255), 5, 0x39, 0), "MODE SENSE saved values -> 39/00");
	c[2] = 0x1C;
	CHECK(SENSE(cmd(a, c, buf, 255), 5, 0x24, 0), "MODE SENSE unknown page -> 24/00");
	memset(c, 0, 16); c[0] = 0x28; c[1] = 0x18; put_be16(&c[7], 1);
	CHECK(GOOD(cmd(a, c, buf, 512)), "READ(10) DPO+FUA -> GOOD");

	/* REPORT SUPPORTED OPERATION CODES */
	memset(c, 0, 16); c[0] = 0xA3; c[1] = 0x0C; put_be32(&c[6], 4096);
	r = cmd(a, c, buf, 4096);
	{
		uint32_t len = get_be32(buf), ndesc = len / 8;
		int seen = 0;

		for (uint32_t i = 0; i < ndesc; i++) {
			const uint8_t *e = &buf[4 + 8 * i];

			if (e[0] == 0x28 && !(e[5] & 1) && get_be16(&e[6]) == 10) seen |= 1;
			if (e[0] == 0x83 && get_be16(&e[2]) == 0x11 && (e[5] & 1)) seen |= 2;
			if (e[0] == 0x2F) seen |= 4;
		}
		CHECK(GOOD(r) && len % 8 == 0 && seen == 7 && read_len == (long)(4 + len),
		      "RSOC all: READ(10), WRITE USING TOKEN (SERVACTV), VERIFY(10) listed (%x)", seen);
	}
	c[2] = 0x81; c[3] = 0x2A;
	r = cmd(a, c, buf, 4096);
	CHECK(GOOD(r) && (buf[1] & 0x87) == 0x83 && get_be16(&buf[2]) == 10 && buf[4] == 0x2A && buf[5] == 0x18 &&
	      get_be16(&buf[14]) == 0x0A && read_len == 4 + 10 + 12,
	      "RSOC one command WRITE(10) with timeouts: supported, usage DPO/FUA, no WRPROTECT");
	c[2] = 0x01; c[3] = 0x83;
	CHECK(SENSE(cmd(a, c, buf, 4096), 5, 0x24, 0), "RSOC by opcode alone for 0x83 (has SAs) -> 24/00");
	c[2] = 0x02; c[3] = 0x28;
	CHECK(SENSE(cmd(a, c, buf, 4096), 5, 0x24, 0), "RSOC by opcode+SA for READ(10) (none) -> 24/00");
	c[2] = 0x02; c[3] = 0x84; put_be16(&c[4], 0x07);
	r = cmd(a, c, buf, 4096);
	CHECK(GOOD(r) && (buf[1] & 7) == 3 && buf[4] == 0x84 && buf[5] == 0x1F, "RSOC RRTI by opcode+SA");
	c[2] = 0x01; c[3] = 0xC7; put_be16(&c[4], 0);
	r = cmd(a, c, buf, 4096);
	CHECK(GOOD(r) && (buf[1] & 7) == 1, "RSOC unknown opcode: SUPPORT 001b");
	c[2] = 0x05;
	CHECK(SENSE(cmd(a, c, buf, 4096), 5, 0x24, 0), "RSOC REPORTING OPTIONS 101b -> 24/00");
	{	/* random RSOC / MODE SENSE / VERIFY / WRITE AND VERIFY / COMPARE AND WRITE CDBs */
		static const uint8_t opsx[] = { 0xA3, 0x1A, 0x5A, 0x2F, 0xAF, 0x8F, 0x2E, 0xAE, 0x8E, 0x89 };
		int answered = 0, good = 0, sensed = 0;

		for (int it = 0; it < 3000; it++) {
			size_t len = (size_t)(rand() % 600);

			for (int i = 1; i < 16; i++)
				c[i] = (uint8_t)rand();
			c[0] = opsx[rand() % sizeof(opsx)];
			if (c[0] == 0xA3)
				c[1] = 0x0C;
			if ((c[0] == 0x8F || c[0] == 0x8E || c[0] == 0x89) && rand() % 2)
				put_be64(&c[2], (uint64_t)(rand() % 1000));
			if (c[0] == 0x89 && rand() % 2)
				c[13] = 1;
			r = cmd(a, c, len ? buf : NULL, len);
			/* every answer is GOOD or CHECK CONDITION with fixed-format sense */
			answered += GOOD(r) || (r.sts == TCMU_STS_PASSTHROUGH_ERR && r.sense[0] && (r.sense[0] & 0x7F) == 0x70);
			good += GOOD(r);
			sensed += r.sts == TCMU_STS_PASSTHROUGH_ERR;
		}
		memset(c, 0, 16); c[0] = 0x28; put_be32(&c[2], 0); put_be16(&c[7], 1);
		CHECK(answered == 3000 && good > 0 && sensed > 0 && GOOD(cmd(a, c, buf, 512)),
		      "3000 random RSOC/MODE SENSE/VERIFY/WRITE AND VERIFY/COMPARE AND WRITE CDBs: each GOOD or "
		      "CHECK CONDITION with sense (%d, %d GOOD, %d CHECK), READ works after", answered, good, sensed);
	}

	/* EXTENDED COPY: an identification CSCD with LU ID TYPE 11b, one segment a -> b */
	memset(p, 0, sizeof(p));
	put_be16(&p[2], 32);
	put_be32(&p[8], 28);
	memset(c, 0, 16); c[0] = 0x12; c[1] = 1; c[2] = 0x83; c[4] = 64;
	cmd(b, c, buf, 64);
	p[16] = 0xE4; p[17] = 0xC0;
	memcpy(&p[20], &buf[4], 20);
	put_be24(&p[45], 512);
	p[48] = 0x02; put_be16(&p[50], 0x18); put_be16(&p[52], 0xFFFF); put_be16(&p[54], 0);
	put_be16(&p[58], 16); put_be64(&p[60], 0); put_be64(&p[68], 40000);
	cdb16(c, 0x83, 0x00, 0, sizeof(p));
	r = cmd(a, c, p, sizeof(p));
	CHECK(GOOD(r) && same(a, 0, b, 40000 * 512, 16 * 512), "XCOPY: LU ID TYPE 11b in an 0xE4 CSCD is ignored");
	put_be64(&p[68], b->lbas - 8);
	r = cmd(a, c, p, sizeof(p));
	CHECK(SENSE(r, 0xA, 0x0D, 0x02) && get_be32(&r.sense[3]) == b->lbas - 8,
	      "XCOPY segment past the destination's end -> COPY ABORTED 0D/02, LBA in INFORMATION");
	cdb16(c, 0x83, 0x00, 0, 16 + 8192 + 1);
	{
		uint8_t *big = calloc(1, 16 + 8192 + 1);

		put_be16(&big[2], 32);
		put_be32(&big[8], 8192);
		CHECK(SENSE(cmd(a, c, big, 16 + 8192 + 1), 5, 0x1A, 0), "XCOPY list past 8192 bytes -> 1A/00");
		free(big);
	}
}

/* max_tokens: the process runs out of token memory (55/0D) until one dies */
static void t_max_tokens(struct tcmu_device *a)
{
	uint8_t c[16] = { 0x84, 0x08 }, *b = malloc(8 + 96 * 600), tok[512];
	uint64_t lba = 0;
	uint32_t n = 8, live;
	char knobs[64];
	struct tcmu_device *m;
	struct res x;

	put_be32(&c[10], 8 + 96 * 600);
	x = cmd(a, c, b, 8 + 96 * 600);
	live = (get_be32(b) - 4) / 96;
	snprintf(knobs, sizeof(knobs), "max_tokens=%u", live + 2);
	m = dev("maxtok", 4, knobs);
	CHECK(GOOD(pt(m, 1, 0, 0, 0, 1, &lba, &n)) && GOOD(pt(m, 2, 0, 0, 0, 1, &lba, &n)), "2 more tokens fit");
	x = pt(m, 3, 0, 0, 0, 1, &lba, &n);
	CHECK(SENSE(x, 5, 0x55, 0x0D), "the next one: 55/0D (%u live before)", live);
	get_token(m, 2, tok);
	x = wut(m, 4, 0x02, 0, tok, 1, (uint64_t[]){ 100 }, &n);
	x = pt(m, 5, 0, 0, 0, 1, &lba, &n);
	CHECK(GOOD(x), "after DEL_TKN there is room again");
	closedev(m);
	free(b);
}

/* serials with the same hex digits ("odxlabn0", "odxlabn") must not share a designator */
static void t_naa(void)
{
	struct tcmu_device *x = dev("n0", 4, ""), *y = dev("n", 4, "");
	uint8_t c[16] = { 0x12, 1, 0x83, 0, 64 }, bx[64], by[64];

	cmd(x, c, bx, 64);
	cmd(y, c, by, 64);
	CHECK(memcmp(&bx[8], &by[8], 16) != 0 && by[8] >> 4 == 6, "colliding serials get distinct NAA-6 designators");
	closedev(y);
	closedev(x);
}

/* bad input must never crash or touch memory it should not (ASan watches) */
/* ---- thin provisioning (thin=1) ---- */

/* GET LBA STATUS from lba with an allocation length; descriptors into out */
static struct res glsr(struct tcmu_device *d, uint64_t lba, uint32_t alloc, uint8_t rt, uint8_t *out, size_t outlen)
{
	uint8_t c[16] = { 0x9E, 0x12 };

	memset(out, 0xEE, outlen);
	put_be64(&c[2], lba);
	put_be32(&c[10], alloc);
	c[14] = rt;
	return cmd(d, c, out, outlen);
}

static struct res gls(struct tcmu_device *d, uint64_t lba, uint32_t alloc, uint8_t *out, size_t outlen)
{
	return glsr(d, lba, alloc, 0, out, outlen);
}

/* descriptor i of a GET LBA STATUS answer matches (lba, n, state) */
static int gls_desc(const uint8_t *b, int i, uint64_t lba, uint32_t n, uint8_t st)
{
	const uint8_t *e = &b[8 + 16 * i];

	return get_be64(e) == lba && get_be32(&e[8]) == n && (e[12] & 0x0F) == st;
}

/* UNMAP of n descriptors; plen and sent let a test lie about the list */
static struct res unmap_cmd(struct tcmu_device *d, int n, const uint64_t *lba, const uint32_t *cnt,
			    int plen, int sent)
{
	uint8_t b[8 + 16 * 16], c[16] = { 0x42 };
	size_t l = 8 + 16 * (size_t)n;

	memset(b, 0, sizeof(b));
	put_be16(&b[0], (uint16_t)(l - 2));
	put_be16(&b[2], (uint16_t)(16 * n));
	for (int i = 0; i < n; i++) {
		put_be64(&b[8 + 16 * i], lba[i]);
		put_be32(&b[16 + 16 * i], cnt[i]);
	}
	put_be16(&c[7], (uint16_t)(plen < 0 ? (int)l : plen));
	return cmd(d, c, b, sent < 0 ? l : (size_t)sent);
}

static void t_thin(struct tcmu_device *full)
{
	uint8_t c[16], b[4096], z[512];
	struct tcmu_device *t;
	struct res r;
	uint64_t lba[8];
	uint32_t n[8];
	int rc;

	/* a fully provisioned LU (the default) says so and leaves the thin commands alone */
	memset(c, 0, 16); c[0] = 0x9E; c[1] = 0x10; put_be32(&c[10], 32);
	CHECK(GOOD(cmd(full, c, b, 32)) && b[14] == 0, "default LU: READ CAPACITY(16) LBPME 0 LBPRZ 0");
	memset(c, 0, 16); c[0] = 0x12; c[1] = 1; c[2] = 0xB2; c[4] = 255;
	CHECK(SENSE(cmd(full, c, b, 255), 5, 0x24, 0), "default LU: VPD 0xB2 -> 24/00");
	CHECK(gls(full, 0, 64, b, 64).sts == TCMU_STS_NOT_HANDLED, "default LU: GET LBA STATUS left to tcmu-runner");
	lba[0] = 0; n[0] = 1;
	CHECK(unmap_cmd(full, 1, lba, n, -1, -1).sts == TCMU_STS_NOT_HANDLED, "default LU: UNMAP left to tcmu-runner");
	free(mkdev("thinbad", 1, "thin=2", &rc));
	CHECK(rc != 0, "thin=2 refused");
	free(mkdev("thinbad2", 1, "thin=1&max_unmap_descs=0", &rc));
	CHECK(rc != 0, "max_unmap_descs=0 refused");

	/* 8 MiB = 16384 blocks, a fresh (all-hole) file */
	t = dev("thin", 8, "thin=1&max_unmap_descs=4&max_unmap_blocks=4096");
	memset(c, 0, 16); c[0] = 0x9E; c[1] = 0x10; put_be32(&c[10], 32);
	CHECK(GOOD(cmd(t, c, b, 32)) && b[14] == 0xC0, "thin: READ CAPACITY(16) LBPME 1 LBPRZ 1 (%02x)", b[14]);
	memset(c, 0, 16); c[0] = 0x12; c[1] = 1; c[2] = 0x00; c[4] = 255;
	CHECK(GOOD(cmd(t, c, b, 255)) && memchr(&b[4], 0xB2, b[3]), "thin: VPD 0x00 lists 0xB2");
	c[2] = 0xB2;
	CHECK(GOOD(cmd(t, c, b, 255)) && b[1] == 0xB2 && get_be16(&b[2]) == 4 && b[5] == 0xE4 && (b[6] & 7) == 2,
	      "thin: VPD 0xB2 LBPU LBPWS LBPWS10 LBPRZ, no ANC_SUP, thin (%02x %02x)", b[5], b[6]);
	CHECK(read_len == 8, "thin: VPD 0xB2 is 8 bytes long (%ld)", read_len);
	c[2] = 0xB0;
	CHECK(GOOD(cmd(t, c, b, 255)) && get_be32(&b[20]) == 4096 && get_be32(&b[24]) == 4 &&
	      get_be32(&b[28]) >= 1 && get_be32(&b[32]) == 0x80000000u,
	      "thin: VPD 0xB0 unmap limits (%u %u gran %u align %08x)", get_be32(&b[20]), get_be32(&b[24]),
	      get_be32(&b[28]), get_be32(&b[32]));
	memset(c, 0, 16); c[0] = 0xA3; c[1] = 0x0C; c[2] = 0x01; c[3] = 0x42; put_be32(&c[6], 64);
	CHECK(GOOD(cmd(t, c, b, 64)) && (b[1] & 7) == 3, "thin: RSOC lists UNMAP");
	c[2] = 0x02; c[3] = 0x9E; put_be16(&c[4], 0x12);
	CHECK(GOOD(cmd(t, c, b, 64)) && (b[1] & 7) == 3, "thin: RSOC lists GET LBA STATUS");
	c[2] = 0x01; c[3] = 0x42;
	CHECK(GOOD(cmd(full, c, b, 64)) && (b[1] & 7) == 1, "default LU: RSOC says UNMAP is not supported");

	/* a fresh file is one hole */
	r = gls(t, 0, 4096, b, 4096);
	CHECK(GOOD(r) && get_be32(b) == 20 && gls_desc(b, 0, 0, 16384, 1), "fresh thin LU: one deallocated run");
	/* 128 KiB written at block 2048: deallocated, mapped, deallocated */
	CHECK(GOOD(write10(t, 2048, 256, 0xAB)), "write 256 blocks");
	r = gls(t, 0, 4096, b, 4096);
	CHECK(GOOD(r) && get_be32(b) == 52 && gls_desc(b, 0, 0, 2048, 1) && gls_desc(b, 1, 2048, 256, 0) &&
	      gls_desc(b, 2, 2304, 16384 - 2304, 1), "written extent: mapped between two deallocated runs");
	r = gls(t, 2100, 4096, b, 4096);
	CHECK(GOOD(r) && gls_desc(b, 0, 2100, 204, 0), "the first descriptor starts at the starting LBA");
	/* REPORT TYPE (SBC-4): only the runs asked for; RTP set, completion: capacity reached */
	r = glsr(t, 0, 4096, 2, b, 4096);
	CHECK(GOOD(r) && get_be32(b) == 20 && gls_desc(b, 0, 2048, 256, 0) && b[7] == 0x07,
	      "REPORT TYPE 2: the mapped run only, RTP 1, completion 3 (%u, %02x)", get_be32(b), b[7]);
	r = glsr(t, 0, 4096, 3, b, 4096);
	CHECK(GOOD(r) && get_be32(b) == 36 && gls_desc(b, 0, 0, 2048, 1) && gls_desc(b, 1, 2304, 16384 - 2304, 1),
	      "REPORT TYPE 3: the two deallocated runs");
	r = glsr(t, 0, 4096, 1, b, 4096);
	CHECK(GOOD(r) && get_be32(b) == 36 && gls_desc(b, 1, 2304, 16384 - 2304, 1), "REPORT TYPE 1: nonzero status = deallocated here");
	r = glsr(t, 0, 4096, 4, b, 4096);
	CHECK(GOOD(r) && get_be32(b) == 4 && b[7] == 0x07, "REPORT TYPE 4: no anchored run, no descriptor");
	r = glsr(t, 0, 4096, 0x10, b, 4096);
	CHECK(GOOD(r) && get_be32(b) == 4, "REPORT TYPE 0x10: no LBA may read an unrecovered error");
	r = glsr(t, 0, 4096, 5, b, 4096);
	CHECK(SENSE(r, 5, 0x24, 0), "REPORT TYPE 5 (reserved) -> 24/00");
	r = glsr(t, 0, 24, 0, b, 4096);
	CHECK(GOOD(r) && b[7] == 0x03, "allocation length reached first: completion 1, RTP 1 (%02x)", b[7]);
	r = gls(t, 0, 24, b, 4096);
	CHECK(GOOD(r) && get_be32(b) == 20 && gls_desc(b, 0, 0, 2048, 1) && read_len == 24,
	      "allocation length 24: one descriptor (%ld)", read_len);
	r = gls(t, 0, 8, b, 4096);
	CHECK(GOOD(r) && get_be32(b) == 20 && read_len == 8, "allocation length 8: the header, saying one descriptor");
	r = gls(t, 16383, 4096, b, 4096);
	CHECK(GOOD(r) && get_be32(b) == 20 && gls_desc(b, 0, 16383, 1, 1), "last block");
	r = gls(t, 16384, 4096, b, 4096);
	CHECK(SENSE(r, 5, 0x21, 0), "starting LBA past the end -> 21/00");
	r = gls(t, ~0ull, 4096, b, 4096);
	CHECK(SENSE(r, 5, 0x21, 0), "starting LBA 2^64-1 -> 21/00");
	r = gls(t, 0, 4096, b, 30);
	CHECK(GOOD(r), "a buffer shorter than the allocation length is not overrun");

	/* UNMAP: the first 64 KiB of the extent becomes a hole and reads zeros */
	lba[0] = 2048; n[0] = 128;
	CHECK(GOOD(unmap_cmd(t, 1, lba, n, -1, -1)), "UNMAP 128 blocks");
	CHECK(is_zero(t, 2048 * 512, 128 * 512) && is_pattern(t, 2176 * 512, 128 * 512, 0xAB),
	      "UNMAP: the blocks read zeros, the rest is untouched");
	r = gls(t, 0, 4096, b, 4096);
	CHECK(GOOD(r) && gls_desc(b, 0, 0, 2176, 1) && gls_desc(b, 1, 2176, 128, 0), "UNMAP: the run is deallocated");
	/* one block inside a file-system block: zeros, but the file system keeps the block */
	lba[0] = 2200; n[0] = 1;
	CHECK(GOOD(unmap_cmd(t, 1, lba, n, -1, -1)) && is_zero(t, 2200 * 512, 512) &&
	      is_pattern(t, 2201 * 512, 512, 0xAB), "UNMAP of one block: it reads zeros");
	r = gls(t, 2176, 4096, b, 4096);
	CHECK(GOOD(r) && gls_desc(b, 0, 2176, 128, 0), "a partly punched file-system block stays mapped");

	/* refusals, nothing deallocated by a refused list */
	memset(c, 0, 16); c[0] = 0x42; c[1] = 0x01; put_be16(&c[7], 24);
	r = cmd(t, c, b, 24);
	CHECK(SENSE(r, 5, 0x24, 0) && (r.sense[15] & 0x4F) == 0x48 && get_be16(&r.sense[16]) == 1,
	      "UNMAP ANCHOR -> 24/00 at byte 1 bit 0");
	CHECK(GOOD(unmap_cmd(t, 0, lba, n, 0, 0)), "UNMAP with parameter list length 0 -> GOOD");
	CHECK(SENSE(unmap_cmd(t, 1, lba, n, 4, 4), 5, 0x1A, 0), "parameter list length 4 -> 1A/00");
	CHECK(SENSE(unmap_cmd(t, 1, lba, n, -1, 16), 5, 0x1A, 0), "descriptor announced but not sent -> 1A/00");
	lba[0] = 2240; n[0] = 8; lba[1] = 16380; n[1] = 8;
	r = unmap_cmd(t, 2, lba, n, -1, -1);
	CHECK(SENSE(r, 5, 0x21, 0) && get_be32(&r.sense[3]) == 16380, "a descriptor past the end -> 21/00 with its LBA");
	CHECK(is_pattern(t, 2240 * 512, 8 * 512, 0xAB), "... and the valid descriptor before it was not applied");
	for (int i = 0; i < 5; i++) {
		lba[i] = 4000 + 10 * (uint64_t)i;
		n[i] = 1;
	}
	CHECK(SENSE(unmap_cmd(t, 5, lba, n, -1, -1), 5, 0x26, 0), "5 descriptors, limit 4 -> 26/00");
	lba[0] = 0; n[0] = 4000; lba[1] = 5000; n[1] = 97;
	CHECK(SENSE(unmap_cmd(t, 2, lba, n, -1, -1), 5, 0x26, 0), "4097 blocks, limit 4096 -> 26/00");
	lba[0] = 0; n[0] = 4096;
	CHECK(GOOD(unmap_cmd(t, 1, lba, n, -1, -1)), "4096 blocks -> GOOD");
	{	/* UNMAP DATA LENGTH shorter than the descriptors it holds */
		uint8_t p[24] = { 0, 10, 0, 16 };

		memset(c, 0, 16); c[0] = 0x42; put_be16(&c[7], 24);
		CHECK(SENSE(cmd(t, c, p, 24), 5, 0x26, 0), "UNMAP DATA LENGTH < descriptors -> 26/00");
	}

	/* WRITE SAME with UNMAP */
	CHECK(GOOD(write10(t, 3000, 64, 0x5C)), "write 64 blocks at 3000");
	memset(c, 0, 16); c[0] = 0x93; c[1] = 0x09; put_be64(&c[2], 3000); put_be32(&c[10], 8);
	CHECK(GOOD(cmd(t, c, NULL, 0)) && is_zero(t, 3000 * 512, 8 * 512), "WRITE SAME(16) UNMAP NDOB: zeros");
	memset(z, 0, sizeof(z));
	memset(c, 0, 16); c[0] = 0x93; c[1] = 0x08; put_be64(&c[2], 3008); put_be32(&c[10], 8);
	CHECK(GOOD(cmd(t, c, z, 512)) && is_zero(t, 3008 * 512, 8 * 512), "WRITE SAME(16) UNMAP of a zero block");
	r = gls(t, 3000, 4096, b, 4096);
	CHECK(GOOD(r) && gls_desc(b, 0, 3000, 16, 1) && gls_desc(b, 1, 3016, 48, 0),
	      "WRITE SAME UNMAP deallocated its 16 blocks");
	CHECK(GOOD(write10(t, 3016, 8, 0x77)), "write 8 blocks at 3016");
	memset(z, 0xFF, sizeof(z));
	memset(c, 0, 16); c[0] = 0x93; c[1] = 0x08; put_be64(&c[2], 3048); put_be32(&c[10], 8);
	CHECK(GOOD(cmd(t, c, z, 512)) && is_zero(t, 3048 * 512, 8 * 512),
	      "WRITE SAME(16) UNMAP of a non-zero block deallocates too (the data-out is not looked at)");
	r = gls(t, 3040, 4096, b, 4096);
	CHECK(GOOD(r) && gls_desc(b, 0, 3040, 8, 0) && gls_desc(b, 1, 3048, 8, 1) && gls_desc(b, 2, 3056, 8, 0),
	      "... and the blocks are deallocated");
	memset(z, 0, sizeof(z));
	memset(c, 0, 16); c[0] = 0x41; c[1] = 0x08; put_be32(&c[2], 3024); put_be16(&c[7], 8);
	CHECK(GOOD(cmd(t, c, z, 512)) && is_zero(t, 3024 * 512, 8 * 512), "WRITE SAME(10) UNMAP");
	r = gls(t, 3016, 4096, b, 4096);
	CHECK(GOOD(r) && gls_desc(b, 0, 3016, 8, 0) && gls_desc(b, 1, 3024, 8, 1), "WRITE SAME(10) UNMAP deallocated");
	memset(c, 0, 16); c[0] = 0x93; c[1] = 0x10; put_be32(&c[10], 1);
	r = cmd(t, c, z, 512);
	CHECK(SENSE(r, 5, 0x24, 0) && (r.sense[15] & 0x0F) == 0x0C, "WRITE SAME ANCHOR on a thin LU -> 24/00 at bit 4");

	/* a deallocation is a write for tokens: an AUR token over it is revoked */
	{
		uint8_t tok[512];
		uint64_t l = 3056, dl = 100;
		uint32_t k = 16;

		CHECK(GOOD(pt(t, 1, 0, 0, 0, 1, &l, &k)) && !get_token(t, 1, tok), "token over mapped blocks");
		lba[0] = 3060; n[0] = 8;
		CHECK(GOOD(unmap_cmd(t, 1, lba, n, -1, -1)), "UNMAP under the token");
		CHECK(SENSE(wut(t, 2, 0, 0, tok, 1, &dl, &k), 5, 0x23, 0x06), "the token is revoked (23/06)");
	}

	/* random UNMAP / GET LBA STATUS: GOOD or CHECK CONDITION, never past a buffer */
	{
		uint8_t *buf = malloc(2048);
		int good = 0, refused = 0;

		for (int it = 0; it < 5000; it++) {
			size_t len = (size_t)(rand() % 300);
			struct res x;

			for (size_t i = 0; i < len; i++)
				buf[i] = rand() % 4 ? (uint8_t)(rand() % 3) : (uint8_t)rand();
			memset(c, 0, 16);
			if (rand() % 2) {
				c[0] = 0x42;
				c[1] = rand() % 8 ? 0 : 1;
				put_be16(&c[7], rand() % 3 ? (uint16_t)len : (uint16_t)rand());
			} else {
				c[0] = 0x9E; c[1] = 0x12;
				put_be64(&c[2], rand() % 2 ? (uint64_t)(rand() % 17000) : (uint64_t)rand() << 32);
				put_be32(&c[10], rand() % 2 ? (uint32_t)len : (uint32_t)rand());
			}
			x = cmd(t, c, buf, len);
			good += GOOD(x);
			refused += x.sts == TCMU_STS_PASSTHROUGH_ERR && (x.sense[0] & 0x7E) == 0x70 && x.key;
		}
		CHECK(good + refused == 5000 && good > 0 && refused > 0,
		      "thin fuzz: every answer GOOD or CHECK CONDITION (%d + %d of 5000)", good, refused);
		free(buf);
	}
	closedev(t);
}

static void t_fuzz(struct tcmu_device *a, struct tcmu_device *b)
{
	uint8_t *buf = malloc(20000), c[16], tok[512];
	uint64_t lba = 0;
	uint32_t n = 64;
	int good = 0, refused = 0;

	pt(a, 900, 0, 0, 0, 1, &lba, &n);
	get_token(a, 900, tok);
	for (int it = 0; it < 20000; it++) {
		static const uint8_t sas83[] = { 0x00, 0x10, 0x11, 0x1C, 0x01, 0x1F };
		static const uint8_t sas84[] = { 0x00, 0x03, 0x04, 0x05, 0x07, 0x08, 0x01 };
		size_t len = (size_t)(rand() % 4) == 0 ? (size_t)(rand() % 20000) : (size_t)(rand() % 700);
		struct res x;

		for (size_t i = 0; i < len; i++)
			buf[i] = (uint8_t)rand();
		if (len >= 552 && rand() % 2) {	/* a plausible WUT around a real token */
			memcpy(&buf[16], tok, 512);
			buf[534] = 0;
			buf[535] = (uint8_t)(16 * (rand() % 4));
		}
		memset(c, 0, 16);
		if (rand() % 2) {
			c[0] = 0x83;
			c[1] = sas83[rand() % sizeof(sas83)];
		} else {
			c[0] = 0x84;
			c[1] = sas84[rand() % sizeof(sas84)];
		}
		for (int i = 2; i < 16; i++)
			c[i] = rand() % 3 ? 0 : (uint8_t)rand();
		put_be32(&c[10], rand() % 3 ? (uint32_t)len : (uint32_t)rand());
		if (c[0] == 0x83 && c[1] != 0x1C)	/* keep list ids small: hit the lists */
			put_be32(&c[6], (uint32_t)(rand() % 8));
		x = cmd(rand() % 2 ? a : b, c, buf, len);
		good += GOOD(x);
		/* anything else must be CHECK CONDITION with fixed-format sense and a key */
		refused += x.sts == TCMU_STS_PASSTHROUGH_ERR && (x.sense[0] & 0x7E) == 0x70 && x.key;
	}
	/* ASan/UBSan abort on a bad access; what is left to check is the answers */
	CHECK(good + refused == 20000, "fuzz: every answer GOOD or CHECK CONDITION (%d + %d of 20000)", good, refused);
	CHECK(good > 0 && refused > 0, "fuzz reached both the accepting and the refusing paths (%d GOOD)", good);
	/* and the handler still works afterwards (on LUNs of their own: IMMED fuzz
	 * commands may still be running on a and b) */
	{
		struct tcmu_device *c = dev("fz-src", 4, ""), *d = dev("fz-dst", 4, "");

		fill_random_file(c, 4 << 20);
		lba = 2000;
		CHECK(GOOD(pt(c, 1, 0, 0, 0, 1, &lba, &n)) && !get_token(c, 1, tok) &&
		      GOOD(wut(d, 2, 0, 0, tok, 1, &lba, &n)) && same(c, 2000 * 512, d, 2000 * 512, 64 * 512),
		      "after the fuzz: PT + RRTI + WUT still copy the bytes");
		closedev(d);
		closedev(c);
	}
	free(buf);
}

int main(int argc, char **argv)
{
	struct tcmu_device *a, *b, *k4;
	int rc;

	verbose = argc > 1 && !strcmp(argv[1], "-v");
	srand(1);
	snprintf(dir, sizeof(dir), "/tmp/odx-host-test.XXXXXX");
	if (!mkdtemp(dir))
		return 2;
	handler_init();
	a = dev("a", 64, "");
	b = dev("b", 64, "");
	k4 = mkdev("k4", 64, "block_size=4096", &rc);
	if (rc)
		return 2;
	t_inquiry(a);
	t_rw(a);
	t_token_basic(a, b);
	t_token_errors(a, b, k4);
	t_xcopy(a, b, k4);
	t_peer(a, b);
	t_pit();
	t_knobs();
	t_faults();
	t_immed();
	t_slow_read();
	t_slow_start();
	t_naa();
	t_max_tokens(a);
	t_thin(a);
	t_fuzz(a, b);
	closedev(a);
	closedev(b);
	closedev(k4);
	{
		char cmdline[300];

		snprintf(cmdline, sizeof(cmdline), "rm -rf %s", dir);
		if (system(cmdline)) {
			/* leftovers in /tmp are harmless */
		}
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
