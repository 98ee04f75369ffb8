/*
 * odx: a tcmu-runner handler that serves a raw file and implements token copy
 * (POPULATE TOKEN / WRITE USING TOKEN / RECEIVE ROD TOKEN INFORMATION ...)
 * and EXTENDED COPY(LID1) between the LUNs of one tcmu-runner process.
 *
 * "ref x.y" points at a section of the project's copy-offload protocol
 * reference (copy-offload-reference.md); README.md next to this file documents
 * every knob and every deviation.
 *
 * Threads: tcmu-runner calls handle_cmd from each device's command thread and
 * the read/write callouts from its I/O thread; IMMED operations run on threads
 * of ours. Everything shared (devices, tokens, lists, copy-on-write data) is
 * guarded by one process-wide mutex, odx_lock.
 */
#ifndef ODX_H
#define ODX_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct tcmu_device;

/* ------------------------------------------------------------------ */
/* byte helpers (all SCSI fields are big-endian, ref conventions)      */

static inline uint16_t get_be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t get_be24(const uint8_t *p) { return (uint32_t)p[0] << 16 | p[1] << 8 | p[2]; }
static inline uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}
static inline void put_be16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = (uint8_t)v; }
static inline void put_be24(uint8_t *p, uint32_t v) { p[0] = v >> 16; p[1] = v >> 8; p[2] = (uint8_t)v; }
static inline void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = (uint8_t)v;
}
static inline void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32)); put_be32(p + 4, (uint32_t)v);
}

/* ------------------------------------------------------------------ */
/* status returned by our command functions                            */

/* A command either succeeds (ODX_GOOD) or fails with sense data built in a
 * struct odx_sense; the glue turns that into TCMU_STS_PASSTHROUGH_ERR. */
#define ODX_SENSE_LEN 18	/* fixed format, ref 2.1 */

struct odx_sense {
	uint8_t status;			/* SAM status: 0x00 GOOD, 0x02 CHECK, 0x40 TASK ABORTED */
	uint8_t b[ODX_SENSE_LEN];	/* valid when status == 0x02 */
};

#define SK_NO_SENSE		0x0
#define SK_NOT_READY		0x2
#define SK_MEDIUM_ERROR		0x3
#define SK_HARDWARE_ERROR	0x4
#define SK_ILLEGAL_REQUEST	0x5
#define SK_COPY_ABORTED		0xA
#define SK_ABORTED_COMMAND	0xB

#define ST_GOOD		0x00
#define ST_CHECK	0x02
#define ST_TASK_ABORTED	0x40

/* ROD types, ref 6.2 */
#define ROD_TYPE_AUR		0x00010000u
#define ROD_TYPE_PIT_DEFAULT	0x00800000u
#define ROD_TYPE_PIT_VULN	0x00800001u
#define ROD_TYPE_PIT_PERSIST	0x00800002u
#define ROD_TYPE_PIT_COW	0x00800003u
#define ROD_TYPE_PIT_ANY	0x0080FFFFu
#define ROD_TYPE_BLOCK_ZERO	0xFFFF0001u

/* COPY OPERATION STATUS, ref 7.1 */
#define COS_OK		0x01
#define COS_ERROR	0x02
#define COS_PARTIAL	0x03
#define COS_RESIDUAL	0x04
#define COS_FG		0x11
#define COS_BG		0x12
#define COS_ABORTED	0x60

/* ------------------------------------------------------------------ */
/* knobs (odx_knobs.c; README.md documents each)                       */

struct odx_fault {
	bool set;
	bool every;		/* "%N": every Nth, else only the Nth */
	uint32_t n;
	uint8_t key, asc, ascq;
};

enum { IMMED_IGNORE = 0, IMMED_HONOUR = 1, IMMED_REJECT = 2 };
enum { TOK_AUR = 0, TOK_PIT = 1 };

