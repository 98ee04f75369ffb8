/*
 * Knob parsing for the odx handler: the part of the config string after '?',
 * "key=value&key=value". Unknown keys and malformed values are errors: the
 * device refuses to open (README.md, "Knobs"). No commas anywhere: the kernel
 * splits the TCMU control string on ','.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "odx.h"

void odx_knobs_default(struct odx_knobs *k)
{
	memset(k, 0, sizeof(*k));
	k->block_size = 0;
	k->max_token_bytes = 256ull << 20;
	k->advertise_max_token = true;
	k->max_wut_bytes = 0;
	k->trunc_every = 0;
	k->trunc_status = COS_RESIDUAL;
	k->fail_after_bytes = 0;
	k->immed = IMMED_HONOUR;
	k->tc_units = 0xF1;		/* logical blocks, as FreeBSD (ref 6.3) */
	k->inactivity_default = 60;	/* FreeBSD's values (ref 7.5) */
	k->inactivity_max = 600;
	k->token_lifetime = 0;
	k->token_mode = TOK_AUR;
	k->pit_max_mib = 256;
	k->lid_busy = 0x0016;		/* OPERATION IN PROGRESS, as ddpt expects (ref 8.6) */
	k->max_ranges = 64;
	k->xcopy = true;
	k->odx = true;
	k->poll_delay_ms = 50;
	k->list_retention = 60;
	k->max_tokens = 16384;
	k->thin = false;
	k->max_unmap_blocks = 0x100000;	/* libiscsi calls more "insanely big" */
	k->max_unmap_descs = 256;
}

/* decimal or 0x-hex, with an optional k/m/g (binary) suffix when sized */
static int parse_u64(const char *v, bool sized, uint64_t *out)
{
	char *end;
	uint64_t x, mul = 1;

	if (!*v || *v == '-' || isspace((unsigned char)*v))
		return -1;
	errno = 0;
	x = strtoull(v, &end, 0);
	if (errno || end == v)
		return -1;
	if (sized && *end) {
		switch (tolower((unsigned char)*end)) {
		case 'k': mul = 1ull << 10; break;
		case 'm': mul = 1ull << 20; break;
		case 'g': mul = 1ull << 30; break;
		default: return -1;
		}
		end++;
	}
	if (*end)
		return -1;
	if (x && mul > UINT64_MAX / x)
		return -1;
	*out = x * mul;
	return 0;
}

static int parse_u32(const char *v, uint32_t max, uint32_t *out)
{
	uint64_t x;

	if (parse_u64(v, false, &x) || x > max)
		return -1;
	*out = (uint32_t)x;
	return 0;
}

static int parse_bool(const char *v, bool *out)
{
	if (!strcmp(v, "1") || !strcmp(v, "on") || !strcmp(v, "yes") || !strcmp(v, "true"))
		*out = true;
	else if (!strcmp(v, "0") || !strcmp(v, "off") || !strcmp(v, "no") || !strcmp(v, "false"))
		*out = false;
	else
		return -1;
	return 0;
}

static int hexbyte(const char *p, size_t n, uint8_t *out)
{
	char buf[3];
	char *end;
	unsigned long x;

	if (n < 1 || n > 2)
		return -1;
	memcpy(buf, p, n);
	buf[n] = 0;
	x = strtoul(buf, &end, 16);
	if (*end || !isxdigit((unsigned char)buf[0]))
		return -1;
	*out = (uint8_t)x;
	return 0;
}

/*
 * "[%]N[:KEY/ASC/ASCQ]" (hex sense fields): fail the Nth command of that kind
 * on this LU, or every Nth with '%'. Default sense: HARDWARE ERROR 44/00.
 */
