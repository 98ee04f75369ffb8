/*
 * odx handler: sense data, data-in helpers, INQUIRY and the VPD pages
 * (0x00, 0x80, 0x83, 0x8F, 0xB0, 0xB1, 0xB2), MODE SENSE.
 */
#include <string.h>

#include "odx.h"

/* ------------------------------------------------------------------ */
/* sense data: fixed format 0x70, ref 2.1 / 2.4                        */

void sense_set(struct odx_sense *s, uint8_t key, uint8_t asc, uint8_t ascq)
{
	s->status = ST_CHECK;
	memset(s->b, 0, sizeof(s->b));
	s->b[0] = 0x70;
	s->b[2] = key & 0x0F;
	s->b[7] = ODX_SENSE_LEN - 8;
	s->b[12] = asc;
	s->b[13] = ascq;
}

void sense_set_info(struct odx_sense *s, uint64_t info)
{
	/* fixed format has 32 bits of INFORMATION; leave VALID clear beyond */
	if (info > UINT32_MAX)
		return;
	s->b[0] |= 0x80;
	put_be32(&s->b[3], (uint32_t)info);
}

void sense_set_csi(struct odx_sense *s, uint32_t csi)
{
	put_be32(&s->b[8], csi);
}

void sense_set_field(struct odx_sense *s, bool cd, uint16_t field, int bit)
{
	s->b[15] = 0x80 | (cd ? 0x40 : 0);
	if (bit >= 0)
		s->b[15] |= 0x08 | (bit & 7);
	put_be16(&s->b[16], field);
}

void sense_invalid_cdb(struct odx_sense *s, uint16_t field)
{
	sense_set(s, SK_ILLEGAL_REQUEST, 0x24, 0x00);
	sense_set_field(s, true, field, -1);
}

void sense_invalid_param(struct odx_sense *s, uint16_t field)
{
	sense_set(s, SK_ILLEGAL_REQUEST, 0x26, 0x00);
	sense_set_field(s, false, field, -1);
}

void sense_param_len(struct odx_sense *s)
{
	sense_set(s, SK_ILLEGAL_REQUEST, 0x1A, 0x00);
}

void sense_lba_range(struct odx_sense *s, uint64_t lba)
{
	sense_set(s, SK_ILLEGAL_REQUEST, 0x21, 0x00);
	sense_set_info(s, lba);
}

/* ------------------------------------------------------------------ */
/* iovec helpers that leave the iovec untouched (libtcmu's consume it) */

size_t iov_len(const struct iovec *iov, size_t cnt)
{
	size_t n = 0;

	while (cnt--)
		n += (iov++)->iov_len;
	return n;
}

/* the walk of both copies: len bytes from the iovec's byte off on, into dst or (dst NULL) from src */
static size_t iov_copy(const struct iovec *iov, size_t cnt, size_t off, uint8_t *dst,
		       const uint8_t *src, size_t len)
{
	size_t done = 0;

	for (; cnt && len; iov++, cnt--) {
		uint8_t *p;
		size_t n;

		if (off >= iov->iov_len) {
			off -= iov->iov_len;
			continue;
		}
		n = iov->iov_len - off;
		if (n > len)
			n = len;
		p = (uint8_t *)iov->iov_base + off;
		if (dst)
			memcpy(dst + done, p, n);
		else
			memcpy(p, src + done, n);
		done += n;
		len -= n;
		off = 0;
	}
	return done;
}

size_t iov_copy_out(const struct iovec *iov, size_t cnt, size_t off, const void *src, size_t len)
{
	return iov_copy(iov, cnt, off, NULL, src, len);
}

size_t iov_copy_in(void *dst, size_t len, const struct iovec *iov, size_t cnt, size_t off)
{
	return iov_copy(iov, cnt, off, dst, NULL, len);
}

void iov_zero(const struct iovec *iov, size_t cnt)
{
	for (; cnt; iov++, cnt--)
		memset(iov->iov_base, 0, iov->iov_len);
}

__thread size_t odx_reply_len = SIZE_MAX;

void data_in(const struct iovec *iov, size_t cnt, const void *buf, size_t len, uint32_t alloc)
{
	/* the kernel may still send the whole buffer (odx_ring.c): no stale bytes */
	iov_zero(iov, cnt);
	if (len > alloc)
		len = alloc;
	odx_reply_len = iov_copy_out(iov, cnt, 0, buf, len);
}

/* ------------------------------------------------------------------ */
/* identity                                                            */