struct odx_knobs {
	uint32_t block_size;		/* 0: use the kernel's hw_block_size */
	uint64_t max_token_bytes;	/* PT captures at most this (0 = no limit) */
	bool advertise_max_token;	/* publish it in VPD 0x8F */
	uint64_t max_wut_bytes;		/* a WUT writes at most this (0 = no limit) */
	uint32_t trunc_every;		/* every Nth PT and every Nth WUT does half */
	uint8_t trunc_status;		/* COPY OPERATION STATUS of a short operation */
	struct odx_fault fail_pt, fail_wut, fail_rrti, fail_xcopy;
	uint64_t fail_after_bytes;	/* injected WUT/XCOPY failures hit after this */
	uint32_t latency_ms;		/* fixed delay per PT/WUT/XCOPY */
	uint32_t latency_ms_per_mib;	/* delay per MiB written by WUT/XCOPY */
	uint32_t latency_mib;		/* ...for the LU's first MiB only (0: all) */
	uint32_t read_ms_per_mib;	/* delay per MiB a READ returns (slow host I/O) */
	int immed;			/* IMMED_* */
	uint8_t tc_units;		/* RRTI TRANSFER COUNT UNITS (ref 7.2) */
	uint32_t inactivity_default;	/* seconds */
	uint32_t inactivity_max;	/* seconds */
	uint32_t token_lifetime;	/* seconds from creation, 0 = unlimited */
	int token_mode;			/* TOK_AUR or TOK_PIT for PT without RTV */
	uint32_t pit_max_mib;		/* copy-on-write budget, whole process */
	uint16_t lid_busy;		/* ASC/ASCQ for "list id in use" (ref 8.6) */
	uint16_t max_ranges;		/* MAXIMUM RANGE DESCRIPTORS */
	bool xcopy;			/* EXTENDED COPY(LID1) offered */
	bool odx;			/* token commands offered */
	uint32_t poll_delay_ms;		/* ESTIMATED STATUS UPDATE DELAY while running */
	uint32_t list_retention;	/* seconds a completed list stays readable */
	uint32_t max_tokens;		/* live tokens in the process, then 55/0D */
	bool thin;			/* thin provisioning over the file's holes */
	uint32_t max_unmap_blocks;	/* MAXIMUM UNMAP LBA COUNT (VPD 0xB0) */
	uint32_t max_unmap_descs;	/* MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT */
};

/* Parses "key=value&key=value"; returns 0 or -1 with a message in err. */
int odx_knobs_parse(const char *s, struct odx_knobs *k, char *err, size_t errlen);
void odx_knobs_default(struct odx_knobs *k);

/* ------------------------------------------------------------------ */
/* devices, lists, tokens                                              */

struct odx_range { uint64_t lba; uint32_t nblocks; };

struct odx_list;
struct odx_token;

struct odx_dev {
	struct odx_dev *next;		/* registry of open devices (odx_lock) */
	struct tcmu_device *tdev;
	int fd;
	char *path;
	uint32_t bs;
	uint64_t nblocks;
	char serial[64];
	uint8_t naa[16];		/* NAA-6 LU designator, ref 3.4 */
	struct odx_knobs k;
	uint32_t unmap_gran;		/* OPTIMAL UNMAP GRANULARITY: the file system's block */

	/* fault-injection counters (odx_lock) */
	uint32_t n_pt, n_wut, n_rrti, n_xcopy;
	uint64_t slow_bytes;		/* written under latency_mib so far (odx_lock) */

	struct odx_list *lists;		/* operations by list id (odx_lock) */
	int refs;			/* operations of other LUs using this one */
	int workers;			/* our IMMED threads on this LU */
	bool closing;
};

struct odx_list {
	struct odx_list *next;
	uint32_t id;
	uint8_t sa;			/* originating SA: 0x00, 0x10, 0x11 */
	bool done;
	bool immed;
	bool abort_req;
	uint8_t op_status;		/* COS_* once done */
	uint8_t cmd_status;		/* SCSI status the operation ended with */
	uint8_t sense[ODX_SENSE_LEN];
	uint8_t sense_len;
	uint64_t blocks;		/* transfer count, logical blocks of this LU */
	uint64_t bytes;
	uint16_t ops;			/* OPERATION COUNTER */
	uint16_t segs;			/* SEGMENTS PROCESSED */
	uint64_t done_ms;
	bool has_token;
	uint8_t token[512];
};

extern pthread_mutex_t odx_lock;
extern pthread_cond_t odx_cond;

/* odx_main.c */
uint64_t odx_now_ms(void);
void odx_sleep_ms(uint64_t ms);
/* The one write path every write of this handler takes: copy-on-write and
 * token revocation first, then pwrite. buf == NULL writes zeros. */
