/*
 * input.c - reading the input files of vigil-decode and vigil-rules explain:
 * the whole file, its kind (pcap, MLLP or HL7 text) told by content, and
 * its pieces: pcap records with their byte offsets and timestamps, the
 * frames of an MLLP stream, the messages of HL7 text.
 *
 * The two tools must mean the same messages by the same file, so they share
 * this one copy of the rules rather than each keeping its own. See input.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "input.h"

#define MLLP_START 0x0b
#define MLLP_END 0x1c
#define MLLP_CR 0x0d

#define PCAP_MAGIC_US 0xa1b2c3d4u
#define PCAP_MAGIC_NS 0xa1b23c4du
#define PCAP_HDR_LEN 24u
#define PCAP_REC_LEN 16u
#define PCAP_LINKTYPE_ETHERNET 1u

/* Not isspace(): 0x0B, the vertical tab, is MLLP's start byte. */
static bool
is_space(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool
all_space(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!is_space(p[i]))
			return false;
	return true;
}

static uint32_t
rd32(const uint8_t *p, bool swap)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return swap ? __builtin_bswap32(v) : v;
}

/* ------------------------------------------------------------------------ */
/* Files                                                                     */
/* ------------------------------------------------------------------------ */

/* Read all of @p path ("-": stdin) into a malloc'd buffer. 0 or a negative errno. */
static int
read_file(const char *path, uint8_t **out, size_t *out_len)
{
	int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
	size_t len = 0, room = 1 << 16;
	uint8_t *buf = NULL, *bigger;
	int rc = 0;

	if (fd < 0)
		return -errno;
	buf = malloc(room);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t n;

		if (len == room) {
			bigger = realloc(buf, room * 2);
			if (!bigger) {
				rc = -ENOMEM;
				goto out;
			}
			buf = bigger;
			room *= 2;
		}
		n = read(fd, buf + len, room - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	*out = buf;
	*out_len = len;
	buf = NULL;
out:
	free(buf);
	if (fd != STDIN_FILENO)
		close(fd);
	return rc;
}

static bool
is_pcap(const uint8_t *buf, size_t len)
{
	uint32_t m;

	if (len < 4)
		return false;
	m = rd32(buf, false);
	return m == PCAP_MAGIC_US || m == PCAP_MAGIC_NS || __builtin_bswap32(m) == PCAP_MAGIC_US ||
	       __builtin_bswap32(m) == PCAP_MAGIC_NS;
}

int
vi_input_read(const char *path, struct vi_input *in)
{
	size_t lead = 0;
	int rc;

	memset(in, 0, sizeof(*in));
	rc = read_file(path, &in->buf, &in->len);
	if (rc)
		return rc;
	while (lead < in->len && is_space(in->buf[lead]))
		lead++;
	if (is_pcap(in->buf, in->len)) {
		in->kind = VI_PCAP;
	} else if (lead < in->len && in->buf[lead] == MLLP_START) {
		in->kind = VI_MLLP;
		in->start = lead;
	} else {
		in->kind = VI_TEXT;
	}
	return 0;
}

void
vi_input_free(struct vi_input *in)
{
	free(in->buf);
	in->buf = NULL;
	in->len = 0;
}

/* ------------------------------------------------------------------------ */
/* MLLP and HL7 text                                                         */
/* ------------------------------------------------------------------------ */

/*
 * The next piece of MLLP input at @p p (@p n bytes, at least one): a frame
 * from 0x0B to 0x1C 0x0D inclusive, an unterminated frame up to the next
 * 0x0B, or the bytes outside frames up to the next 0x0B. Returns its length.
 */
static size_t
mllp_piece(const uint8_t *p, size_t n, bool *frame, bool *terminated)
{
	size_t i = 1;

	*frame = p[0] == MLLP_START;
	*terminated = false;
	if (!*frame) {
		while (i < n && p[i] != MLLP_START)
			i++;
		return i;
	}
	while (i < n && p[i] != MLLP_START) {
		if (p[i] == MLLP_END && i + 1 < n && p[i + 1] == MLLP_CR) {
			*terminated = true;
			return i + 2;
		}
		i++;
	}
	return i;
}

bool
vi_mllp_next(const uint8_t *buf, size_t len, size_t *pos, struct vi_piece *piece)
{
	while (*pos < len) {
		size_t off = *pos;
		bool frame, terminated;
		size_t n = mllp_piece(buf + off, len - off, &frame, &terminated);

		*pos = off + n;
		if (!frame && all_space(buf + off, n))
			continue;
		piece->off = off;
		piece->len = n;
		piece->frame = frame;
		piece->terminated = terminated;
		return true;
	}
	return false;
}

static bool
msh_at(const uint8_t *buf, size_t len, size_t i)
{
	return i + 3 <= len && memcmp(buf + i, "MSH", 3) == 0 &&
	       (i == 0 || buf[i - 1] == '\r' || buf[i - 1] == '\n');
}

bool
vi_text_next(const uint8_t *buf, size_t len, size_t *pos, struct vi_piece *msg)
{
	while (*pos < len) {
		size_t start = *pos, next = start + 1, end;

		while (next < len && !msh_at(buf, len, next))
			next++;
		/* Trailing blank lines and spaces go; one segment terminator stays. */
		end = next;
		while (end > start && is_space(buf[end - 1]))
			end--;
		if (end < next && buf[end] == '\r')
			end += (end + 1 < next && buf[end + 1] == '\n') ? 2 : 1;
		else if (end < next && buf[end] == '\n')
			end++;
		*pos = next;
		if (all_space(buf + start, end - start))
			continue;
		msg->off = start;
		msg->len = end - start;
		msg->frame = false;
		msg->terminated = false;
		return true;
	}
	return false;
}

/* ------------------------------------------------------------------------ */
/* pcap                                                                      */
/* ------------------------------------------------------------------------ */

int
vi_pcap_open(struct vi_pcap *pc, const uint8_t *buf, size_t len, const char *prog, const char *file)
{
	uint32_t magic;

	memset(pc, 0, sizeof(*pc));
	if (!is_pcap(buf, len))
		return -EINVAL;
	magic = rd32(buf, false);
	pc->buf = buf;
	pc->len = len;
	pc->off = PCAP_HDR_LEN;
	pc->swap = magic != PCAP_MAGIC_US && magic != PCAP_MAGIC_NS;
	pc->nsec = rd32(buf, pc->swap) == PCAP_MAGIC_NS;
	if (len < PCAP_HDR_LEN) {
		fprintf(stderr, "%s: %s: pcap header cut short (%zu bytes)\n", prog, file, len);
		return -EBADMSG;
	}
	pc->linktype = rd32(buf + 20, pc->swap) & 0x0fffffffu;
	if (pc->linktype != PCAP_LINKTYPE_ETHERNET) {
		fprintf(stderr, "%s: %s: link type %" PRIu32 " is not Ethernet (1)\n", prog, file,
			pc->linktype);
		return -EPROTONOSUPPORT;
	}
	return 0;
}

int
vi_pcap_next(struct vi_pcap *pc, struct vi_frame *f)
{
	const uint8_t *rec;
	uint32_t frac;

	if (pc->off >= pc->len)
		return 0;
	rec = pc->buf + pc->off;
	memset(f, 0, sizeof(*f));
	f->number = ++pc->n;
	f->rec_off = pc->off;
	if (pc->len - pc->off < PCAP_REC_LEN) {
		pc->off = pc->len;
		return -ENODATA;
	}
	f->caplen = rd32(rec + 8, pc->swap);
	if (f->caplen > pc->len - pc->off - PCAP_REC_LEN) {
		pc->off = pc->len;
		return -EOVERFLOW;
	}
	f->origlen = rd32(rec + 12, pc->swap);
	frac = rd32(rec + 4, pc->swap);
	f->ts_ns =
		(int64_t)rd32(rec, pc->swap) * 1000000000 + (int64_t)frac * (pc->nsec ? 1 : 1000);
	f->off = pc->off + PCAP_REC_LEN;
	f->data = pc->buf + f->off;
	pc->off = f->off + f->caplen;
	return 1;
}
