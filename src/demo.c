/* demo.c - see include/cx/demo.h */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cx/cxtime.h"
#include "cx/demo.h"

#define BATCH 10000

struct touch {
	const char *stage, *touchpoint;
	double base;       /* mean NPS answer, 0-10 */
	double drift;      /* change of that mean from the first day to the last */
	int asks_ces;
};

static const struct touch touches[] = {
	{ "awareness", "social-ads", 8.3, 0, 0 },     { "awareness", "search", 8.6, 0, 0 },
	{ "awareness", "word-of-mouth", 9.2, 0, 0 },  { "interest", "website", 8.4, 0.3, 1 },
	{ "interest", "newsletter", 8.1, 0, 0 },      { "consideration", "product-page", 8.6, 0, 1 },
	{ "consideration", "reviews", 8.8, 0, 0 },    { "consideration", "live-chat", 8.4, 0, 1 },
	{ "purchase", "checkout", 8.5, 0, 1 },        { "purchase", "payment", 5.4, 0, 1 },
	{ "purchase", "confirmation-email", 8.9, 0, 0 }, { "retention", "delivery", 6.9, 2.2, 1 },
	{ "retention", "support-call", 8.1, 0, 1 },   { "retention", "returns", 8.0, 0.3, 1 },
	{ "advocacy", "referral", 9.3, 0, 0 },        { "advocacy", "app-review", 8.7, 0, 0 },
};
#define NTOUCH (sizeof(touches) / sizeof(touches[0]))

static const char *const channels[] = { "web", "web", "app", "email", "phone", "store" };
static const char *const segments[] = { "new", "new", "returning", "returning", "returning", "vip" };

static const char *const praise[] = {
	"Quick and easy, thank you!", "Great service, will recommend.",
	"Everything arrived as promised.", "Friendly and helpful staff.",
	"Smooth from start to finish.",
};
static const char *const neutral[] = {
	"It was fine, nothing special.", "Okay overall, a bit slow at times.",
	"Did the job.", "Average experience.",
};
/* What detractors say, by touchpoint; the last entry serves every other touchpoint. */
static const struct { const char *touchpoint; const char *text[3]; } complaints[] = {
	{ "payment", { "Payment failed twice before it went through.",
		       "Card was declined with no explanation.",
		       "The 3-D Secure step kept timing out." } },
	{ "delivery", { "Delivery was late and nobody told me.", "The parcel arrived damaged.",
			"Tracking said delivered, it was not." } },
	{ "support-call", { "Support took ages to answer.", "Was transferred three times.",
			    "Nobody could tell me where my order was." } },
	{ "returns", { "Charged twice, still waiting for the refund.",
		       "The return label never arrived.", "Refund took three weeks." } },
	{ "newsletter", { "Too many emails.", "The offers are never relevant to me.",
			  "Unsubscribe link did not work." } },
	{ NULL, { "Too many steps, I almost gave up.", "Not what I expected.",
		  "Confusing and slow." } },
};

static const char *complaint(const char *touchpoint, uint64_t pick)
{
	size_t i = 0;

	while (complaints[i].touchpoint && strcmp(complaints[i].touchpoint, touchpoint) != 0)
		i++;
	return complaints[i].text[pick % 3];
}

static uint64_t next(uint64_t *s)   /* xorshift64* */
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

static double uniform(uint64_t *s)
{
	return (double)(next(s) >> 11) / 9007199254740992.0;
}

