/* score.c - see include/cx/score.h */
#include <math.h>
#include <string.h>

#include "cx/score.h"

static double clamp(double v, double lo, double hi)
{
	return v < lo ? lo : (v > hi ? hi : v);
}

/* Round for output: 4 decimals is below any difference a reader could act on. */
static double r4(double v)
{
	return round(v * 10000.0) / 10000.0;
}

void cx_hist_add(struct cx_hist *a, const struct cx_hist *b)
{
	a->responses += b->responses;
	for (int i = 0; i < 11; i++)
		a->nps[i] += b->nps[i];
	for (int i = 0; i < 5; i++)
		a->csat[i] += b->csat[i];
	for (int i = 0; i < 7; i++)
		a->ces[i] += b->ces[i];
}

int cx_score_nps(const struct cx_hist *h, struct cx_nps *o)
{
	double p, d, half;

	memset(o, 0, sizeof(*o));
	for (int v = 0; v <= 10; v++) {
		o->n += h->nps[v];
		if (v >= 9)
			o->promoters += h->nps[v];
		else if (v >= 7)
			o->passives += h->nps[v];
		else
			o->detractors += h->nps[v];
	}
	if (o->n == 0)
		return -1;
	p = (double)o->promoters / (double)o->n;
	d = (double)o->detractors / (double)o->n;
	o->score = 100.0 * (p - d);
	half = CX_Z95 * sqrt(fmax(0.0, (p + d - (p - d) * (p - d)) / (double)o->n));
	o->lo = clamp(100.0 * (p - d - half), -100.0, 100.0);
	o->hi = clamp(100.0 * (p - d + half), -100.0, 100.0);
	return 0;
}

void cx_score_wilson(int64_t k, int64_t n, double z, double *lo, double *hi)
{
	double nn = (double)n, ph = (double)k / nn, z2 = z * z;
	double denom = 1.0 + z2 / nn;
	double center = (ph + z2 / (2.0 * nn)) / denom;
	double half = z / denom * sqrt(ph * (1.0 - ph) / nn + z2 / (4.0 * nn * nn));

	*lo = clamp(center - half, 0.0, 1.0);
	*hi = clamp(center + half, 0.0, 1.0);
}

int cx_score_csat(const struct cx_hist *h, struct cx_csat *o)
{
	double sum = 0;

	memset(o, 0, sizeof(*o));
	for (int v = 1; v <= 5; v++) {
		o->n += h->csat[v - 1];
		sum += (double)v * (double)h->csat[v - 1];
	}
	if (o->n == 0)
		return -1;
	o->satisfied = h->csat[3] + h->csat[4];
	o->score = 100.0 * (double)o->satisfied / (double)o->n;
	o->mean = sum / (double)o->n;
	cx_score_wilson(o->satisfied, o->n, CX_Z95, &o->lo, &o->hi);
	o->lo *= 100.0;
	o->hi *= 100.0;
	return 0;
}

int cx_score_ces(const struct cx_hist *h, struct cx_ces *o)
{
	double sum = 0, ss = 0;

	memset(o, 0, sizeof(*o));
	for (int v = 1; v <= 7; v++) {
		o->n += h->ces[v - 1];
		sum += (double)v * (double)h->ces[v - 1];
	}
	if (o->n == 0)
		return -1;
	o->easy = h->ces[4] + h->ces[5] + h->ces[6];
	o->mean = sum / (double)o->n;
	o->easy_pct = 100.0 * (double)o->easy / (double)o->n;
	if (o->n >= 2) {
		/* two-pass over the histogram: exact and stable */
		for (int v = 1; v <= 7; v++)
			ss += (double)h->ces[v - 1] * ((double)v - o->mean) * ((double)v - o->mean);
		double s = sqrt(ss / (double)(o->n - 1));
		double half = CX_Z95 * s / sqrt((double)o->n);

		o->lo = o->mean - half;
		o->hi = o->mean + half;
		o->has_ci = 1;
	}
	return 0;
}

static json_t *interval(double lo, double hi)
{
	return json_pack("[f, f]", r4(lo), r4(hi));
}

json_t *cx_score_json(const struct cx_hist *h)
{
	struct cx_nps nps;
	struct cx_csat csat;
	struct cx_ces ces;
	json_t *o = json_pack("{s:I}", "responses", (json_int_t)h->responses);

	if (cx_score_nps(h, &nps) == 0)
		json_object_set_new(o, "nps", json_pack("{s:f, s:I, s:I, s:I, s:I, s:o}",
			"score", r4(nps.score), "promoters", (json_int_t)nps.promoters,
			"passives", (json_int_t)nps.passives, "detractors", (json_int_t)nps.detractors,
			"n", (json_int_t)nps.n, "ci95", interval(nps.lo, nps.hi)));
	else
		json_object_set_new(o, "nps", json_null());
	if (cx_score_csat(h, &csat) == 0)
		json_object_set_new(o, "csat", json_pack("{s:f, s:f, s:I, s:I, s:o}",
			"score", r4(csat.score), "mean", r4(csat.mean),
			"satisfied", (json_int_t)csat.satisfied, "n", (json_int_t)csat.n,
			"ci95", interval(csat.lo, csat.hi)));
	else
		json_object_set_new(o, "csat", json_null());
	if (cx_score_ces(h, &ces) == 0)
		json_object_set_new(o, "ces", json_pack("{s:f, s:f, s:I, s:I, s:o}",
			"mean", r4(ces.mean), "easy_pct", r4(ces.easy_pct),
			"easy", (json_int_t)ces.easy, "n", (json_int_t)ces.n,
			"ci95", ces.has_ci ? interval(ces.lo, ces.hi) : json_null()));
	else
		json_object_set_new(o, "ces", json_null());
	return o;
}
