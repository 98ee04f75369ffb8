/*
 * odx handler: third-party copy.
 *
 *   0x83 THIRD-PARTY COPY OUT: EXTENDED COPY(LID1) 00h, POPULATE TOKEN 10h,
 *        WRITE USING TOKEN 11h, COPY OPERATION ABORT 1Ch           (ref 5.x)
 *   0x84 THIRD-PARTY COPY IN: RECEIVE COPY STATUS(LID1) 00h, OPERATING
 *        PARAMETERS 03h, FAILURE DETAILS 04h, COPY STATUS(LID4) 05h,
 *        RECEIVE ROD TOKEN INFORMATION 07h, REPORT ALL ROD TOKENS 08h
 *
 * Tokens live in one table for the whole tcmu-runner process, so a token made
 * on one LUN of this handler can be written out on any other (ref 6).
 * Behaviour follows FreeBSD CTL where the reference has nothing better;
 * README.md lists every place where we differ and why.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "odx.h"

#define CHUNK_BYTES	(1u << 20)	/* internal copy I/O size (FreeBSD uses 1 MiB too) */
#define MAX_LISTS	64		/* per LU; advertised as concurrent copies */
#define MAX_CSCD	64
#define MAX_SEGS	64
#define MAX_DESC_LIST	8192
#define TOMBSTONES	4096
#define TOKEN_LEN	512

/* ------------------------------------------------------------------ */
/* tokens                                                              */

struct cow_ext {			/* old data saved for a point-in-time token */
	uint64_t lba;
	uint32_t n;
	uint8_t *data;
};

struct odx_token {
	struct odx_token *next;
	uint8_t bytes[TOKEN_LEN];
	uint64_t id;
	struct odx_dev *src;
	uint32_t bs;
	uint32_t rod_type;
	bool pit;			/* copy old data aside on write, else revoke */
	struct odx_range *r;
	uint32_t nr;
	uint64_t blocks;
	uint64_t created_ms, last_ms;
	uint64_t inactivity_ms, lifetime_ms;	/* lifetime 0: none */
	uint64_t pit_budget;		/* bytes, from the creating LU's knob */
	int users;			/* WRITE USING TOKEN operations reading it */
	uint8_t dead;			/* 0, or the 23h ASCQ a later use gets */
	struct cow_ext *cow;
	size_t ncow, capcow;
};

static struct odx_token *tokens;
static uint32_t ntokens;		/* live ones (not dead) */
static uint64_t next_token_id;
static uint8_t cm_naa[16];		/* this copy manager's id (token bytes 128+) */
static uint64_t cow_total;		/* bytes saved aside, whole process */
static struct { uint64_t id; uint8_t ascq; } tomb[TOMBSTONES];
static size_t tomb_next;

static void fill_random(uint8_t *p, size_t n)
{
	while (n) {
		ssize_t r = getrandom(p, n, 0);

		if (r <= 0) {
			/* no entropy source: still unique enough for a test target */
			for (size_t i = 0; i < n; i++)
				p[i] = (uint8_t)(rand() ^ (int)odx_now_ms());
			return;
		}
		p += r;
		n -= (size_t)r;
	}
}

static void tpc_init_once(void)
{
	uint8_t r[8];

	if (next_token_id)
		return;
	/* ids start at a random point: a token from an earlier run of the
	 * process is then "unknown" (23/04), never confused with a new one */
	fill_random(r, sizeof(r));
	next_token_id = (get_be64(r) >> 1) | 1;
	fill_random(cm_naa, sizeof(cm_naa));
	cm_naa[0] = 0x60;		/* NAA-6, same company id as our LUs */
	cm_naa[1] = 0x01;
	cm_naa[2] = 0x40;
	cm_naa[3] = (uint8_t)(0x50 | (cm_naa[3] & 0x0F));
}

/* FNV-1a over bytes 0-503, stored in 504-511: tells a damaged token (23/05)
 * from a well-formed one we do not know (23/04) */
