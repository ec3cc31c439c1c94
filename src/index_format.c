/*
 * index_format.c: the index's bytes on disk (the layout is described at
 * the top of index.c): the header's encoder and decoder, the page checksum
 * and the identity that seeds it, and the one encoder of a page body with
 * its decoders. The build, the reader and the repair all go through here.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "crc32c.h"
#include "index_format.h"

enum index_status
index_fail(enum index_status st, char *err, size_t errlen, const char *fmt,
    ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return st;
}

static int
host_is_le(void)
{
	const uint16_t one = 1;
	return *(const unsigned char *)&one == 1;
}

uint32_t
index_identity_seed(const struct index_header *h)
{
	unsigned char b[28];

	put_le64(b, h->build_id);
	put_le64(b + 8, h->source_size);
	put_le64(b + 16, (uint64_t)h->source_mtime_s);
	put_le32(b + 24, h->source_mtime_ns);
	return crc32c(0, b, sizeof(b));
}

uint32_t
index_page_crc(uint32_t seed, uint64_t page, const unsigned char *body,
    size_t nbytes)
{
	unsigned char num[8];

	put_le64(num, page);
	return crc32c(crc32c(seed, num, 8), body, nbytes);
}

void
index_encode_header(unsigned char *h, const struct index_header *ih)
{
	memset(h, 0, INDEX_HEADER_SIZE);
	memcpy(h + HDR_MAGIC, INDEX_MAGIC, 8);
	put_le32(h + HDR_VERSION, ih->version);
	put_le32(h + HDR_HSIZE, INDEX_HEADER_SIZE);
	put_le32(h + HDR_M, ih->lines_per_page);
	put_le32(h + HDR_FLAGS, ih->flags);
	put_le64(h + HDR_LINES, ih->lines);
	put_le64(h + HDR_PAGES, ih->pages);
	put_le64(h + HDR_PAGE_BYTES, ih->page_bytes);
	put_le64(h + HDR_SRC_SIZE, ih->source_size);
	put_le64(h + HDR_SRC_MTIME_S, (uint64_t)ih->source_mtime_s);
	put_le32(h + HDR_SRC_MTIME_NS, ih->source_mtime_ns);
	put_le32(h + HDR_FP, ih->fingerprint);
	put_le64(h + HDR_INDEX_SIZE, ih->index_size);
	put_le64(h + HDR_BUILD_ID, ih->build_id);
	put_le32(h + HDR_CRC_OFF, crc32c(0, h, HDR_CRC_OFF));
}

enum index_status
index_decode_header(const unsigned char *h, struct index_header *ih,
    const char *path, char *err, size_t errlen)
{
	if (memcmp(h + HDR_MAGIC, INDEX_MAGIC, 8) != 0)
		return index_fail(INDEX_ERR_MAGIC, err, errlen,
		    "%s: not a linesvr index (bad magic)", path);
	ih->version = get_le32(h + HDR_VERSION);
	if (ih->version != INDEX_VERSION)
		return index_fail(INDEX_ERR_VERSION, err, errlen,
		    "%s: index format version %u, this build reads %u", path,
		    ih->version, INDEX_VERSION);
	if (get_le32(h + HDR_CRC_OFF) != crc32c(0, h, HDR_CRC_OFF))
		return index_fail(INDEX_ERR_HEADER, err, errlen,
		    "%s: header checksum mismatch (corrupt header)", path);
	ih->lines_per_page = get_le32(h + HDR_M);
	ih->flags = get_le32(h + HDR_FLAGS);
	ih->lines = get_le64(h + HDR_LINES);
	ih->pages = get_le64(h + HDR_PAGES);
	ih->page_bytes = get_le64(h + HDR_PAGE_BYTES);
	ih->source_size = get_le64(h + HDR_SRC_SIZE);
	ih->source_mtime_s = (int64_t)get_le64(h + HDR_SRC_MTIME_S);
	ih->source_mtime_ns = get_le32(h + HDR_SRC_MTIME_NS);
	ih->fingerprint = get_le32(h + HDR_FP);
	ih->index_size = get_le64(h + HDR_INDEX_SIZE);
	ih->build_id = get_le64(h + HDR_BUILD_ID);
	ih->page_seed = index_identity_seed(ih);
	return INDEX_OK;
}

int
index_encode_body(const struct index_header *h, const uint64_t *offs,
    const uint32_t *crcs, unsigned char *dst)
{
	unsigned m = h->lines_per_page;
	size_t at = index_crcs_at(m, index_is_wide(h));

	if (index_is_wide(h)) {
		for (unsigned j = 0; j <= m; j++)
			put_le64(dst + 8 * (size_t)j, offs[j]);
	} else {
		if (offs[m] - offs[0] > UINT32_MAX)
			return -1;
		put_le64(dst, offs[0]);
		for (unsigned j = 1; j <= m; j++)
			put_le32(dst + 8 + 4 * (size_t)(j - 1),
			    (uint32_t)(offs[j] - offs[0]));
	}
	if (index_has_line_crc(h)) {
		for (unsigned k = 0; k < m; k++)
			put_le32(dst + at + 4 * (size_t)k, crcs[k]);
		memset(dst + at + 4 * (size_t)m, 0, (size_t)page_body_bytes(m,
		    index_is_wide(h), 1) - at - 4 * (size_t)m);
	}
	return 0;
}

/* Stored little-endian; readers use host order. */
void
index_body_to_host(const struct index_header *h, unsigned char *p)
{
	unsigned m = h->lines_per_page;
	size_t at = index_crcs_at(m, index_is_wide(h));

	if (host_is_le())
		return;
	if (index_is_wide(h)) {
		for (unsigned j = 0; j <= m; j++) {
			uint64_t v = get_le64(p + 8 * (size_t)j);
			memcpy(p + 8 * (size_t)j, &v, 8);
		}
	} else {
		uint64_t base = get_le64(p);
		memcpy(p, &base, 8);
		for (unsigned k = 0; k < m; k++) {
			uint32_t e = get_le32(p + 8 + 4 * (size_t)k);
			memcpy(p + 8 + 4 * (size_t)k, &e, 4);
		}
	}
	if (index_has_line_crc(h))
		for (unsigned k = 0; k < m; k++) {
			uint32_t c = get_le32(p + at + 4 * (size_t)k);
			memcpy(p + at + 4 * (size_t)k, &c, 4);
		}
}

/*
 * Offsets never run backwards nor past the text. Checked on every page a
 * cache loads, so the compact loop stays a plain scan of the ends.
 */
int
index_body_in_order(const struct index_header *h, const unsigned char *p)
{
	unsigned m = h->lines_per_page;
	uint64_t base, prev = 0;

	if (index_is_wide(h)) {
		for (size_t k = 0; k <= m; k++) {
			uint64_t v;
			memcpy(&v, p + 8 * k, 8);
			if (v < prev || v > h->source_size)
				return 0;
			prev = v;
		}
		return 1;
	}
	memcpy(&base, p, 8);
	for (size_t k = 0; k < m; k++) {
		uint64_t e = index_compact_end(p, k);
		if (e < prev)
			return 0;
		prev = e;
	}
	return base <= h->source_size && prev <= h->source_size - base;
}

