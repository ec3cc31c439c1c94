/*
 * keys: request key generators (see keys.h).
 *
 * Zipf by rejection-inversion: the probability mass i^-theta of integer i
 * is compared with the area under the continuous density h(x) = x^-theta
 * over [i - 1/2, i + 1/2]. A point drawn by inverting the integral H of h
 * is rounded to the nearest integer and accepted when it falls under the
 * mass of that integer; since h is convex the acceptance rate is high and
 * the expected number of rounds is close to 1 for any k.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"

/* log(1 + x) / x and (exp(x) - 1) / x, continuous at 0 (theta = 1). */
static double
log1p_over(double x)
{
	return fabs(x) > 1e-8 ? log1p(x) / x : 1 - x / 2 + x * x / 3;
}

static double
expm1_over(double x)
{
	return fabs(x) > 1e-8 ? expm1(x) / x : 1 + x / 2 + x * x / 6;
}

/* H(x) = integral of t^-theta from 1 to x, written to survive theta = 1. */
static double
zipf_H(const struct keygen *g, double x)
{
	double lx = log(x);

	return expm1_over((1 - g->theta) * lx) * lx;
}

static double
zipf_H_inv(const struct keygen *g, double y)
{
	double t = y * (1 - g->theta);

	if (t < -1)	/* rounding at the far end of the range */
		t = -1;
	return exp(log1p_over(t) * y);
}

static double
zipf_h(const struct keygen *g, double x)
{
	return exp(-g->theta * log(x));
}

static void
zipf_setup(struct keygen *g)
{
	g->h_x1 = zipf_H(g, 1.5) - 1;
	g->h_n = zipf_H(g, (double)g->k + 0.5);
	g->s = 2 - zipf_H_inv(g, zipf_H(g, 2.5) - zipf_h(g, 2));
}

static uint64_t
zipf_next(struct keygen *g)
{
	double u, x;
	uint64_t i;

	for (;;) {
		u = g->h_n + rng_unit(&g->rng) * (g->h_x1 - g->h_n);
		x = zipf_H_inv(g, u);
		i = (uint64_t)(x + 0.5);
		if (i < 1)
			i = 1;
		else if (i > g->k)
			i = g->k;
		if ((double)i - x <= g->s ||
		    u >= zipf_H(g, (double)i + 0.5) - zipf_h(g, (double)i))
			return i;
	}
}

void
keygen_init(struct keygen *g, enum keydist dist, double theta, uint64_t k,
    uint64_t seed, uint64_t start)
{
	memset(g, 0, sizeof(*g));
	g->dist = dist;
	g->k = k;
	g->theta = theta;
	g->next = start % k + 1;
	rng_seed(&g->rng, seed);
	if (dist == KEYS_ZIPF)
		zipf_setup(g);
}

uint64_t
keygen_next(struct keygen *g)
{
	uint64_t key;

	switch (g->dist) {
	case KEYS_SEQ:
		key = g->next;
		g->next = key == g->k ? 1 : key + 1;
		return key;
	case KEYS_ZIPF:
		return zipf_next(g);
	case KEYS_UNIFORM:
	default:
		return 1 + rng_below(&g->rng, g->k);
	}
}

int
keydist_parse(const char *s, enum keydist *dist, double *theta)
{
	char *end;
	double t;

	if (strcmp(s, "uniform") == 0) {
		*dist = KEYS_UNIFORM;
		return 0;
	}
	if (strcmp(s, "seq") == 0) {
		*dist = KEYS_SEQ;
		return 0;
	}
	if (strncmp(s, "zipf", 4) != 0)
		return -1;
	if (s[4] == '\0') {
		*dist = KEYS_ZIPF;
		*theta = ZIPF_THETA_DEFAULT;
		return 0;
	}
	if (s[4] != ':' || s[5] == '\0')
		return -1;
	t = strtod(s + 5, &end);
	if (*end != '\0' || !(t > 0) || !isfinite(t) || t > 100)
		return -1;
	*dist = KEYS_ZIPF;
	*theta = t;
	return 0;
}

const char *
keydist_name(enum keydist dist)
{
	switch (dist) {
	case KEYS_SEQ:
		return "seq";
	case KEYS_ZIPF:
		return "zipf";
	case KEYS_UNIFORM:
	default:
		return "uniform";
	}
}