/*
 * NAA-6 (IEEE Registered Extended, ref 3.4) made exactly as LIO makes it for
 * any backstore (spc_gen_naa_6h_vendor_specific) and tcmu-runner for its own:
 * company id 0x001405, then the hex digits of the unit serial, one nibble at
 * a time. The kernel's own EXTENDED COPY engine (a copy sent to a LIO fileio
 * LUN) then finds our LUNs by this designator. Serials that differ only in
 * other characters, or in trailing zeros ("odxlabodx0", "odxlabodxslow"),
 * give the same designator: odx_open then falls back to odx_make_naa_hashed.
 */
void odx_make_naa(const char *serial, uint8_t naa[16])
{
	const uint32_t company = 0x001405;
	int nib = 7;		/* next nibble to fill: byte 3, low half */
	const char *p;

	memset(naa, 0, 16);
	naa[0] = 0x60 | ((company >> 20) & 0x0F);
	naa[1] = (company >> 12) & 0xFF;
	naa[2] = (company >> 4) & 0xFF;
	naa[3] = (company & 0x0F) << 4;
	for (p = serial; *p && nib < 32; p++) {
		int v;

		if (*p >= '0' && *p <= '9')
			v = *p - '0';
		else if (*p >= 'a' && *p <= 'f')
			v = *p - 'a' + 10;
		else if (*p >= 'A' && *p <= 'F')
			v = *p - 'A' + 10;
		else
			continue;
		naa[nib / 2] |= (uint8_t)((nib & 1) ? v : v << 4);
		nib++;
	}
}

/* NAA-6 with the same company id and a 100-bit hash of the whole serial */
void odx_make_naa_hashed(const char *serial, uint8_t naa[16])
{
	uint64_t h1 = 0xcbf29ce484222325ull, h2 = 0x6c62272e07bb0142ull;
	const unsigned char *p;

	for (p = (const unsigned char *)serial; *p; p++) {
		h1 = (h1 ^ *p) * 0x100000001b3ull;
		h2 = (h2 ^ *p) * 0x100000001b3ull + 0x9e3779b97f4a7c15ull;
	}
	put_be64(&naa[0], h1);
	put_be64(&naa[8], h2);
	naa[0] = 0x60;
	naa[1] = 0x01;
	naa[2] = 0x40;
	naa[3] = (uint8_t)(0x50 | (naa[3] & 0x0F));
}

void odx_cscd_desc(struct odx_dev *d, uint8_t out[32])
{
	memset(out, 0, 32);
	out[0] = 0xE4;
	out[1] = 0x00;			/* LU ID TYPE 00b, NUL 0, PDT 0 */
	out[4] = 0x01;			/* code set binary */
	out[5] = 0x03;			/* association LU, designator type NAA */
	out[7] = 16;
	memcpy(&out[8], d->naa, 16);
	put_be24(&out[29], d->bs);
}

/* ------------------------------------------------------------------ */
/* INQUIRY                                                             */

#define VENDOR  "ODXCP   "
#define PRODUCT "ODX-TCMU        "
#define REVISION "0001"

static bool tpc_on(const struct odx_dev *d) { return d->k.xcopy || d->k.odx; }

static size_t std_inquiry(struct odx_dev *d, uint8_t *b)
{
	memset(b, 0, 96);
	b[0] = 0x00;			/* connected, direct access block device */
	b[2] = 0x06;			/* SPC-4 */
	b[3] = 0x12;			/* HISUP, response data format 2 */
	b[4] = 96 - 5;
	b[5] = tpc_on(d) ? 0x08 : 0x00;	/* 3PC, ref 3.2 */
	b[7] = 0x02;			/* CMDQUE */
	memcpy(&b[8], VENDOR, 8);
	memcpy(&b[16], PRODUCT, 16);
	memcpy(&b[32], REVISION, 4);
	put_be16(&b[58], 0x00C0);	/* SAM-4 */
	put_be16(&b[60], 0x0460);	/* SPC-4 */
	put_be16(&b[62], 0x04C0);	/* SBC-3 */
	return 96;
}

static size_t vpd_supported(struct odx_dev *d, uint8_t *b)
{
	size_t n = 4;

	b[n++] = 0x00;
	b[n++] = 0x80;
	b[n++] = 0x83;
	if (tpc_on(d))
		b[n++] = 0x8F;	/* listed so ESXi/Windows/libiscsi look at it, ref 7.7 */
	b[n++] = 0xB0;
	b[n++] = 0xB1;
	if (d->k.thin)
		b[n++] = 0xB2;
	put_be16(&b[2], (uint16_t)(n - 4));
	return n;
}