static int parse_fault(const char *v, struct odx_fault *f)
{
	const char *colon, *s1, *s2;
	char num[24];
	size_t n;
	uint32_t x;

	memset(f, 0, sizeof(*f));
	if (*v == '%') {
		f->every = true;
		v++;
	}
	colon = strchr(v, ':');
	n = colon ? (size_t)(colon - v) : strlen(v);
	if (n == 0 || n >= sizeof(num))
		return -1;
	memcpy(num, v, n);
	num[n] = 0;
	if (parse_u32(num, UINT32_MAX, &x) || x == 0)
		return -1;
	f->n = x;
	f->key = SK_HARDWARE_ERROR;
	f->asc = 0x44;
	f->ascq = 0x00;
	if (colon) {
		const char *p = colon + 1;

		s1 = strchr(p, '/');
		s2 = s1 ? strchr(s1 + 1, '/') : NULL;
		if (!s1 || !s2 || strchr(s2 + 1, '/'))
			return -1;
		if (hexbyte(p, (size_t)(s1 - p), &f->key) || f->key > 0xF ||
		    hexbyte(s1 + 1, (size_t)(s2 - s1 - 1), &f->asc) ||
		    hexbyte(s2 + 1, strlen(s2 + 1), &f->ascq))
			return -1;
	}
	f->set = true;
	return 0;
}

static int parse_units(const char *v, uint8_t *out)
{
	static const struct { const char *name; uint8_t code; } u[] = {
		{ "bytes", 0x00 }, { "kib", 0x01 }, { "mib", 0x02 }, { "gib", 0x03 },
		{ "tib", 0x04 }, { "pib", 0x05 }, { "eib", 0x06 }, { "blocks", 0xF1 },
	};
	uint32_t x;
	size_t i;

	for (i = 0; i < sizeof(u) / sizeof(u[0]); i++) {
		if (!strcasecmp(v, u[i].name)) {
			*out = u[i].code;
			return 0;
		}
	}
	/* numeric codes from ref 7.2 */
	if (parse_u32(v, 0xFF, &x))
		return -1;
	if (x > 0x06 && x != 0xF1)
		return -1;
	*out = (uint8_t)x;
	return 0;
}