static uint64_t token_sum(const uint8_t *b)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (int i = 0; i < TOKEN_LEN - 8; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static void tomb_add(uint64_t id, uint8_t ascq)
{
	tomb[tomb_next].id = id;
	tomb[tomb_next].ascq = ascq;
	tomb_next = (tomb_next + 1) % TOMBSTONES;
}

static uint8_t tomb_find(uint64_t id)
{
	for (size_t i = 0; i < TOMBSTONES; i++)
		if (tomb[i].ascq && tomb[i].id == id)
			return tomb[i].ascq;
	return 0;
}

static void token_free(struct odx_token *t)
{
	struct odx_token **pp;

	for (pp = &tokens; *pp; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	}
	for (size_t i = 0; i < t->ncow; i++) {
		cow_total -= (uint64_t)t->cow[i].n * t->bs;
		free(t->cow[i].data);
	}
	free(t->cow);
	free(t->r);
	free(t);
}

/* The token dies with cause ascq (23/ascq for whoever presents it later).
 * A token being read by a WRITE USING TOKEN is freed when that finishes. */
static void token_kill(struct odx_token *t, uint8_t ascq)
{
	if (t->dead)
		return;
	tomb_add(t->id, ascq);
	t->dead = ascq;
	ntokens--;
	if (!t->users)
		token_free(t);
}

static bool token_expired(const struct odx_token *t, uint64_t now)
{
	if (t->users)
		return false;
	if (now > t->last_ms + t->inactivity_ms)
		return true;
	return t->lifetime_ms && now > t->created_ms + t->lifetime_ms;
}

static void tokens_sweep(void)
{
	uint64_t now = odx_now_ms();
	struct odx_token *t, *nx;

	for (t = tokens; t; t = nx) {
		nx = t->next;
		if (!t->dead && token_expired(t, now))
			token_kill(t, 0x07);		/* TOKEN EXPIRED */
	}
}

static void token_release(struct odx_token *t)
{
	t->src->refs--;
	t->last_ms = odx_now_ms();
	if (--t->users == 0 && t->dead)
		token_free(t);
	pthread_cond_broadcast(&odx_cond);
}

/* save the old data of [lba, lba+n) that t has not saved yet */
static int cow_save(struct odx_token *t, uint64_t lba, uint64_t n)
{
	struct { uint64_t lba, n; } gap[64];
	size_t ngap = 0, i;
	uint64_t pos = lba, end = lba + n;

	for (i = 0; i < t->ncow && pos < end; i++) {
		uint64_t el = t->cow[i].lba, ee = el + t->cow[i].n;

		if (ee <= pos)
			continue;
		if (el >= end)
			break;
		if (el > pos) {
			if (ngap == 64)
				return -1;
			gap[ngap].lba = pos;
			gap[ngap++].n = el - pos;
		}
		pos = ee;
	}
	if (pos < end) {
		if (ngap == 64)
			return -1;
		gap[ngap].lba = pos;
		gap[ngap++].n = end - pos;
	}
	for (i = 0; i < ngap; i++) {
		uint64_t bytes = gap[i].n * t->bs;
		struct cow_ext e;
		size_t at;

		if (cow_total + bytes > t->pit_budget)
			return -1;
		e.lba = gap[i].lba;
		e.n = (uint32_t)gap[i].n;
		e.data = malloc(bytes);
		if (!e.data)
			return -1;
		if (odx_pread_full(t->src->fd, e.data, bytes, e.lba * t->bs)) {
			free(e.data);
			return -1;
		}
		if (t->ncow == t->capcow) {
			size_t cap = t->capcow ? t->capcow * 2 : 8;
			struct cow_ext *c = realloc(t->cow, cap * sizeof(*c));

			if (!c) {
				free(e.data);
				return -1;
			}
			t->cow = c;
			t->capcow = cap;
		}
		for (at = 0; at < t->ncow && t->cow[at].lba < e.lba; at++)
			;
		memmove(&t->cow[at + 1], &t->cow[at], (t->ncow - at) * sizeof(*t->cow));
		t->cow[at] = e;
		t->ncow++;
		cow_total += bytes;
	}
	return 0;
}

/*
 * Called by every write (odx_lock held) before the data reaches the file:
 * access-upon-reference tokens over the range are revoked (a later use gets
 * 23/06 TOKEN REVOKED); point-in-time tokens save the old blocks first. A
 * point-in-time token that cannot (budget, memory, I/O) is revoked instead.
 */
int odx_tokens_before_write(struct odx_dev *d, uint64_t lba, uint64_t nblocks)
{
	struct odx_token *t, *nx;
	uint64_t wend = lba + nblocks;

	for (t = tokens; t; t = nx) {
		nx = t->next;
		if (t->dead || t->src != d)
			continue;
		for (uint32_t i = 0; i < t->nr; i++) {
			uint64_t rs = t->r[i].lba, re = rs + t->r[i].nblocks;
			uint64_t s = rs > lba ? rs : lba, e = re < wend ? re : wend;

			if (s >= e)
				continue;
			if (!t->pit || cow_save(t, s, e - s)) {
				token_kill(t, 0x06);	/* TOKEN REVOKED */
				break;
			}
		}
	}
	return 0;
}

/* read n blocks at source lba of t (inside one of its ranges): the file,
 * with saved old data laid over it. Returns 0 or the 23h ASCQ. */
static uint8_t token_read(struct odx_token *t, uint64_t lba, uint64_t n, uint8_t *buf)
{
	uint8_t rc = 0;

	pthread_mutex_lock(&odx_lock);
	if (t->dead) {
		rc = t->dead;
	} else if (t->src->closing) {
		token_kill(t, 0x08);			/* TOKEN CANCELLED */
		rc = 0x08;
	} else if (odx_pread_full(t->src->fd, buf, n * t->bs, lba * t->bs)) {
		rc = 0xFF;				/* read error, not a token problem */
	} else {
		for (size_t i = 0; i < t->ncow; i++) {
			struct cow_ext *e = &t->cow[i];
			uint64_t s = e->lba > lba ? e->lba : lba;
			uint64_t en = e->lba + e->n < lba + n ? e->lba + e->n : lba + n;

			if (s < en)
				memcpy(buf + (s - lba) * t->bs, e->data + (s - e->lba) * t->bs,
				       (en - s) * t->bs);
		}
	}
	pthread_mutex_unlock(&odx_lock);
	return rc;
}

/* ------------------------------------------------------------------ */
/* lists (operations by list identifier, per LU; ref 7.4)              */

/*
 * TCMU does not tell a handler which initiator sent a command, so lists are
 * keyed by LU and list id only (the I_T nexus part of the key is missing:
 * README "Deviations").
 */
static struct odx_list *list_find(struct odx_dev *d, uint32_t id)
{
	struct odx_list *l;

	for (l = d->lists; l; l = l->next)
		if (l->id == id)
			return l;
	return NULL;
}

static void list_unlink(struct odx_dev *d, struct odx_list *l)
{
	struct odx_list **pp;

	for (pp = &d->lists; *pp; pp = &(*pp)->next) {
		if (*pp == l) {
			*pp = l->next;
			return;
		}
	}
}

static void lists_purge(struct odx_dev *d)
{
	uint64_t now = odx_now_ms();
	struct odx_list *l, *nx;

	for (l = d->lists; l; l = nx) {
		nx = l->next;
		if (l->done && now > l->done_ms + (uint64_t)d->k.list_retention * 1000) {
			list_unlink(d, l);
			free(l);
		}
	}
}

/* a new operation with list id `id`; NULL with sense set if it cannot start */
static struct odx_list *list_begin(struct odx_dev *d, uint32_t id, uint8_t sa, bool immed,
				   struct odx_sense *s)
{
	struct odx_list *l, *oldest = NULL;
	int n = 0;

	lists_purge(d);
	l = list_find(d, id);
	if (l && !l->done) {
		/* list id in use: ref 7.4 / 8.6, the ASC is a knob */
		sense_set(s, SK_ILLEGAL_REQUEST, d->k.lid_busy >> 8, d->k.lid_busy & 0xFF);
		return NULL;
	}
	if (l) {			/* a completed list with the same id is replaced */
		list_unlink(d, l);
		free(l);
	}
	for (l = d->lists; l; l = l->next) {
		n++;
		if (l->done && (!oldest || l->done_ms < oldest->done_ms))
			oldest = l;
	}
	if (n >= MAX_LISTS) {
		if (!oldest) {
			sense_set(s, SK_ILLEGAL_REQUEST, 0x55, 0x03);	/* INSUFFICIENT RESOURCES */
			return NULL;
		}
		list_unlink(d, oldest);
		free(oldest);
	}
	l = calloc(1, sizeof(*l));
	if (!l) {
		sense_set(s, SK_HARDWARE_ERROR, 0x44, 0x00);
		return NULL;
	}
	l->id = id;
	l->sa = sa;
	l->immed = immed;
	l->next = d->lists;
	d->lists = l;
	return l;
}

/* record the end of an operation (odx_lock held) */
static void list_end(struct odx_list *l, uint8_t op_status, const struct odx_sense *s)
{
	l->done = true;
	l->done_ms = odx_now_ms();
	l->op_status = op_status;
	if (s && s->status != ST_GOOD) {
		l->cmd_status = s->status;
		if (s->status == ST_CHECK) {
			memcpy(l->sense, s->b, ODX_SENSE_LEN);
			l->sense_len = ODX_SENSE_LEN;
		}
	}
}

void odx_tpc_free_lists(struct odx_dev *d)
{
	struct odx_list *l;

	while ((l = d->lists)) {
		d->lists = l->next;
		free(l);
	}
}

void odx_tpc_dev_close(struct odx_dev *d)
{
	struct odx_token *t, *nx;
	struct odx_list *l;

	d->closing = true;
	for (l = d->lists; l; l = l->next)
		l->abort_req = true;
	for (t = tokens; t; t = nx) {
		nx = t->next;
		if (t->src == d)
			token_kill(t, 0x08);			/* TOKEN CANCELLED */
	}
	/* IMMED workers of this LU, and operations elsewhere reading from it */
	while (d->workers || d->refs)
		pthread_cond_wait(&odx_cond, &odx_lock);
}

/* ------------------------------------------------------------------ */
/* helpers                                                             */

static bool fault_hits(const struct odx_fault *f, uint32_t count)
{
	if (!f->set)
		return false;
	return f->every ? count % f->n == 0 : count == f->n;
}

static void fault_sense(const struct odx_fault *f, struct odx_sense *s)
{
	sense_set(s, f->key, f->asc, f->ascq);
}

/*
 * delay for `bytes` written at latency_ms_per_mib, carrying the remainder; with
 * latency_mib only the LU's first latency_mib MiB are slow (a slow start)
 */
static void latency(struct odx_dev *d, uint64_t bytes, uint64_t *carry)
{
	const struct odx_knobs *k = &d->k;
	uint64_t x;

	if (!k->latency_ms_per_mib)
		return;
	if (k->latency_mib) {
		uint64_t cap = (uint64_t)k->latency_mib << 20, before;

		pthread_mutex_lock(&odx_lock);
		before = d->slow_bytes;
		d->slow_bytes = bytes > cap - before ? cap : before + bytes;
		pthread_mutex_unlock(&odx_lock);
		if (bytes > cap - before)
			bytes = cap - before;
		if (!bytes)
			return;
	}
	x = bytes * k->latency_ms_per_mib + *carry;
	*carry = x & ((1u << 20) - 1);
	if (x >> 20)
		odx_sleep_ms(x >> 20);
}

/*
 * Parameter data of the CDB's length, as far as the initiator sent it: the
 * buffer with at least min bytes received, or NULL with s set.
 */
static uint8_t *param_in(const struct iovec *iov, size_t cnt, uint32_t want, uint32_t min,
			 uint32_t *got, struct odx_sense *s)
{
	size_t have = iov_len(iov, cnt);
	uint8_t *buf;

	if (have > want)
		have = want;
	buf = calloc(1, want ? want : 1);
	if (!buf) {
		sense_set(s, SK_HARDWARE_ERROR, 0x44, 0x00);
		return NULL;
	}
	*got = (uint32_t)iov_copy_in(buf, have, iov, cnt, 0);
	if (*got < min) {
		sense_param_len(s);
		free(buf);
		return NULL;
	}
	return buf;
}

/*
 * Block device range descriptors at p (ref 5.8): inside the LU (21/00 with
 * the LBA in INFORMATION) and not overlapping each other (26/00, FreeBSD).
 */
static int ranges_parse(struct odx_dev *d, const uint8_t *p, uint32_t nr, uint16_t base,
			struct odx_range **out, uint64_t *total, struct odx_sense *s)
{
	struct odx_range *r = calloc(nr ? nr : 1, sizeof(*r));
	uint64_t sum = 0;

	if (!r) {
		sense_set(s, SK_HARDWARE_ERROR, 0x44, 0x00);
		return -1;
	}
	for (uint32_t i = 0; i < nr; i++) {
		r[i].lba = get_be64(p + 16 * i);
		r[i].nblocks = get_be32(p + 16 * i + 8);
		if (r[i].lba > d->nblocks || r[i].nblocks > d->nblocks - r[i].lba) {
			sense_lba_range(s, r[i].lba > d->nblocks ? r[i].lba : d->nblocks);
			free(r);
			return -1;
		}
		sum += r[i].nblocks;
	}
	for (uint32_t i = 0; i < nr; i++) {
		for (uint32_t j = i + 1; j < nr; j++) {
			if (!r[i].nblocks || !r[j].nblocks)
				continue;
			if (r[i].lba < r[j].lba + r[j].nblocks && r[j].lba < r[i].lba + r[i].nblocks) {
				sense_invalid_param(s, (uint16_t)(base + 16 * j));
				free(r);
				return -1;
			}
		}
	}
	*out = r;
	*total = sum;
	return 0;
}

/* the common header checks of POPULATE TOKEN and WRITE USING TOKEN */
static int range_list_hdr(struct odx_dev *d, const uint8_t *buf, uint32_t got, uint32_t hdr,
			  uint32_t *nr, struct odx_sense *s)
{
	uint16_t dlen = get_be16(&buf[0]);
	uint16_t rdl = get_be16(&buf[hdr - 2]);

	if (rdl == 0 || rdl % 16) {
		sense_invalid_param(s, (uint16_t)(hdr - 2));
		return -1;
	}
	if (hdr + rdl > got) {			/* the list is shorter than it says */
		sense_param_len(s);
		return -1;
	}
	if ((uint32_t)dlen + 2 < hdr + rdl) {	/* DATA LENGTH does not cover the ranges */
		sense_invalid_param(s, 0);
		return -1;
	}
	if (rdl / 16 > d->k.max_ranges) {
		/* more than MAXIMUM RANGE DESCRIPTORS: TOO MANY SEGMENT DESCRIPTORS */
		sense_set(s, SK_ILLEGAL_REQUEST, 0x26, 0x08);
		sense_set_field(s, false, (uint16_t)(hdr - 2), -1);
		return -1;
	}
	*nr = rdl / 16;
	return 0;
}

/*
 * The parameter list of POPULATE TOKEN (min 16, hdr 16) and WRITE USING TOKEN
 * (min 552, hdr 536), checked up to the range descriptors: the buffer, or NULL
 * with s set.
 */
static uint8_t *range_list_in(struct odx_dev *d, const uint8_t *cdb, const struct iovec *iov,
			      size_t cnt, uint32_t min, uint32_t hdr, uint32_t *nr, bool *immed,
			      struct odx_sense *s)
{
	uint32_t len = get_be32(&cdb[10]), got;
	uint8_t *buf;

	/* the cap is generous so that too many ranges get 26/08, not this */
	if (len < min || len > hdr + 16 * 1024) {
		sense_invalid_cdb(s, 10);
		return NULL;
	}
	buf = param_in(iov, cnt, len, min, &got, s);
	if (!buf)
		return NULL;
	if (range_list_hdr(d, buf, got, hdr, nr, s))
		goto fail;
	*immed = buf[2] & 0x01;
	if (*immed && d->k.immed == IMMED_REJECT) {
		sense_set(s, SK_ILLEGAL_REQUEST, 0x26, 0x00);
		sense_set_field(s, false, 2, 0);
		goto fail;
	}
	return buf;
fail:
	free(buf);
	return NULL;
}

/* the list of a POPULATE TOKEN (sa 0x10) or WRITE USING TOKEN (0x11); odx_lock held */
static struct odx_list *token_list_begin(struct odx_dev *d, uint32_t id, uint8_t sa, bool immed,
					 struct odx_sense *s)
{
	tpc_init_once();
	tokens_sweep();
	return list_begin(d, id, sa, immed && d->k.immed == IMMED_HONOUR, s);
}

/* ------------------------------------------------------------------ */
/* POPULATE TOKEN (ref 5.8)                                            */

struct pt_job {
	struct odx_dev *d;
	struct odx_list *l;
	struct odx_range *r;
	uint32_t nr;
	uint64_t req;
	uint32_t rod_type;
	bool pit;
	uint32_t timeout_s;
	bool trunc;
	bool fail;
	struct odx_fault f;
};

/* make the token and finish the list; odx_lock held */
static int pt_finish(struct pt_job *j, struct odx_sense *s)
{
	struct odx_dev *d = j->d;
	struct odx_token *t;
	uint64_t cap = j->req, left;
	uint8_t *b;
	uint32_t i, n = 0;

	if (j->fail || d->closing) {
		if (j->fail)
			fault_sense(&j->f, s);
		else
			sense_set(s, SK_ABORTED_COMMAND, 0x00, 0x00);
		list_end(j->l, COS_ERROR, s);
		return -1;
	}
	if (d->k.max_token_bytes && cap > d->k.max_token_bytes / d->bs)
		cap = d->k.max_token_bytes / d->bs;
	if (j->trunc && cap > 1)
		cap /= 2;
	if (ntokens >= d->k.max_tokens) {
		/* a real array runs out of token memory too: initiators
		 * that never use DEL_TKN or short timeouts meet this */
		sense_set(s, SK_ILLEGAL_REQUEST, 0x55, 0x0D);	/* INSUFFICIENT RESOURCES TO CREATE ROD TOKEN */
		list_end(j->l, COS_ERROR, s);
		return -1;
	}
	t = calloc(1, sizeof(*t));
	if (t)
		t->r = calloc(j->nr ? j->nr : 1, sizeof(*t->r));
	if (!t || !t->r) {
		free(t);
		sense_set(s, SK_ILLEGAL_REQUEST, 0x55, 0x0D);	/* INSUFFICIENT RESOURCES TO CREATE ROD TOKEN */
		list_end(j->l, COS_ERROR, s);
		return -1;
	}
	/* the ROD is the ranges in order, cut at cap (truncation: ref 6.3) */
	for (i = 0, left = cap; i < j->nr && left; i++) {
		uint32_t k = j->r[i].nblocks;

		if (!k)
			continue;
		if (k > left)
			k = (uint32_t)left;
		t->r[n].lba = j->r[i].lba;
		t->r[n++].nblocks = k;
		left -= k;
	}
	t->nr = n;
	t->blocks = cap - left;
	t->src = d;
	t->bs = d->bs;
	t->rod_type = j->rod_type;
	t->pit = j->pit;
	t->id = next_token_id++;
	t->created_ms = t->last_ms = odx_now_ms();
	t->inactivity_ms = (uint64_t)j->timeout_s * 1000;
	t->lifetime_ms = (uint64_t)d->k.token_lifetime * 1000;
	t->pit_budget = (uint64_t)d->k.pit_max_mib << 20;

	/* token layout: ref 6.1 */
	b = t->bytes;
	put_be32(&b[0], t->rod_type);
	put_be16(&b[6], 0x01F8);
	put_be64(&b[8], t->id);
	odx_cscd_desc(d, &b[16]);			/* creator LU */
	put_be64(&b[56], t->blocks * t->bs);		/* bytes represented (128-bit) */
	put_be32(&b[96], t->bs);			/* READ CAPACITY(16) bytes 8-31 */
	b[128] = 0x01;					/* target device: NAA, binary */
	b[129] = 0x23;
	b[131] = 16;
	memcpy(&b[132], cm_naa, 16);
	fill_random(&b[148], TOKEN_LEN - 8 - 148);	/* unguessable */
	put_be64(&b[TOKEN_LEN - 8], token_sum(b));

	t->next = tokens;
	tokens = t;
	ntokens++;

	j->l->blocks = t->blocks;
	j->l->bytes = t->blocks * t->bs;
	j->l->ops = 1;
	j->l->has_token = true;
	memcpy(j->l->token, b, TOKEN_LEN);
	list_end(j->l, t->blocks < j->req ? d->k.trunc_status : COS_OK, NULL);
	return 0;
}

static void *pt_worker(void *arg)
{
	struct pt_job *j = arg;
	struct odx_sense s = { 0 };

	odx_sleep_ms(j->d->k.latency_ms);
	pthread_mutex_lock(&odx_lock);
	pt_finish(j, &s);
	j->d->workers--;
	pthread_cond_broadcast(&odx_cond);
	pthread_mutex_unlock(&odx_lock);
	free(j->r);
	free(j);
	return NULL;
}

/*
 * Run the IMMED job of list l on a detached thread; odx_lock held. false: no
 * thread, so l is no longer IMMED and the caller does the job itself. On true
 * the job belongs to the thread: neither it nor l may be touched.
 */
static bool start_worker(struct odx_dev *d, struct odx_list *l, void *(*fn)(void *), void *arg)
{
	pthread_attr_t a;
	pthread_t th;
	bool ok;

	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	d->workers++;
	ok = pthread_create(&th, &a, fn, arg) == 0;
	if (!ok) {
		d->workers--;
		l->immed = false;
	}
	pthread_attr_destroy(&a);
	return ok;
}

static int populate_token(struct odx_dev *d, const uint8_t *cdb, const struct iovec *iov, size_t cnt,
			  struct odx_sense *s)
{
	uint32_t id = get_be32(&cdb[6]), nr, tmo, rod;
	struct odx_knobs *k = &d->k;
	struct pt_job *j = NULL;
	struct odx_range *r = NULL;
	uint64_t req;
	uint8_t *buf;
	bool immed, pit;
	int rc = -1;

	buf = range_list_in(d, cdb, iov, cnt, 16, 16, &nr, &immed, s);
	if (!buf)
		return -1;
	tmo = get_be32(&buf[4]);
	if (tmo > k->inactivity_max) {
		sense_invalid_param(s, 4);
		goto out;
	}
	if (!tmo)
		tmo = k->inactivity_default;
	if (buf[2] & 0x02) {				/* RTV: the ROD type is asked for */
		rod = get_be32(&buf[8]);
		if (rod == ROD_TYPE_AUR || rod == ROD_TYPE_PIT_VULN) {
			/* change-vulnerable PIT: may change, so revoked like AUR */
			pit = false;
		} else if (k->token_mode == TOK_PIT &&
			   (rod == ROD_TYPE_PIT_DEFAULT || rod == ROD_TYPE_PIT_COW || rod == ROD_TYPE_PIT_ANY)) {
			if (rod == ROD_TYPE_PIT_ANY)
				rod = ROD_TYPE_PIT_DEFAULT;
			pit = true;
		} else {
			sense_invalid_param(s, 8);
			goto out;
		}
		if (rod == ROD_TYPE_PIT_VULN && k->token_mode != TOK_PIT) {
			sense_invalid_param(s, 8);
			goto out;
		}
	} else {
		pit = k->token_mode == TOK_PIT;
		rod = pit ? ROD_TYPE_PIT_DEFAULT : ROD_TYPE_AUR;
	}
	if (ranges_parse(d, &buf[16], nr, 16, &r, &req, s))
		goto out;

	j = calloc(1, sizeof(*j));
	if (!j) {
		sense_set(s, SK_HARDWARE_ERROR, 0x44, 0x00);
		goto out;
	}
	j->d = d;
	j->r = r;
	j->nr = nr;
	j->req = req;
	j->rod_type = rod;
	j->pit = pit;
	j->timeout_s = tmo;
	r = NULL;

	pthread_mutex_lock(&odx_lock);
	j->l = token_list_begin(d, id, 0x10, immed, s);
	if (!j->l) {
		pthread_mutex_unlock(&odx_lock);
		goto out;
	}
	d->n_pt++;
	j->trunc = k->trunc_every && d->n_pt % k->trunc_every == 0;
	j->fail = fault_hits(&k->fail_pt, d->n_pt);
	j->f = k->fail_pt;
	/* the token appears after the delay; RRTI reports 0x12 meanwhile */
	if (j->l->immed && k->latency_ms && start_worker(d, j->l, pt_worker, j)) {
		pthread_mutex_unlock(&odx_lock);
		j = NULL;
		rc = 0;
		goto out;
	}
	pthread_mutex_unlock(&odx_lock);

	if (k->latency_ms)
		odx_sleep_ms(k->latency_ms);
	pthread_mutex_lock(&odx_lock);
	rc = pt_finish(j, s);
	if (rc && j->l->immed)
		rc = 0;			/* IMMED: the error is reported through RRTI */
	pthread_mutex_unlock(&odx_lock);
out:
	if (j) {
		free(j->r);
		free(j);
	}
	free(r);
	free(buf);
	return rc;
}

/* ------------------------------------------------------------------ */
/* WRITE USING TOKEN (ref 5.9)                                         */

struct wut_job {
	struct odx_dev *d;
	struct odx_list *l;
	struct odx_token *t;		/* NULL: block device zero token */
	struct odx_range *r;
	uint32_t nr;
	uint64_t offset;		/* OFFSET INTO ROD, blocks */
	uint64_t req, todo;
	bool del_tkn;
	bool fail;
	struct odx_fault f;
};

/*
 * The copy itself: destination ranges in order, filled from the ROD starting
 * at OFFSET INTO ROD, at most todo blocks. Runs without odx_lock except for
 * the bookkeeping. Returns 0 or -1 with s set; the list is finished here.
 */
static int wut_run(struct wut_job *j, struct odx_sense *s)
{
	struct odx_dev *d = j->d;
	struct odx_token *t = j->t;
	uint32_t per = CHUNK_BYTES / d->bs;
	uint64_t done = 0, carry = 0, skip = j->offset, fail_at = UINT64_MAX;
	uint32_t di = 0, si = 0;
	uint64_t doff = 0, soff = 0;
	uint8_t *buf = NULL, status = COS_OK;
	int rc = 0;

	if (j->fail)
		fail_at = d->k.fail_after_bytes / d->bs;
	if (t) {
		buf = malloc(CHUNK_BYTES);
		if (!buf) {
			sense_set(s, SK_HARDWARE_ERROR, 0x44, 0x00);
			rc = -1;
			goto end;
		}
		/* position in the ROD: OFFSET INTO ROD blocks in */
		while (si < t->nr && skip >= t->r[si].nblocks)
			skip -= t->r[si++].nblocks;
		soff = skip;
	}
	odx_sleep_ms(d->k.latency_ms);
	while (done < j->todo) {
		uint64_t n = j->todo - done;
		bool abort_now;

		while (di < j->nr && doff == j->r[di].nblocks) {
			di++;
			doff = 0;
		}
		if (t) {
			while (si < t->nr && soff == t->r[si].nblocks) {
				si++;
				soff = 0;
			}
			if (si == t->nr)	/* cannot happen: todo <= ROD remainder */
				break;
			if (n > t->r[si].nblocks - soff)
				n = t->r[si].nblocks - soff;
		}
		if (di == j->nr)
			break;
		if (n > j->r[di].nblocks - doff)
			n = j->r[di].nblocks - doff;
		if (n > per)
			n = per;
		if (done >= fail_at) {		/* injected failure (fail_wut) */
			fault_sense(&j->f, s);
			rc = -1;
			break;
		}
		if (n > fail_at - done)
			n = fail_at - done;
		pthread_mutex_lock(&odx_lock);
		abort_now = j->l->abort_req || d->closing;
		pthread_mutex_unlock(&odx_lock);
		if (abort_now) {
			s->status = ST_TASK_ABORTED;
			status = COS_ABORTED;
			rc = -1;
			break;
		}
		if (t) {
			uint8_t e = token_read(t, t->r[si].lba + soff, n, buf);

			if (e == 0xFF) {
				sense_set(s, SK_MEDIUM_ERROR, 0x11, 0x00);
				rc = -1;
				break;
			}
			if (e) {
				sense_set(s, SK_ILLEGAL_REQUEST, 0x23, e);
				rc = -1;
				break;
			}
		}
		if (odx_write(d, j->r[di].lba + doff, n, buf)) {
			sense_set(s, SK_MEDIUM_ERROR, 0x0C, 0x00);
			rc = -1;
			break;
		}
		done += n;
		doff += n;
		soff += n;
		pthread_mutex_lock(&odx_lock);
		j->l->blocks = done;
		j->l->bytes = done * d->bs;
		j->l->ops++;
		j->l->segs = (uint16_t)(di + (doff == j->r[di].nblocks));
		pthread_mutex_unlock(&odx_lock);
		latency(d, n * d->bs, &carry);
	}
	if (!rc && j->fail) {
		/* the failure point lies beyond what this WUT writes: it fails at the end */
		fault_sense(&j->f, s);
		rc = -1;
	}
	if (!rc && done < j->req)
		status = d->k.trunc_status;
end:
	free(buf);
	pthread_mutex_lock(&odx_lock);
	if (rc && status != COS_ABORTED)
		status = COS_ERROR;
	list_end(j->l, status, rc ? s : NULL);
	if (t) {
		if (!rc && j->del_tkn)
			token_kill(t, 0x09);		/* TOKEN DELETED */
		token_release(t);
	}
	pthread_mutex_unlock(&odx_lock);
	return rc;
}

static void *wut_worker(void *arg)
{
	struct wut_job *j = arg;
	struct odx_sense s = { 0 };
	struct odx_dev *d = j->d;

	wut_run(j, &s);
	free(j->r);
	free(j);
	pthread_mutex_lock(&odx_lock);
	d->workers--;
	pthread_cond_broadcast(&odx_cond);
	pthread_mutex_unlock(&odx_lock);
	return NULL;
}

/* Find the token the initiator presented; odx_lock held. 0 with *out (NULL
 * for the block device zero token) or -1 with the 23h sense. */
static int token_lookup(struct odx_dev *d, const uint8_t *tok, struct odx_token **out,
			struct odx_sense *s)
{
	uint32_t type = get_be32(tok);
	struct odx_token *t;
	uint64_t id;
	uint8_t why;

	*out = NULL;
	if (type == ROD_TYPE_BLOCK_ZERO)		/* needs no POPULATE TOKEN (ref 6.2) */
		return 0;
	if (get_be16(&tok[6]) != 0x01F8) {
		sense_set(s, SK_ILLEGAL_REQUEST, 0x23, 0x0A);	/* INVALID TOKEN LENGTH */
		return -1;
	}
	if (type != ROD_TYPE_AUR && type != ROD_TYPE_PIT_DEFAULT && type != ROD_TYPE_PIT_VULN &&
	    type != ROD_TYPE_PIT_COW) {
		sense_set(s, SK_ILLEGAL_REQUEST, 0x23, 0x01);	/* UNSUPPORTED TOKEN TYPE */
		return -1;
	}
	if (get_be64(&tok[TOKEN_LEN - 8]) != token_sum(tok)) {
		sense_set(s, SK_ILLEGAL_REQUEST, 0x23, 0x05);	/* TOKEN CORRUPT */
		return -1;
	}
	id = get_be64(&tok[8]);
	for (t = tokens; t; t = t->next)
		if (t->id == id && !t->dead)
			break;
	if (!t) {
		why = tomb_find(id);
		/* expired 07, revoked 06, cancelled 08, deleted 09; else unknown 04 */
		sense_set(s, SK_ILLEGAL_REQUEST, 0x23, why ? why : 0x04);
		return -1;
	}
	if (memcmp(t->bytes, tok, TOKEN_LEN)) {
		sense_set(s, SK_ILLEGAL_REQUEST, 0x23, 0x05);
		return -1;
	}
	if (token_expired(t, odx_now_ms())) {
		token_kill(t, 0x07);
		sense_set(s, SK_ILLEGAL_REQUEST, 0x23, 0x07);
		return -1;
	}
	if (t->src->closing) {
		token_kill(t, 0x08);
		sense_set(s, SK_ILLEGAL_REQUEST, 0x23, 0x08);
		return -1;
	}
	if (t->bs != d->bs) {
		/* a ROD of 512-byte blocks cannot be written to a 4096-byte LU
		 * here: INVALID TOKEN OPERATION, CAUSE NOT REPORTABLE (README) */
		sense_set(s, SK_ILLEGAL_REQUEST, 0x23, 0x00);
		return -1;
	}
	*out = t;
	return 0;
}

static int write_using_token(struct odx_dev *d, const uint8_t *cdb, const struct iovec *iov,
			     size_t cnt, struct odx_sense *s)
{
	uint32_t id = get_be32(&cdb[6]), nr;
	struct odx_knobs *k = &d->k;
	struct wut_job *j = NULL;
	struct odx_range *r = NULL;
	struct odx_token *t;
	uint64_t req, cap;
	uint8_t *buf;
	bool immed;
	int rc = -1;

	buf = range_list_in(d, cdb, iov, cnt, 552, 536, &nr, &immed, s);
	if (!buf)
		return -1;
	if (ranges_parse(d, &buf[536], nr, 536, &r, &req, s))
		goto out;
	j = calloc(1, sizeof(*j));
	if (!j) {
		sense_set(s, SK_HARDWARE_ERROR, 0x44, 0x00);
		goto out;
	}
	j->d = d;
	j->r = r;
	j->nr = nr;
	j->req = req;
	j->offset = get_be64(&buf[8]);
	j->del_tkn = buf[2] & 0x02;
	r = NULL;

	pthread_mutex_lock(&odx_lock);
	j->l = token_list_begin(d, id, 0x11, immed, s);
	if (!j->l) {
		pthread_mutex_unlock(&odx_lock);
		goto out;
	}
	if (token_lookup(d, &buf[16], &t, s)) {
		/* refused before anything started: no list is kept (FreeBSD) */
		list_unlink(d, j->l);
		free(j->l);
		pthread_mutex_unlock(&odx_lock);
		goto out;
	}
	if (t && j->offset >= t->blocks && req) {
		list_unlink(d, j->l);
		free(j->l);
		pthread_mutex_unlock(&odx_lock);
		sense_invalid_param(s, 8);		/* OFFSET INTO ROD past the ROD */
		goto out;
	}
	j->t = t;
	if (t) {
		t->users++;
		t->src->refs++;
		t->last_ms = odx_now_ms();
	}
	cap = t ? t->blocks - (j->offset < t->blocks ? j->offset : t->blocks) : req;
	if (cap > req)
		cap = req;
	if (k->max_wut_bytes && cap > k->max_wut_bytes / d->bs)
		cap = k->max_wut_bytes / d->bs;
	d->n_wut++;
	if (k->trunc_every && d->n_wut % k->trunc_every == 0 && cap > 1)
		cap /= 2;
	j->todo = cap;
	j->fail = fault_hits(&k->fail_wut, d->n_wut);
	j->f = k->fail_wut;
	if (j->l->immed && start_worker(d, j->l, wut_worker, j)) {
		pthread_mutex_unlock(&odx_lock);
		j = NULL;
		rc = 0;
		goto out;
	}
	pthread_mutex_unlock(&odx_lock);
	rc = wut_run(j, s);
out:
	if (j) {
		free(j->r);
		free(j);
	}
	free(r);
	free(buf);
	return rc;
}

/* ------------------------------------------------------------------ */
/* EXTENDED COPY(LID1) (ref 5.2-5.5)                                   */

/* resolve a CSCD id of a segment: 0xFFFF is this LU (ref 5.4) */
static struct odx_dev *cscd_dev(struct odx_dev *d, const uint8_t *cscd, uint32_t ncscd, uint16_t id)
{
	if (id == 0xFFFF)
		return d;
	if (id >= ncscd)
		return NULL;
	return odx_find_dev_by_designator(&cscd[32 * id + 4], 24);
}

static int xcopy_segment(struct odx_dev *d, struct odx_list *l, const uint8_t *cscd, uint32_t ncscd,
			 const uint8_t *seg, uint32_t segno, uint64_t *moved, uint64_t fail_at,
			 uint64_t *carry, struct odx_sense *s)
{
	uint16_t sid = get_be16(&seg[4]), did = get_be16(&seg[6]);
	uint32_t nblk = get_be16(&seg[10]), sbs, dbs;
	uint64_t slba = get_be64(&seg[12]), dlba = get_be64(&seg[20]), bytes, left;
	struct odx_dev *src, *dst;
	uint8_t *buf = NULL;
	int rc = -1;

	pthread_mutex_lock(&odx_lock);
	src = cscd_dev(d, cscd, ncscd, sid);
	dst = cscd_dev(d, cscd, ncscd, did);
	if (!src || !dst) {
		pthread_mutex_unlock(&odx_lock);
		/* not one of our LUs: COPY TARGET DEVICE NOT REACHABLE, as LIO (ref 2.6) */
		sense_set(s, SK_COPY_ABORTED, 0x0D, 0x02);
		sense_set_csi(s, segno);
		return -1;
	}
	src->refs += src != d;
	dst->refs += dst != d;
	pthread_mutex_unlock(&odx_lock);

	sbs = src->bs;
	dbs = dst->bs;
	if ((sid != 0xFFFF && get_be24(&cscd[32 * sid + 29]) && get_be24(&cscd[32 * sid + 29]) != sbs) ||
	    (did != 0xFFFF && get_be24(&cscd[32 * did + 29]) && get_be24(&cscd[32 * did + 29]) != dbs)) {
		/* the CSCD claims a block length the LU does not have */
		sense_set(s, SK_COPY_ABORTED, 0x0D, 0x03);
		sense_set_csi(s, segno);
		goto out;
	}
	bytes = (uint64_t)nblk * ((seg[1] & 0x02) ? dbs : sbs);	/* DC bit */
	if (bytes % sbs || bytes % dbs) {
		sense_set(s, SK_COPY_ABORTED, 0x26, 0x0A);		/* UNEXPECTED INEXACT SEGMENT */
		sense_set_csi(s, segno);
		goto out;
	}
	/* A range past a copy target's end: the copy manager cannot do that I/O
	 * on the copy target: COPY ABORTED, COPY TARGET DEVICE NOT REACHABLE, as
	 * LIO answers (README "Peer suite"); the LBA in INFORMATION. */
	if (slba > src->nblocks || bytes / sbs > src->nblocks - slba) {
		sense_set(s, SK_COPY_ABORTED, 0x0D, 0x02);
		sense_set_info(s, slba);
		sense_set_csi(s, segno);
		goto out;
	}
	if (dlba > dst->nblocks || bytes / dbs > dst->nblocks - dlba) {
		sense_set(s, SK_COPY_ABORTED, 0x0D, 0x02);
		sense_set_info(s, dlba);
		sense_set_csi(s, segno);
		goto out;
	}
	buf = malloc(CHUNK_BYTES);
	if (!buf) {
		sense_set(s, SK_HARDWARE_ERROR, 0x44, 0x00);
		goto out;
	}
	for (left = bytes; left;) {
		uint64_t n = left > CHUNK_BYTES ? CHUNK_BYTES : left;
		bool abort_now;

		if (*moved >= fail_at) {	/* injected failure (fail_xcopy) */
			sense_set(s, d->k.fail_xcopy.key, d->k.fail_xcopy.asc, d->k.fail_xcopy.ascq);
			sense_set_csi(s, segno);
			goto out;
		}
		if (n > fail_at - *moved)
			n = fail_at - *moved;
		pthread_mutex_lock(&odx_lock);
		abort_now = (l && l->abort_req) || d->closing || src->closing || dst->closing;
		pthread_mutex_unlock(&odx_lock);
		if (abort_now) {
			s->status = ST_TASK_ABORTED;
			goto out;
		}
		if (odx_pread_full(src->fd, buf, n, slba * sbs)) {
			sense_set(s, SK_COPY_ABORTED, 0x0D, 0x01);	/* THIRD PARTY DEVICE FAILURE */
			sense_set_csi(s, segno);
			goto out;
		}
		if (odx_write(dst, dlba, n / dbs, buf)) {
			sense_set(s, SK_COPY_ABORTED, 0x0D, 0x01);
			sense_set_csi(s, segno);
			goto out;
		}
		slba += n / sbs;
		dlba += n / dbs;
		left -= n;
		*moved += n;
		if (l) {
			pthread_mutex_lock(&odx_lock);
			l->bytes = *moved;
			l->blocks = *moved / d->bs;
			l->ops++;
			pthread_mutex_unlock(&odx_lock);
		}
		latency(d, n, carry);
	}
	rc = 0;
out:
	free(buf);
	pthread_mutex_lock(&odx_lock);
	src->refs -= src != d;
	dst->refs -= dst != d;
	pthread_cond_broadcast(&odx_cond);
	pthread_mutex_unlock(&odx_lock);
	return rc;
}

static int extended_copy(struct odx_dev *d, const uint8_t *cdb, const struct iovec *iov, size_t cnt,
			 struct odx_sense *s)
{
	uint32_t len = get_be32(&cdb[10]), got, cscd_len, seg_len, inl, ncscd, nseg = 0, off;
	uint32_t segoff[MAX_SEGS];
	uint64_t moved = 0, carry = 0, fail_at = UINT64_MAX;
	struct odx_list *l = NULL;
	uint8_t *buf, usage, id;
	bool fail;
	int rc = -1;

	if (len == 0)				/* no-op (ref 5.2) */
		return 0;
	if (len > 16 + MAX_DESC_LIST) {
		/* longer than MAXIMUM DESCRIPTOR LIST LENGTH allows (RCOP, VPD 0x8F):
		 * PARAMETER LIST LENGTH ERROR (SPC-4 6.4.3.4, LIO, libiscsi) */
		sense_param_len(s);
		return -1;
	}
	buf = param_in(iov, cnt, len, 16, &got, s);
	if (!buf)
		return -1;
	id = buf[0];
	usage = (buf[1] >> 3) & 0x03;
	cscd_len = get_be16(&buf[2]);
	seg_len = get_be32(&buf[8]);
	inl = get_be32(&buf[12]);
	if (cscd_len > MAX_CSCD * 32) {
		sense_set(s, SK_ILLEGAL_REQUEST, 0x26, 0x06);	/* TOO MANY TARGET DESCRIPTORS */
		goto out;
	}
	if (inl) {				/* no inline data (MAXIMUM INLINE DATA LENGTH 0) */
		sense_invalid_param(s, 12);
		goto out;
	}
	if ((uint64_t)cscd_len + seg_len > MAX_DESC_LIST || 16 + cscd_len + seg_len > got) {
		sense_param_len(s);
		goto out;
	}
	if (cscd_len % 32) {
		sense_set(s, SK_ILLEGAL_REQUEST, 0x26, 0x07);
		goto out;
	}
	if (usage == 0x01) {			/* reserved */
		sense_invalid_param(s, 1);
		goto out;
	}
	if (usage == 0x03 && id != 0) {		/* "no list identifier" needs id 0 */
		sense_invalid_param(s, 0);
		goto out;
	}
	ncscd = cscd_len / 32;
	for (uint32_t i = 0; i < ncscd; i++) {
		const uint8_t *c = &buf[16 + 32 * i];

		if (c[0] != 0xE4) {
			sense_set(s, SK_ILLEGAL_REQUEST, 0x26, 0x07);	/* UNSUPPORTED TARGET DESCRIPTOR TYPE */
			sense_set_field(s, false, (uint16_t)(16 + 32 * i), -1);
			goto out;
		}
		if ((c[1] & 0x20) || (c[1] & 0x1F) != 0) {
			/* NUL 0 and a block device (ref 5.3). LU ID TYPE (bits 7-6) is
			 * not looked at: an identification descriptor names its LU by
			 * the designator (SPC-4 6.4.5.1/6.4.5.2; LIO ignores it too) */
			sense_invalid_param(s, (uint16_t)(16 + 32 * i + 1));
			goto out;
		}
		if (c[7] > 20) {
			sense_invalid_param(s, (uint16_t)(16 + 32 * i + 7));
			goto out;
		}
	}
	for (off = 0; off < seg_len;) {
		const uint8_t *p = &buf[16 + cscd_len + off];

		if (seg_len - off < 4) {
			sense_param_len(s);
			goto out;
		}
		if (nseg == MAX_SEGS) {
			sense_set(s, SK_ILLEGAL_REQUEST, 0x26, 0x08);	/* TOO MANY SEGMENT DESCRIPTORS */
			goto out;
		}
		if (p[0] != 0x02) {
			sense_set(s, SK_ILLEGAL_REQUEST, 0x26, 0x09);	/* UNSUPPORTED SEGMENT DESCRIPTOR TYPE */
			sense_set_field(s, false, (uint16_t)(16 + cscd_len + off), -1);
			goto out;
		}
		if (get_be16(&p[2]) != 0x0018) {
			sense_invalid_param(s, (uint16_t)(16 + cscd_len + off + 2));
			goto out;
		}
		if (seg_len - off < 28) {
			sense_param_len(s);
			goto out;
		}
		segoff[nseg++] = 16 + cscd_len + off;
		off += 28;
	}

	pthread_mutex_lock(&odx_lock);
	if (usage != 0x03) {
		l = list_begin(d, id, 0x00, false, s);
		if (!l) {
			pthread_mutex_unlock(&odx_lock);
			goto out;
		}
	}
	d->n_xcopy++;
	fail = fault_hits(&d->k.fail_xcopy, d->n_xcopy);
	pthread_mutex_unlock(&odx_lock);
	if (fail)
		fail_at = d->k.fail_after_bytes;

	odx_sleep_ms(d->k.latency_ms);
	rc = 0;
	for (uint32_t i = 0; i < nseg && !rc; i++) {
		rc = xcopy_segment(d, l, &buf[16], ncscd, &buf[segoff[i]], i, &moved, fail_at, &carry, s);
		if (!rc && l) {
			pthread_mutex_lock(&odx_lock);
			l->segs = (uint16_t)(i + 1);
			pthread_mutex_unlock(&odx_lock);
		}
	}
	if (!rc && fail) {
		/* the failure point lies past the end of this list: fail at the end */
		sense_set(s, d->k.fail_xcopy.key, d->k.fail_xcopy.asc, d->k.fail_xcopy.ascq);
		sense_set_csi(s, nseg ? nseg - 1 : 0);
		rc = -1;
	}
	if (l) {
		pthread_mutex_lock(&odx_lock);
		list_end(l, rc ? (s->status == ST_TASK_ABORTED ? COS_ABORTED : COS_ERROR) : COS_OK,
			 rc ? s : NULL);
		pthread_mutex_unlock(&odx_lock);
	}
out:
	free(buf);
	return rc;
}

/* ------------------------------------------------------------------ */
/* COPY OPERATION ABORT (ref 5.11)                                     */

static int copy_abort(struct odx_dev *d, const uint8_t *cdb, struct odx_sense *s)
{
	struct odx_list *l;
	int rc = 0;

	pthread_mutex_lock(&odx_lock);
	l = list_find(d, get_be32(&cdb[2]));
	if (!l) {
		sense_invalid_cdb(s, 2);
		rc = -1;
	} else if (!l->done) {
		/* the operation stops at its next chunk and ends with status 0x60 */
		l->abort_req = true;
	}
	pthread_mutex_unlock(&odx_lock);
	return rc;
}

/* ------------------------------------------------------------------ */
/* THIRD-PARTY COPY IN                                                 */

static uint64_t tc_in_units(const struct odx_list *l, uint8_t units)
{
	switch (units) {
	case 0xF1: return l->blocks;
	case 0x00: return l->bytes;
	default: return l->bytes >> (10 * units);	/* KiB..EiB, rounded down */
	}
}

/* RECEIVE ROD TOKEN INFORMATION / RECEIVE COPY STATUS(LID4), ref 5.10 */
static size_t status_lid4(struct odx_dev *d, const struct odx_list *l, bool rrti, uint8_t *b)
{
	size_t n = 32 + l->sense_len;

	b[4] = l->sa;
	b[5] = l->done ? l->op_status : (l->immed ? COS_BG : COS_FG);
	put_be16(&b[6], l->ops);
	put_be32(&b[8], l->done ? 0 : d->k.poll_delay_ms);
	b[12] = l->cmd_status;
	b[13] = l->sense_len;
	b[14] = l->sense_len;
	b[15] = d->k.tc_units;
	put_be64(&b[16], tc_in_units(l, d->k.tc_units));
	put_be16(&b[24], l->segs);
	memcpy(&b[32], l->sense, l->sense_len);
	if (rrti) {
		if (l->has_token) {
			put_be32(&b[n], 2 + TOKEN_LEN);
			memcpy(&b[n + 6], l->token, TOKEN_LEN);
			n += 4 + 2 + TOKEN_LEN;
		} else {
			n += 4;
		}
	}
	put_be32(&b[0], (uint32_t)(n - 4));
	return n;
}

static int copy_status(struct odx_dev *d, const uint8_t *cdb, const struct iovec *iov, size_t cnt,
		       struct odx_sense *s)
{
	uint8_t sa = cdb[1] & 0x1F, b[600];
	uint32_t alloc = get_be32(&cdb[10]), id;
	struct odx_list *l;
	size_t n = 0;

	memset(b, 0, sizeof(b));
	id = sa <= 0x04 ? cdb[2] : get_be32(&cdb[2]);	/* LID1 SAs carry a 1-byte id */
	pthread_mutex_lock(&odx_lock);
	if (sa == 0x07) {
		d->n_rrti++;
		if (fault_hits(&d->k.fail_rrti, d->n_rrti)) {
			pthread_mutex_unlock(&odx_lock);
			fault_sense(&d->k.fail_rrti, s);
			return -1;
		}
	}
	lists_purge(d);
	l = list_find(d, id);
	if (!l || (sa == 0x04 && !l->done)) {
		pthread_mutex_unlock(&odx_lock);
		sense_invalid_cdb(s, 2);		/* unknown list id (FreeBSD) */
		return -1;
	}
	switch (sa) {
	case 0x00:					/* COPY STATUS (LID1), ref 5.6 */
		put_be32(&b[0], 8);
		b[4] = !l->done ? 0x00 :
		       (l->op_status == COS_ERROR || l->op_status == COS_ABORTED) ? 0x02 : 0x01;
		put_be16(&b[5], l->segs);
		if (l->bytes <= UINT32_MAX) {
			b[7] = 0x00;
			put_be32(&b[8], (uint32_t)l->bytes);
		} else {
			b[7] = 0x02;				/* MiB, as FreeBSD */
			put_be32(&b[8], (uint32_t)(l->bytes >> 20));
		}
		n = 12;
		break;
	case 0x04:					/* FAILED SEGMENT DETAILS */
		if (l->op_status == COS_ERROR || l->op_status == COS_ABORTED) {
			put_be32(&b[0], 56 + l->sense_len);
			b[56] = l->cmd_status;
			put_be16(&b[58], l->sense_len);
			memcpy(&b[60], l->sense, l->sense_len);
			n = 60 + l->sense_len;
		} else {
			n = 4;				/* AVAILABLE DATA 0: it did not fail */
		}
		break;
	case 0x05:
		n = status_lid4(d, l, false, b);
		break;
	case 0x07:
		n = status_lid4(d, l, true, b);
		break;
	}
	pthread_mutex_unlock(&odx_lock);
	data_in(iov, cnt, b, n, alloc);
	return 0;
}

static int operating_parameters(struct odx_dev *d, const uint8_t *cdb, const struct iovec *iov,
				size_t cnt)
{
	uint8_t b[46];

	memset(b, 0, sizeof(b));
	put_be32(&b[0], sizeof(b) - 4);
	b[4] = 0x01;				/* SNLID: LIST ID USAGE 11b accepted */
	put_be16(&b[8], MAX_CSCD);
	put_be16(&b[10], MAX_SEGS);
	put_be32(&b[12], MAX_DESC_LIST);
	put_be32(&b[16], 256u << 20);		/* maximum segment length */
	put_be32(&b[20], 0);			/* inline data */
	put_be32(&b[24], 0);			/* held data */
	put_be16(&b[34], MAX_LISTS);
	b[36] = MAX_LISTS;
	b[37] = (uint8_t)__builtin_ctz(d->bs);	/* data segment granularity (ref 8.2) */
	b[38] = (uint8_t)__builtin_ctz(d->bs);
	b[39] = (uint8_t)__builtin_ctz(d->bs);
	b[43] = 2;
	b[44] = 0x02;
	b[45] = 0xE4;
	data_in(iov, cnt, b, sizeof(b), get_be32(&cdb[10]));
	return 0;
}

static int report_all_rod_tokens(const uint8_t *cdb, const struct iovec *iov, size_t cnt,
				 struct odx_sense *s)
{
	uint32_t alloc = get_be32(&cdb[10]);
	struct odx_token *t;
	size_t n = 0, i = 0;
	uint8_t *b;

	pthread_mutex_lock(&odx_lock);
	tokens_sweep();
	for (t = tokens; t; t = t->next)
		n += !t->dead;
	if (n > 512)
		n = 512;
	b = calloc(1, 8 + 96 * n);
	if (!b) {
		pthread_mutex_unlock(&odx_lock);
		sense_set(s, SK_HARDWARE_ERROR, 0x44, 0x00);
		return -1;
	}
	for (t = tokens; t && i < n; t = t->next)
		if (!t->dead)
			memcpy(&b[8 + 96 * i++], t->bytes, 96);	/* management token: bytes 0-95 */
	pthread_mutex_unlock(&odx_lock);
	put_be32(&b[0], (uint32_t)(4 + 96 * i));
	data_in(iov, cnt, b, 8 + 96 * i, alloc);
	free(b);
	return 0;
}

/* ------------------------------------------------------------------ */
/* dispatch                                                            */

static int unsupported(struct odx_sense *s)
{
	/* what LIO answers for these (ref 5.13): offload not offered here */
	sense_set(s, SK_ILLEGAL_REQUEST, 0x20, 0x00);
	return -1;
}

int odx_tpc_out(struct odx_dev *d, const uint8_t *cdb, const struct iovec *iov, size_t cnt,
		struct odx_sense *s)
{
	switch (cdb[1] & 0x1F) {
	case 0x00:
		return d->k.xcopy ? extended_copy(d, cdb, iov, cnt, s) : unsupported(s);
	case 0x10:
		return d->k.odx ? populate_token(d, cdb, iov, cnt, s) : unsupported(s);
	case 0x11:
		return d->k.odx ? write_using_token(d, cdb, iov, cnt, s) : unsupported(s);
	case 0x1C:
		return d->k.odx ? copy_abort(d, cdb, s) : unsupported(s);
	default:
		if (!d->k.xcopy && !d->k.odx)
			return unsupported(s);
		sense_invalid_cdb(s, 1);		/* e.g. EXTENDED COPY(LID4) */
		return -1;
	}
}

int odx_tpc_in(struct odx_dev *d, const uint8_t *cdb, const struct iovec *iov, size_t cnt,
	       struct odx_sense *s)
{
	uint8_t sa = cdb[1] & 0x1F;

	if (!d->k.xcopy && !d->k.odx)
		return unsupported(s);
	switch (sa) {
	case 0x03:
		return operating_parameters(d, cdb, iov, cnt);
	case 0x00:
	case 0x04:
		if (!d->k.xcopy)
			return unsupported(s);
		return copy_status(d, cdb, iov, cnt, s);
	case 0x05:
	case 0x07:
		if (!d->k.odx)
			return unsupported(s);
		return copy_status(d, cdb, iov, cnt, s);
	case 0x08:
		if (!d->k.odx)
			return unsupported(s);
		return report_all_rod_tokens(cdb, iov, cnt, s);
	default:
		sense_invalid_cdb(s, 1);		/* e.g. RECEIVE COPY DATA */
		return -1;
	}
}