static size_t vpd_serial(struct odx_dev *d, uint8_t *b)
{
	size_t l = strlen(d->serial);

	memcpy(&b[4], d->serial, l);
	put_be16(&b[2], (uint16_t)l);
	return 4 + l;
}

static size_t vpd_devid(struct odx_dev *d, uint8_t *b)
{
	size_t n = 4, l;

	/* NAA-6, 16 bytes, LU association: what sg_xcopy/ddpt/LIO pick (ref 3.4) */
	b[n + 0] = 0x01;
	b[n + 1] = 0x03;
	b[n + 3] = 16;
	memcpy(&b[n + 4], d->naa, 16);
	n += 20;

	/* T10 vendor id + serial, LU association */
	l = 8 + strlen(d->serial);
	b[n + 0] = 0x02;
	b[n + 1] = 0x01;
	b[n + 3] = (uint8_t)l;
	memcpy(&b[n + 4], VENDOR, 8);
	memcpy(&b[n + 12], d->serial, l - 8);
	n += 4 + l;

	put_be16(&b[2], (uint16_t)(n - 4));
	return n;
}

/* descriptor header + padding to a multiple of 4 (ref 3.6) */
static size_t tpc_desc_end(uint8_t *desc, size_t body)
{
	size_t len = (body + 3) & ~(size_t)3;

	put_be16(&desc[2], (uint16_t)len);
	return 4 + len;
}

static uint64_t max_token_blocks(struct odx_dev *d)
{
	return d->k.max_token_bytes / d->bs;
}

