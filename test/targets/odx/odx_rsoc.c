/*
 * odx handler: REPORT SUPPORTED OPERATION CODES (MAINTENANCE IN, SA 0x0C;
 * SPC-4 6.35). Lists what this handler answers itself, plus TEST UNIT READY
 * (tcmu-runner) and REPORT LUNS (the kernel). tcmu-runner's other emulations
 * (MODE SELECT, START STOP UNIT, FORMAT UNIT, RTPG) and the kernel's
 * PERSISTENT RESERVE are left out (README).
 *
 * CDB USAGE DATA marks the bits the device server looks at. RDPROTECT/
 * WRPROTECT/VRPROTECT are not marked: only 0 is accepted (no protection
 * information). DPO and FUA are (MODE SENSE says DPOFUA).
 */
#include <string.h>

#include "odx.h"

struct opdesc {
	uint8_t op;
	uint16_t sa;
	bool has_sa;
	uint8_t len;
	uint8_t usage[16];	/* byte 0 is the opcode */
	uint8_t need;		/* 0: always; 1: xcopy knob; 2: odx knob; 3: thin; 4: not thin */
};

#define FF4 0xFF, 0xFF, 0xFF, 0xFF
#define FF8 FF4, FF4

static const struct opdesc ops[] = {
	{ 0x00, 0, false, 6, { 0x00, 0, 0, 0, 0, 0 }, 0 },			/* TEST UNIT READY */
	{ 0x08, 0, false, 6, { 0x08, 0x1F, 0xFF, 0xFF, 0xFF, 0 }, 0 },		/* READ(6) */
	{ 0x0A, 0, false, 6, { 0x0A, 0x1F, 0xFF, 0xFF, 0xFF, 0 }, 0 },		/* WRITE(6) */
	{ 0x12, 0, false, 6, { 0x12, 0x01, 0xFF, 0xFF, 0xFF, 0 }, 0 },		/* INQUIRY */
	{ 0x1A, 0, false, 6, { 0x1A, 0x08, 0xFF, 0xFF, 0xFF, 0 }, 0 },		/* MODE SENSE(6) */
	{ 0x25, 0, false, 10, { 0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, 0 },		/* READ CAPACITY(10) */
	{ 0x28, 0, false, 10, { 0x28, 0x18, FF4, 0, 0xFF, 0xFF, 0 }, 0 },	/* READ(10) */
	{ 0x2A, 0, false, 10, { 0x2A, 0x18, FF4, 0, 0xFF, 0xFF, 0 }, 0 },	/* WRITE(10) */
	{ 0x2E, 0, false, 10, { 0x2E, 0x12, FF4, 0, 0xFF, 0xFF, 0 }, 0 },	/* WRITE AND VERIFY(10) */
	{ 0x2F, 0, false, 10, { 0x2F, 0x16, FF4, 0, 0xFF, 0xFF, 0 }, 0 },	/* VERIFY(10) */
	{ 0x35, 0, false, 10, { 0x35, 0, FF4, 0, 0xFF, 0xFF, 0 }, 0 },		/* SYNCHRONIZE CACHE(10) */
	{ 0x41, 0, false, 10, { 0x41, 0, FF4, 0, 0xFF, 0xFF, 0 }, 4 },		/* WRITE SAME(10) */
	{ 0x41, 0, false, 10, { 0x41, 0x08, FF4, 0, 0xFF, 0xFF, 0 }, 3 },	/* WRITE SAME(10), thin: UNMAP */
	{ 0x42, 0, false, 10, { 0x42, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0 }, 3 },	/* UNMAP */
	{ 0x5A, 0, false, 10, { 0x5A, 0x18, 0xFF, 0xFF, 0, 0, 0, 0xFF, 0xFF, 0 }, 0 }, /* MODE SENSE(10) */
	{ 0x83, 0x00, true, 16, { 0x83, 0x1F, 0, 0, 0, 0, 0, 0, 0, 0, FF4, 0, 0 }, 1 },	/* EXTENDED COPY(LID1) */
	{ 0x83, 0x10, true, 16, { 0x83, 0x1F, 0, 0, 0, 0, FF4, FF4, 0, 0 }, 2 },		/* POPULATE TOKEN */
	{ 0x83, 0x11, true, 16, { 0x83, 0x1F, 0, 0, 0, 0, FF4, FF4, 0, 0 }, 2 },		/* WRITE USING TOKEN */
	{ 0x83, 0x1C, true, 16, { 0x83, 0x1F, FF4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, 2 },	/* COPY OPERATION ABORT */
	{ 0x84, 0x00, true, 16, { 0x84, 0x1F, 0xFF, 0, 0, 0, 0, 0, 0, 0, FF4, 0, 0 }, 1 },	/* RECEIVE COPY STATUS(LID1) */
	{ 0x84, 0x03, true, 16, { 0x84, 0x1F, 0, 0, 0, 0, 0, 0, 0, 0, FF4, 0, 0 }, 0 },	/* RECEIVE COPY OPERATING PARAMETERS */
	{ 0x84, 0x04, true, 16, { 0x84, 0x1F, 0xFF, 0, 0, 0, 0, 0, 0, 0, FF4, 0, 0 }, 1 },	/* RECEIVE COPY FAILURE DETAILS */
	{ 0x84, 0x05, true, 16, { 0x84, 0x1F, FF4, 0, 0, 0, 0, FF4, 0, 0 }, 2 },		/* RECEIVE COPY STATUS(LID4) */
	{ 0x84, 0x07, true, 16, { 0x84, 0x1F, FF4, 0, 0, 0, 0, FF4, 0, 0 }, 2 },		/* RECEIVE ROD TOKEN INFORMATION */
	{ 0x84, 0x08, true, 16, { 0x84, 0x1F, 0, 0, 0, 0, 0, 0, 0, 0, FF4, 0, 0 }, 2 },	/* REPORT ALL ROD TOKENS */
	{ 0x88, 0, false, 16, { 0x88, 0x18, FF8, FF4, 0, 0 }, 0 },		/* READ(16) */
	{ 0x8A, 0, false, 16, { 0x8A, 0x18, FF8, FF4, 0, 0 }, 0 },		/* WRITE(16) */
	{ 0x89, 0, false, 16, { 0x89, 0x18, FF8, 0, 0, 0, 0xFF, 0, 0 }, 0 },	/* COMPARE AND WRITE */
	{ 0x8E, 0, false, 16, { 0x8E, 0x12, FF8, FF4, 0, 0 }, 0 },		/* WRITE AND VERIFY(16) */
	{ 0x8F, 0, false, 16, { 0x8F, 0x16, FF8, FF4, 0, 0 }, 0 },		/* VERIFY(16) */
	{ 0x91, 0, false, 16, { 0x91, 0, FF8, FF4, 0, 0 }, 0 },			/* SYNCHRONIZE CACHE(16) */
	{ 0x93, 0, false, 16, { 0x93, 0x01, FF8, FF4, 0, 0 }, 4 },		/* WRITE SAME(16) */
	{ 0x93, 0, false, 16, { 0x93, 0x09, FF8, FF4, 0, 0 }, 3 },		/* WRITE SAME(16), thin: UNMAP */
	{ 0x9E, 0x10, true, 16, { 0x9E, 0x1F, 0, 0, 0, 0, 0, 0, 0, 0, FF4, 0, 0 }, 0 },	/* READ CAPACITY(16) */
	{ 0x9E, 0x12, true, 16, { 0x9E, 0x1F, FF8, FF4, 0, 0 }, 3 },		/* GET LBA STATUS */
	{ 0xA0, 0, false, 12, { 0xA0, 0, 0xFF, 0, 0, 0, FF4, 0, 0 }, 0 },	/* REPORT LUNS (kernel) */
	{ 0xA3, 0x0C, true, 12, { 0xA3, 0x1F, 0x87, 0xFF, 0xFF, 0xFF, FF4, 0, 0 }, 0 },	/* this one */
	{ 0xA8, 0, false, 12, { 0xA8, 0x18, FF4, FF4, 0, 0 }, 0 },		/* READ(12) */
	{ 0xAA, 0, false, 12, { 0xAA, 0x18, FF4, FF4, 0, 0 }, 0 },		/* WRITE(12) */
	{ 0xAE, 0, false, 12, { 0xAE, 0x12, FF4, FF4, 0, 0 }, 0 },		/* WRITE AND VERIFY(12) */
	{ 0xAF, 0, false, 12, { 0xAF, 0x16, FF4, FF4, 0, 0 }, 0 },		/* VERIFY(12) */
};

static bool offered(const struct odx_dev *d, const struct opdesc *o)
{
	return o->need == 0 || (o->need == 1 && d->k.xcopy) || (o->need == 2 && d->k.odx) ||
	       (o->need == 3 && d->k.thin) || (o->need == 4 && !d->k.thin);
}

/* the timeouts descriptor (RCTD): none reported (SPC-4 6.35.4: 0 = not specified) */
static size_t timeouts(uint8_t *b)
{
	memset(b, 0, 12);
	put_be16(b, 0x000A);
	return 12;
}

int odx_rsoc(struct odx_dev *d, const uint8_t *cdb, const struct iovec *iov, size_t cnt,
	     struct odx_sense *s)
{
	bool rctd = cdb[2] & 0x80;
	uint8_t opts = cdb[2] & 0x07, rop = cdb[3];
	uint16_t rsa = get_be16(&cdb[4]);
	uint8_t b[sizeof(ops) / sizeof(ops[0]) * 20 + 4];
	size_t n = 4, i;

	memset(b, 0, sizeof(b));
	if (opts == 0) {
		for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
			const struct opdesc *o = &ops[i];

			if (!offered(d, o))
				continue;
			b[n] = o->op;
			put_be16(&b[n + 2], o->sa);
			b[n + 5] = (uint8_t)((rctd ? 0x02 : 0) | (o->has_sa ? 0x01 : 0));
			put_be16(&b[n + 6], o->len);
			n += 8;
			if (rctd)
				n += timeouts(&b[n]);
		}
		put_be32(b, (uint32_t)(n - 4));
	} else if (opts <= 3) {
		const struct opdesc *o = NULL;

		for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
			if (ops[i].op != rop || !offered(d, &ops[i]))
				continue;
			/* 001b: by opcode, which must have no service actions; 010b: by
			 * opcode and SA, which must have them; 011b: either */
			if ((opts == 1 && ops[i].has_sa) || (opts == 2 && !ops[i].has_sa)) {
				sense_invalid_cdb(s, 2);
				return -1;
			}
			if (!ops[i].has_sa || ops[i].sa == rsa) {
				o = &ops[i];
				break;
			}
		}
		n = 4;
		if (o) {
			b[1] = (uint8_t)((rctd ? 0x80 : 0) | 0x03);	/* SUPPORT 011b: as the standard says */
			put_be16(&b[2], o->len);
			memcpy(&b[4], o->usage, o->len);
			n += o->len;
			if (rctd)
				n += timeouts(&b[n]);
		} else {
			b[1] = 0x01;				/* SUPPORT 001b: not supported */
		}
	} else {
		sense_invalid_cdb(s, 2);
		return -1;
	}
	data_in(iov, cnt, b, n, get_be32(&cdb[6]));
	return 0;
}
