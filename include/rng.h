/*
 * rng: the one pseudo-random generator of the load generator, the data
 * generator and the tests (and the mixer of the index build's fallback
 * build_id). Never rand(): the same seed gives the same numbers on every
 * run and machine, so a benchmark or a test can be repeated exactly.
 *
 *   splitmix64   a tiny generator of its own (one 64-bit word of state),
 *                used where a test needs a few numbers, and to seed:
 *   xoshiro256** fast, 256-bit state, statistics good enough for loads
 *                and data.
 *
 * Header-only: the functions are a few instructions each and are called
 * per request or per byte, and test programs use them without linking
 * the load generator's modules.
 */
#ifndef LINESVR_RNG_H
#define LINESVR_RNG_H

#include <stdint.h>

struct rng {
	uint64_t s[4];
};

/* The next splitmix64 output of the stream *state (any value, 0 too). */
static inline uint64_t
splitmix64(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/*
 * Seed r from the splitmix64 stream *sm, which advances: generators seeded
 * one after another from one stream are independent. splitmix64 never
 * yields four zero words in a row, so the state is valid.
 */
static inline void
rng_seed_stream(struct rng *r, uint64_t *sm)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(sm);
}

/* Seed r from one number (any value, 0 too). */
static inline void
rng_seed(struct rng *r, uint64_t seed)
{
	rng_seed_stream(r, &seed);
}

static inline uint64_t
rng_rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/* The next xoshiro256** output. */
static inline uint64_t
rng_next(struct rng *r)
{
	uint64_t *s = r->s;
	uint64_t out = rng_rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rng_rotl(s[3], 45);
	return out;
}

/* Uniform in [0, 1), 53 bits. */
static inline double
rng_unit(struct rng *r)
{
	return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

/*
 * Uniform in [0, n), n > 0, unbiased: Lemire's multiply-and-reject, which
 * rarely needs a division.
 */
static inline uint64_t
rng_below(struct rng *r, uint64_t n)
{
	unsigned __int128 m = (unsigned __int128)rng_next(r) * n;
	uint64_t lo = (uint64_t)m, floor_;

	if (lo < n) {
		floor_ = -n % n;
		while (lo < floor_) {
			m = (unsigned __int128)rng_next(r) * n;
			lo = (uint64_t)m;
		}
	}
	return (uint64_t)(m >> 64);
}

#endif