int odx_write(struct odx_dev *d, uint64_t lba, uint64_t nblocks, const uint8_t *buf);
int odx_pread_full(int fd, uint8_t *buf, size_t len, uint64_t off);
/* Deallocate blocks (thin LUs): the same token checks as odx_write, then a hole
 * punched in the file (zeros written where the file system cannot punch). */
int odx_deallocate(struct odx_dev *d, uint64_t lba, uint64_t nblocks);
uint32_t odx_max_xfer_blocks(struct odx_dev *d);
struct odx_dev *odx_find_dev_by_designator(const uint8_t *desc4, size_t len);

/* odx_spc.c: sense, data-in, INQUIRY */
void sense_set(struct odx_sense *s, uint8_t key, uint8_t asc, uint8_t ascq);
void sense_set_info(struct odx_sense *s, uint64_t info);
void sense_set_csi(struct odx_sense *s, uint32_t csi);
/* field pointer: cd = 1 for the CDB, 0 for the parameter list; bit < 0: none */
void sense_set_field(struct odx_sense *s, bool cd, uint16_t field, int bit);
void sense_invalid_cdb(struct odx_sense *s, uint16_t field);
void sense_invalid_param(struct odx_sense *s, uint16_t field);
void sense_param_len(struct odx_sense *s);
void sense_lba_range(struct odx_sense *s, uint64_t lba);

size_t iov_len(const struct iovec *iov, size_t cnt);
size_t iov_copy_out(const struct iovec *iov, size_t cnt, size_t off, const void *src, size_t len);
size_t iov_copy_in(void *dst, size_t len, const struct iovec *iov, size_t cnt, size_t off);
void iov_zero(const struct iovec *iov, size_t cnt);
/* Put a response of len bytes into the data-in buffer, truncated to the
 * allocation length and the buffer; the rest of the buffer is zeroed. */
void data_in(const struct iovec *iov, size_t cnt, const void *buf, size_t len, uint32_t alloc);
/* Bytes the last data_in() on this thread put in its buffer (SIZE_MAX: none since
 * the command began); the glue tells the kernel when it is less than the buffer. */
extern __thread size_t odx_reply_len;

int odx_inquiry(struct odx_dev *d, const uint8_t *cdb, const struct iovec *iov, size_t cnt,
		struct odx_sense *s);
int odx_mode_sense(struct odx_dev *d, const uint8_t *cdb, const struct iovec *iov, size_t cnt,
		   struct odx_sense *s);
/* odx_rsoc.c: REPORT SUPPORTED OPERATION CODES */
int odx_rsoc(struct odx_dev *d, const uint8_t *cdb, const struct iovec *iov, size_t cnt,
	     struct odx_sense *s);
void odx_make_naa(const char *serial, uint8_t naa[16]);
void odx_make_naa_hashed(const char *serial, uint8_t naa[16]);
/* the 32-byte 0xE4 identification CSCD descriptor for d (ref 5.3) */
void odx_cscd_desc(struct odx_dev *d, uint8_t out[32]);

/* odx_ring.c: tell the kernel the data-in length of the command being completed
 * (TCMU_UFLAG_READ_LEN); false when it cannot be done safely */
bool odx_set_read_len(struct tcmu_device *tdev, uint16_t cmd_id, uint32_t len);

/* odx_thin.c: GET LBA STATUS (0x9E/0x12), UNMAP (0x42), VPD 0xB2 */
int odx_get_lba_status(struct odx_dev *d, const uint8_t *cdb, const struct iovec *iov, size_t cnt,
		       struct odx_sense *s);
int odx_unmap(struct odx_dev *d, const uint8_t *cdb, const struct iovec *iov, size_t cnt,
	      struct odx_sense *s);
size_t odx_vpd_lbp(struct odx_dev *d, uint8_t *b);

/* odx_tpc.c: third-party copy */
int odx_tpc_out(struct odx_dev *d, const uint8_t *cdb, const struct iovec *iov, size_t cnt,
		struct odx_sense *s);
int odx_tpc_in(struct odx_dev *d, const uint8_t *cdb, const struct iovec *iov, size_t cnt,
	       struct odx_sense *s);
/* Called by odx_write with odx_lock held, before the data hits the file. */
int odx_tokens_before_write(struct odx_dev *d, uint64_t lba, uint64_t nblocks);
/* On device close: cancel its tokens, abort its lists, wait for its users. */
void odx_tpc_dev_close(struct odx_dev *d);
void odx_tpc_free_lists(struct odx_dev *d);

#endif