static size_t vpd_tpc(struct odx_dev *d, uint8_t *b)
{
	struct odx_knobs *k = &d->k;
	size_t n = 4, body, i;
	uint8_t *p;
	uint64_t adv_blocks = k->advertise_max_token ? max_token_blocks(d) : 0;

	/* 0x0000 Block Device ROD Token Limits */
	if (k->odx) {
		p = &b[n];
		put_be16(&p[0], 0x0000);
		put_be16(&p[2], 0x0020);
		put_be16(&p[10], k->max_ranges);
		put_be32(&p[12], k->inactivity_max);
		put_be32(&p[16], k->inactivity_default);
		put_be64(&p[20], adv_blocks);
		put_be64(&p[28], adv_blocks);	/* optimal = one whole token */
		n += 36;
	}

	/* 0x0001 Supported Commands */
	p = &b[n];
	put_be16(&p[0], 0x0001);
	i = 5;
	p[i++] = 0x83;
	{
		size_t cnt = i++;

		if (k->xcopy)
			p[i++] = 0x00;
		if (k->odx) {
			p[i++] = 0x10;
			p[i++] = 0x11;
			p[i++] = 0x1C;
		}
		p[cnt] = (uint8_t)(i - cnt - 1);
	}
	p[i++] = 0x84;
	{
		size_t cnt = i++;

		if (k->xcopy)
			p[i++] = 0x00;
		p[i++] = 0x03;
		if (k->xcopy)
			p[i++] = 0x04;
		if (k->odx) {
			p[i++] = 0x05;
			p[i++] = 0x07;
			p[i++] = 0x08;
		}
		p[cnt] = (uint8_t)(i - cnt - 1);
	}
	p[4] = (uint8_t)(i - 5);
	n += tpc_desc_end(p, i - 4);

	/* 0x0004 Parameter Data (EXTENDED COPY limits, same as RCOP) */
	if (k->xcopy) {
		p = &b[n];
		put_be16(&p[0], 0x0004);
		put_be16(&p[2], 0x001C);
		put_be16(&p[8], 64);		/* CSCD descriptors */
		put_be16(&p[10], 64);		/* segment descriptors */
		put_be32(&p[12], 8192);		/* descriptor list length */
		put_be32(&p[16], 0);		/* no inline data */
		n += 32;

		/* 0x0008 Supported Descriptors */
		p = &b[n];
		put_be16(&p[0], 0x0008);
		p[4] = 2;
		p[5] = 0x02;			/* block -> block segment */
		p[6] = 0xE4;			/* identification CSCD */
		n += tpc_desc_end(p, 3);

		/* 0x000C Supported CSCD Descriptor IDs */
		p = &b[n];
		put_be16(&p[0], 0x000C);
		put_be16(&p[4], 2);
		put_be16(&p[6], 0xFFFF);	/* "this LU" */
		n += tpc_desc_end(p, 4);
	}

	if (k->odx) {
		/* 0x0106 ROD Token Features + one block-device descriptor */
		p = &b[n];
		put_be16(&p[0], 0x0106);
		put_be16(&p[2], 44 + 48);
		p[4] = 0;				/* no remote tokens */
		put_be32(&p[16], 1);			/* minimum token lifetime */
		put_be32(&p[20], k->token_lifetime ? k->token_lifetime : UINT32_MAX);
		put_be32(&p[24], k->inactivity_max);
		put_be16(&p[46], 48);
		p[48] = 0x00;				/* PDT 0 */
		put_be16(&p[50], 0x002C);
		put_be16(&p[54], 1);			/* granularity: 1 block */
		put_be64(&p[56], adv_blocks * d->bs);	/* maximum bytes in block ROD */
		put_be64(&p[64], adv_blocks * d->bs);
		put_be64(&p[72], adv_blocks * d->bs);
		put_be64(&p[80], k->max_wut_bytes ? k->max_wut_bytes : adv_blocks * d->bs);
		n += 96;

		/* 0x0108 Supported ROD Token and ROD Types */
		p = &b[n];
		put_be16(&p[0], 0x0108);
		body = 8;
		{
			uint8_t *r = &p[8];
			size_t nt = 0;

			put_be32(&r[nt * 64], ROD_TYPE_AUR);
			r[nt * 64 + 4] = 0x03;		/* TOKEN_IN | TOKEN_OUT */
			put_be16(&r[nt * 64 + 6], k->token_mode == TOK_AUR ? 1 : 0);
			nt++;
			if (k->token_mode == TOK_PIT) {
				put_be32(&r[nt * 64], ROD_TYPE_PIT_DEFAULT);
				r[nt * 64 + 4] = 0x03;
				put_be16(&r[nt * 64 + 6], 1);
				nt++;
				put_be32(&r[nt * 64], ROD_TYPE_PIT_VULN);
				r[nt * 64 + 4] = 0x03;
				nt++;
				put_be32(&r[nt * 64], ROD_TYPE_PIT_COW);
				r[nt * 64 + 4] = 0x03;
				nt++;
			}
			put_be32(&r[nt * 64], ROD_TYPE_BLOCK_ZERO);
			r[nt * 64 + 4] = 0x02;		/* TOKEN_IN only */
			nt++;
			put_be16(&p[6], (uint16_t)(nt * 64));
			body += nt * 64;
		}
		put_be16(&p[2], (uint16_t)(body - 4));
		n += body;
	}

	/* 0x8001 General Copy Operations */
	p = &b[n];
	put_be16(&p[0], 0x8001);
	put_be16(&p[2], 0x0020);
	put_be32(&p[4], 64);			/* total concurrent copies */
	put_be32(&p[8], 64);			/* maximum identified concurrent copies */
	put_be32(&p[12], 256u << 20);		/* maximum segment length, bytes */
	p[16] = (uint8_t)__builtin_ctz(d->bs);	/* data segment granularity, log2 bytes (ref 8.2) */
	p[17] = (uint8_t)__builtin_ctz(d->bs);
	n += 36;

	put_be16(&b[2], (uint16_t)(n - 4));
	return n;
}

static size_t vpd_block_limits(struct odx_dev *d, uint8_t *b, uint32_t max_xfer)
{
	put_be16(&b[2], 0x3C);
	b[5] = 1;				/* MAXIMUM COMPARE AND WRITE LENGTH (ODX_MAX_CAW) */
	put_be16(&b[6], 1);
	put_be32(&b[8], max_xfer);
	put_be32(&b[12], max_xfer);
	put_be64(&b[36], 0x400000);		/* WRITE SAME: we loop, any size is fine */
	if (d->k.thin) {
		put_be32(&b[20], d->k.max_unmap_blocks);
		put_be32(&b[24], d->k.max_unmap_descs);
		put_be32(&b[28], d->unmap_gran);
		put_be32(&b[32], 0x80000000u);	/* UGAVALID, alignment 0 */
	}
	return 64;
}

static size_t vpd_block_chars(uint8_t *b)
{
	put_be16(&b[2], 0x3C);
	put_be16(&b[4], 1);			/* non-rotating medium */
	return 64;
}

int odx_inquiry(struct odx_dev *d, const uint8_t *cdb, const struct iovec *iov, size_t cnt,
		struct odx_sense *s)
{
	uint8_t buf[2048];
	uint16_t alloc = get_be16(&cdb[3]);
	size_t n;

