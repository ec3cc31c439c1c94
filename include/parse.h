/*
 * parse: careful conversion of text to numbers, shared by the config reader,
 * the command lines and the load generator. Every function rejects empty
 * input, signs, trailing junk and overflow instead of guessing.
 */
#ifndef LINESVR_PARSE_H
#define LINESVR_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* Decimal digits only ("007" is 7). 0 on success, -1 otherwise. */
int parse_u64(const char *s, uint64_t *out);

/* Like parse_u64, then checks lo <= value <= hi. */
int parse_u64_range(const char *s, uint64_t lo, uint64_t hi, uint64_t *out);

/*
 * A byte size: digits with an optional K, M or G suffix (powers of 1024,
 * either case), e.g. "256M". 0 on success, -1 on junk or overflow.
 */
int parse_size(const char *s, uint64_t *out);

#endif