static int set_knob(struct odx_knobs *k, const char *key, const char *v)
{
	uint64_t x64;
	uint32_t x;

	if (!strcmp(key, "block_size")) {
		if (parse_u32(v, 65536, &x) || (x != 512 && x != 1024 && x != 2048 && x != 4096))
			return -1;
		k->block_size = x;
	} else if (!strcmp(key, "max_token_bytes")) {
		if (parse_u64(v, true, &x64))
			return -1;
		k->max_token_bytes = x64;
	} else if (!strcmp(key, "advertise_max_token")) {
		return parse_bool(v, &k->advertise_max_token);
	} else if (!strcmp(key, "max_wut_bytes")) {
		if (parse_u64(v, true, &x64))
			return -1;
		k->max_wut_bytes = x64;
	} else if (!strcmp(key, "trunc_every")) {
		return parse_u32(v, UINT32_MAX, &k->trunc_every);
	} else if (!strcmp(key, "trunc_status")) {
		if (parse_u32(v, 0xFF, &x) || (x != COS_OK && x != COS_PARTIAL && x != COS_RESIDUAL))
			return -1;
		k->trunc_status = (uint8_t)x;
	} else if (!strcmp(key, "fail_pt")) {
		return parse_fault(v, &k->fail_pt);
	} else if (!strcmp(key, "fail_wut")) {
		return parse_fault(v, &k->fail_wut);
	} else if (!strcmp(key, "fail_rrti")) {
		return parse_fault(v, &k->fail_rrti);
	} else if (!strcmp(key, "fail_xcopy")) {
		return parse_fault(v, &k->fail_xcopy);
	} else if (!strcmp(key, "fail_after_bytes")) {
		return parse_u64(v, true, &k->fail_after_bytes);
	} else if (!strcmp(key, "latency_ms")) {
		return parse_u32(v, 600000, &k->latency_ms);
	} else if (!strcmp(key, "latency_ms_per_mib")) {
		return parse_u32(v, 600000, &k->latency_ms_per_mib);
	} else if (!strcmp(key, "latency_mib")) {
		return parse_u32(v, 1u << 20, &k->latency_mib);
	} else if (!strcmp(key, "read_ms_per_mib")) {
		return parse_u32(v, 600000, &k->read_ms_per_mib);
	} else if (!strcmp(key, "immed")) {
		if (!strcmp(v, "reject"))
			k->immed = IMMED_REJECT;
		else if (!strcmp(v, "1") || !strcmp(v, "on"))
			k->immed = IMMED_HONOUR;
		else if (!strcmp(v, "0") || !strcmp(v, "off") || !strcmp(v, "ignore"))
			k->immed = IMMED_IGNORE;
		else
			return -1;
	} else if (!strcmp(key, "tc_units")) {
		return parse_units(v, &k->tc_units);
	} else if (!strcmp(key, "inactivity_default")) {
		if (parse_u32(v, UINT32_MAX - 1, &x) || x == 0)
			return -1;
		k->inactivity_default = x;
	} else if (!strcmp(key, "inactivity_max")) {
		if (parse_u32(v, UINT32_MAX - 1, &x) || x == 0)
			return -1;
		k->inactivity_max = x;
	} else if (!strcmp(key, "token_lifetime")) {
		return parse_u32(v, UINT32_MAX - 1, &k->token_lifetime);
	} else if (!strcmp(key, "token_mode")) {
		if (!strcmp(v, "aur"))
			k->token_mode = TOK_AUR;
		else if (!strcmp(v, "pit"))
			k->token_mode = TOK_PIT;
		else
			return -1;
	} else if (!strcmp(key, "pit_max_mib")) {
		return parse_u32(v, 1u << 20, &k->pit_max_mib);
	} else if (!strcmp(key, "lid_busy")) {
		if (!strcmp(v, "0016") || !strcmp(v, "00/16"))
			k->lid_busy = 0x0016;
		else if (!strcmp(v, "2600") || !strcmp(v, "26/00"))
			k->lid_busy = 0x2600;
		else
			return -1;
	} else if (!strcmp(key, "max_ranges")) {
		if (parse_u32(v, 1024, &x) || x == 0)
			return -1;
		k->max_ranges = (uint16_t)x;
	} else if (!strcmp(key, "xcopy")) {
		return parse_bool(v, &k->xcopy);
	} else if (!strcmp(key, "odx")) {
		return parse_bool(v, &k->odx);
	} else if (!strcmp(key, "poll_delay_ms")) {
		return parse_u32(v, 60000, &k->poll_delay_ms);
	} else if (!strcmp(key, "list_retention")) {
		return parse_u32(v, 86400, &k->list_retention);
	} else if (!strcmp(key, "max_tokens")) {
		if (parse_u32(v, 1u << 20, &x) || x == 0)
			return -1;
		k->max_tokens = x;
	} else if (!strcmp(key, "thin")) {
		return parse_bool(v, &k->thin);
	} else if (!strcmp(key, "max_unmap_blocks")) {
		if (parse_u32(v, 0xFFFFFFFFu, &x) || x == 0)
			return -1;
		k->max_unmap_blocks = x;
	} else if (!strcmp(key, "max_unmap_descs")) {
		if (parse_u32(v, 4096, &x) || x == 0)
			return -1;
		k->max_unmap_descs = x;
	} else {
		return -2;
	}
	return 0;
}

int odx_knobs_parse(const char *s, struct odx_knobs *k, char *err, size_t errlen)
{
	char *copy, *item, *save = NULL;
	int rc = 0;

	odx_knobs_default(k);
	if (!s || !*s)
		return 0;
	copy = strdup(s);
	if (!copy) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (item = strtok_r(copy, "&", &save); item; item = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(item, '=');
		int r;

		if (!eq || eq == item) {
			snprintf(err, errlen, "knob '%s' is not key=value", item);
			rc = -1;
			break;
		}
		*eq = 0;
		r = set_knob(k, item, eq + 1);
		if (r == -2) {
			snprintf(err, errlen, "unknown knob '%s'", item);
			rc = -1;
			break;
		}
		if (r) {
			snprintf(err, errlen, "bad value '%s' for knob '%s'", eq + 1, item);
			rc = -1;
			break;
		}
	}
	free(copy);
	if (!rc && k->inactivity_default > k->inactivity_max) {
		snprintf(err, errlen, "inactivity_default (%" PRIu32 ") > inactivity_max (%" PRIu32 ")",
			 k->inactivity_default, k->inactivity_max);
		rc = -1;
	}
	return rc;
}