	memset(buf, 0, sizeof(buf));
	if (cdb[1] & 0x02) {			/* CmdDt: obsolete */
		sense_invalid_cdb(s, 1);
		return -1;
	}
	if (!(cdb[1] & 0x01)) {
		if (cdb[2]) {
			sense_invalid_cdb(s, 2);
			return -1;
		}
		n = std_inquiry(d, buf);
	} else {
		buf[1] = cdb[2];
		switch (cdb[2]) {
		case 0x00: n = vpd_supported(d, buf); break;
		case 0x80: n = vpd_serial(d, buf); break;
		case 0x83: n = vpd_devid(d, buf); break;
		case 0x8F:
			if (!tpc_on(d))
				goto bad_page;
			n = vpd_tpc(d, buf);
			break;
		case 0xB0: n = vpd_block_limits(d, buf, odx_max_xfer_blocks(d)); break;
		case 0xB1: n = vpd_block_chars(buf); break;
		case 0xB2:
			if (!d->k.thin)
				goto bad_page;
			n = odx_vpd_lbp(d, buf);
			break;
		default:
bad_page:
			sense_invalid_cdb(s, 2);
			return -1;
		}
	}
	data_in(iov, cnt, buf, n, alloc);
	return 0;
}

/* ------------------------------------------------------------------ */
/* MODE SENSE(6/10), SPC-4 6.11/6.12 and SBC-3 6.4                     */

/*
 * Ours rather than tcmu-runner's: the header's DEVICE-SPECIFIC PARAMETER must
 * say DPOFUA (SBC-3 6.4.1), because READ/WRITE honour FUA and accept DPO.
 * Pages: read-write error recovery (0x01), caching (0x08, WCE: writes reach
 * the page cache until SYNCHRONIZE CACHE or FUA), control (0x0A, fixed-format
 * sense). Nothing is changeable; no saved values; no block descriptors.
 */
static size_t mode_page(uint8_t page, uint8_t pc, uint8_t *b)
{
	bool chg = pc == 1;

	switch (page) {
	case 0x01:
		memset(b, 0, 12);
		b[0] = 0x01;
		b[1] = 0x0A;
		return 12;
	case 0x08:
		memset(b, 0, 20);
		b[0] = 0x08;
		b[1] = 0x12;
		b[2] = chg ? 0 : 0x04;		/* WCE */
		return 20;
	case 0x0A:
		memset(b, 0, 12);
		b[0] = 0x0A;
		b[1] = 0x0A;
		if (!chg) {
			b[2] = 0x02;		/* GLTSD */
			b[5] = 0x40;		/* TAS */
			put_be16(&b[8], 0xFFFF);/* BUSY TIMEOUT PERIOD: unlimited */
		}
		return 12;
	default:
		return 0;
	}
}

int odx_mode_sense(struct odx_dev *d, const uint8_t *cdb, const struct iovec *iov, size_t cnt,
		   struct odx_sense *s)
{
	bool ten = cdb[0] == 0x5A;
	uint8_t pc = cdb[2] >> 6, page = cdb[2] & 0x3F, sub = cdb[3];
	uint32_t alloc = ten ? get_be16(&cdb[7]) : cdb[4];
	size_t hdr = ten ? 8 : 4, n = hdr;
	uint8_t b[128];

	(void)d;
	memset(b, 0, sizeof(b));
	if (pc == 3) {
		sense_set(s, SK_ILLEGAL_REQUEST, 0x39, 0x00);	/* SAVING PARAMETERS NOT SUPPORTED */
		return -1;
	}
	if (page == 0x3F && (sub == 0x00 || sub == 0xFF)) {
		n += mode_page(0x01, pc, &b[n]);
		n += mode_page(0x08, pc, &b[n]);
		n += mode_page(0x0A, pc, &b[n]);
	} else if (sub == 0x00 && mode_page(page, pc, &b[n])) {
		n += mode_page(page, pc, &b[n]);
	} else {
		sense_invalid_cdb(s, sub ? 3 : 2);
		return -1;
	}
	if (ten) {
		put_be16(&b[0], (uint16_t)(n - 2));
		b[3] = 0x10;				/* DPOFUA */
	} else {
		b[0] = (uint8_t)(n - 1);
		b[2] = 0x10;
	}
	data_in(iov, cnt, b, n, alloc);
	return 0;
}
