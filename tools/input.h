/*
 * input.h - reading the input files of vigil-decode and vigil-rules explain:
 * a file of HL7 text, an MLLP-framed stream or a classic pcap capture.
 *
 * Both tools must cut the same file into the same messages (an engineer
 * compares what one decodes with what the other's rules make of it), so the
 * reading, the recognition of the kind by content and the splitting live
 * here once. vigil reads pcap itself, without libpcap, because the tools
 * report byte offsets into the file.
 *
 * Nothing here prints or decodes: the tools word their own messages and run
 * the data plane's decoders on what these functions hand them.
 */
#ifndef VIGIL_TOOLS_INPUT_H
#define VIGIL_TOOLS_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a file is, told by its content (never by its name). */
enum vi_kind {
	VI_TEXT, /* HL7 text: a message at every line that starts with "MSH" */
	VI_MLLP, /* its first byte after optional whitespace is 0x0B */
	VI_PCAP, /* a classic pcap: magic a1b2c3d4 or a1b23c4d, either byte order */
};

/* A whole input file and its kind. */
struct vi_input {
	uint8_t *buf; /* malloc'd; vi_input_free releases it */
	size_t len;
	enum vi_kind kind;
	size_t start; /* VI_MLLP: offset of the first 0x0B (whitespace before it skipped); else 0 */
};

/*
 * Read all of @p path ("-": standard input) and tell its kind. Returns 0 or
 * a negative errno (nothing to free then).
 */
int vi_input_read(const char *path, struct vi_input *in);

void vi_input_free(struct vi_input *in);

/* A message of HL7 text, or a piece of an MLLP stream. */
struct vi_piece {
	size_t off; /* byte offset in the buffer that was split */
	size_t len;
	bool frame;	 /* MLLP: the piece starts with 0x0B (else: bytes between frames) */
	bool terminated; /* MLLP: the frame ends with 0x1C 0x0D */
};

/*
 * The next piece of the MLLP stream @p buf from *@p pos on: a frame from
 * 0x0B to 0x1C 0x0D inclusive, an unterminated frame up to the next 0x0B, or
 * the bytes outside frames up to the next 0x0B. Runs outside frames that are
 * only whitespace are skipped (files put newlines there). Returns false at
 * the end; *@p pos starts at 0 and moves past each piece.
 */
bool vi_mllp_next(const uint8_t *buf, size_t len, size_t *pos, struct vi_piece *piece);

/*
 * The next message of the HL7 text @p buf from *@p pos on: it runs from a
 * line that starts with "MSH" (or the start of the text) to the next such
 * line, segments ending with CR, LF or CRLF; trailing blank lines and
 * whitespace are cut but one segment terminator kept. Whitespace-only runs
 * are skipped. Returns false at the end; *@p pos starts at 0.
 */
bool vi_text_next(const uint8_t *buf, size_t len, size_t *pos, struct vi_piece *msg);

/* A classic pcap being walked, record by record. */
struct vi_pcap {
	const uint8_t *buf;
	size_t len;
	size_t off; /* of the next record */
	bool swap;  /* written in the other byte order */
	bool nsec;  /* timestamps in nanoseconds (magic a1b23c4d), else microseconds */
	uint32_t linktype;
	unsigned long n; /* records read so far */
};

/* One record of a capture. */
struct vi_frame {
	const uint8_t *data; /* the frame as captured: caplen bytes */
	uint32_t caplen;
	uint32_t origlen;     /* its length on the wire */
	int64_t ts_ns;	      /* its timestamp, nanoseconds since the epoch */
	size_t off;	      /* byte offset of data in the file */
	size_t rec_off;	      /* byte offset of its record header in the file */
	unsigned long number; /* 1-based */
};

/*
 * Start walking the capture @p buf (@p len bytes). Returns 0, or -EINVAL
 * when it is no pcap, -EBADMSG when its file header is cut short,
 * -EPROTONOSUPPORT when its link type (@p pc->linktype) is not Ethernet. On
 * failure it says why on stderr as "PROG: FILE: REASON" (@p prog, @p file),
 * as both tools word it.
 */
int vi_pcap_open(struct vi_pcap *pc, const uint8_t *buf, size_t len, const char *prog,
		 const char *file);

/*
 * The next record: returns 1 with it in @p f, 0 at the end of the capture,
 * or a negative errno when the record is broken, which ends the walk:
 * -ENODATA its header is cut short, -EOVERFLOW its frame runs past the end
 * of the file. Even then @p f->number and @p f->rec_off say which record.
 */
int vi_pcap_next(struct vi_pcap *pc, struct vi_frame *f);

#endif /* VIGIL_TOOLS_INPUT_H */