static int clampi(int v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* An NPS answer around `mean`: a skewed mix, as real NPS answers are. */
static int nps_answer(uint64_t *s, double mean)
{
	double u = uniform(s) + uniform(s) + uniform(s);   /* ~ bell on [0, 3] */

	return clampi((int)(mean + (u - 1.5) * 3.2 + 0.5), 0, 10);
}

static void make(struct cx_response *r, uint64_t *s, int64_t first_day, unsigned days,
		 unsigned i, char *customer, size_t clen)
{
	const struct touch *t;
	unsigned k = (unsigned)(next(s) % (NTOUCH * 10));
	double when = uniform(s), mean;
	int64_t t_s;

	/* payment and delivery are asked more often than referral or app-review */
	t = &touches[k < NTOUCH * 9 ? k % NTOUCH : (k % 2 ? 9 : 11)];
	t_s = (first_day + (int64_t)(when * days)) * 86400 + (int64_t)(uniform(s) * 86400);
	if (t_s > cx_time_now())
		t_s = cx_time_now() - (int64_t)(uniform(s) * 3600);
	mean = t->base + t->drift * when;
	memset(r, 0, sizeof(*r));
	snprintf(r->survey, sizeof(r->survey), "%s", CX_DEMO_SURVEY);
	r->stage = strdup(t->stage);
	r->touchpoint = strdup(t->touchpoint);
	r->channel = strdup(channels[next(s) % 6]);
	r->segment = strdup(segments[next(s) % 6]);
	snprintf(customer, clen, "cust-%05u", (unsigned)(next(s) % 40000));
	r->customer = strdup(customer);
	r->nps = uniform(s) < 0.92 ? nps_answer(s, mean) : -1;
	r->csat = uniform(s) < 0.7 ? clampi((int)(1 + (mean / 10.0) * 4.0 + (uniform(s) - 0.5) * 2.0 + 0.5), 1, 5) : -1;
	r->ces = t->asks_ces && uniform(s) < 0.6
		 ? clampi((int)(1 + (mean / 10.0) * 6.0 + (uniform(s) - 0.5) * 2.5 + 0.5), 1, 7) : -1;
	if (uniform(s) < 0.18 || (r->nps < 0 && r->csat < 0 && r->ces < 0)) {
		int score = r->nps >= 0 ? r->nps : (int)mean;

		r->comment = strdup(score >= 9 ? praise[next(s) % 5]
				    : score >= 7 ? neutral[next(s) % 4]
				    : complaint(t->touchpoint, next(s)));
	}
	r->submitted_at = t_s;
	r->received_ms = t_s * 1000;
	(void)i;
}

static int define_survey(struct cx_store *st, struct cx_error *err)
{
	struct cx_survey s = { .id = CX_DEMO_SURVEY };
	int created;
	int rc;

	s.title = strdup("Online shop journey");
	s.thank_you_url = NULL;
	for (size_t i = 0; i < cx_default_stages_count; i++)
		s.stages[s.nstages++] = strdup(cx_default_stages[i]);
	for (size_t i = 0; i < NTOUCH; i++)   /* its journey map */
		if (cx_survey_add_touchpoint(&s, touches[i].stage, touches[i].touchpoint, 1)) {
			cx_survey_release(&s);
			return cx_error_set(err, 503, "out_of_memory", NULL, "out of memory");
		}
	s.open_touchpoints = 1;
	rc = cx_store_survey_put(st, &s, 0, &created, err);
	cx_survey_release(&s);
	return rc;
}

int cx_demo_fill(struct cx_store *st, unsigned n, unsigned days, uint64_t seed,
		 struct cx_error *err)
{
	struct cx_response *batch = calloc(BATCH, sizeof(*batch));
	int64_t first_day = cx_time_day_of(cx_time_now()) - days + 1;
	uint64_t s = seed ? seed : 0x9e3779b97f4a7c15ull;
	char customer[32];
	int rc = 0;

	if (!batch)
		return cx_error_set(err, 503, "out_of_memory", NULL, "out of memory");
	if (define_survey(st, err)) {
		free(batch);
		if (err->status == 409)
			cx_error_set(err, 409, "demo_exists", NULL, "the demo survey '%s' is already "
				     "in this database", CX_DEMO_SURVEY);
		return -1;
	}
	for (unsigned done = 0; done < n && !rc;) {
		unsigned m = n - done < BATCH ? n - done : BATCH;
		int64_t id;
		int replayed;

		for (unsigned i = 0; i < m; i++)
			make(&batch[i], &s, first_day, days, done + i, customer, sizeof(customer));
		rc = cx_store_begin(st, err) || cx_store_job_begin(st, 1, err);
		for (unsigned i = 0; i < m && !rc; i++)
			rc = cx_store_append(st, &batch[i], NULL, &id, &replayed, err);
		if (!rc) {
			cx_store_job_end(st, 1);
			rc = cx_store_commit(st, err);
		} else {
			cx_store_rollback(st);
		}
		for (unsigned i = 0; i < m; i++)
			cx_response_release(&batch[i]);
		done += m;
	}
	free(batch);
	return rc ? -1 : 0;
}
