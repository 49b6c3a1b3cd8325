/* funnel.c - the response funnel's rates and intervals; see include/cx/funnel.h. */
#include <string.h>

#include "cx/funnel.h"
#include "cx/score.h"

int cx_funnel_rate(int64_t k, int64_t n, struct cx_rate *out)
{
	memset(out, 0, sizeof(*out));
	out->k = k;
	out->n = n;
	if (n <= 0 || k < 0 || k > n)
		return -1;
	out->value = (double)k / (double)n;
	cx_score_wilson(k, n, CX_Z95, &out->lo, &out->hi);
	return 0;
}

json_t *cx_funnel_rate_json(int64_t k, int64_t n)
{
	struct cx_rate r;

	if (cx_funnel_rate(k, n, &r))
		return json_pack("{s:n, s:n, s:n, s:I}", "value", "low", "high", "n",
				 (json_int_t)(n > 0 ? n : 0));
	return json_pack("{s:f, s:f, s:f, s:I}", "value", r.value, "low", r.lo, "high", r.hi,
			 "n", (json_int_t)n);
}

json_t *cx_funnel_row_json(const struct cx_funnel_row *r, unsigned dims)
{
	static const char *const names[] = { "stage", "touchpoint", "channel" };
	const char *labels[] = { r->stage, r->touchpoint, r->channel };
	json_t *o = json_object();

	for (unsigned i = 0; i < 3; i++)
		if (dims & (1u << i))
			json_object_set_new(o, names[i], labels[i] ? json_string(labels[i])
								   : json_null());
	json_object_set_new(o, "minted", json_integer(r->minted));
	json_object_set_new(o, "opened", json_integer(r->opened));
	json_object_set_new(o, "answered", json_integer(r->answered));
	json_object_set_new(o, "commented", json_integer(r->commented));
	json_object_set_new(o, "open_rate", cx_funnel_rate_json(r->opened, r->minted));
	json_object_set_new(o, "response_rate", cx_funnel_rate_json(r->answered, r->minted));
	json_object_set_new(o, "comment_rate", cx_funnel_rate_json(r->commented, r->answered));
	return o;
}
