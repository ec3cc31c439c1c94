/*
 * keys: which line each request asks for. Keys run over 1..k in one of
 * three distributions:
 *   uniform  every key equally likely;
 *   seq      1, 2, ..., k, 1, ... from a per-generator starting point, so
 *            several generators with spread starts cover the keys evenly;
 *   zipf     P(key = i) proportional to 1 / i^theta (theta > 0), drawn
 *            in O(1) per key with no table, by rejection-inversion
 *            (Hörmann & Derflinger, 1996): k may be billions.
 * One generator per thread; no locks, no allocation.
 */
#ifndef BENCH_KEYS_H
#define BENCH_KEYS_H

#include <stdint.h>

#include "rng.h"

enum keydist { KEYS_UNIFORM, KEYS_SEQ, KEYS_ZIPF };

#define ZIPF_THETA_DEFAULT 0.99

struct keygen {
	enum keydist dist;
	uint64_t k;
	uint64_t next;		/* seq: the next key */
	struct rng rng;
	/* zipf constants, see keys.c */
	double theta, h_x1, h_n, s;
};

/* k >= 1; theta > 0 for zipf; start (seq) is taken modulo k. */
void keygen_init(struct keygen *g, enum keydist dist, double theta,
    uint64_t k, uint64_t seed, uint64_t start);
uint64_t keygen_next(struct keygen *g);

/*
 * Parse "uniform", "seq", "zipf" or "zipf:THETA". 0, or -1 on anything
 * else (a theta that is not a positive finite number included).
 */
int keydist_parse(const char *s, enum keydist *dist, double *theta);
const char *keydist_name(enum keydist dist);

#endif
