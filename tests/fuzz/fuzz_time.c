/* libFuzzer target: the time and date parsers that read query strings and bodies. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cx/cxtime.h"
#include "cx/trend.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = strndup((const char *)data, size);
	int64_t t, d;
	char buf[32];

	if (!s)
		return 0;
	if (cx_time_parse_rfc3339(s, &t) == 0) {
		/* what parses prints back to a time that parses to the same instant */
		cx_time_format_rfc3339(t, buf, sizeof(buf));
		if (cx_time_parse_rfc3339(buf, &d) || d != t)
			abort();
	}
	if (cx_time_parse_day(s, &d) == 0) {
		cx_time_format_day(d, buf, sizeof(buf));
		if (cx_time_parse_day(buf, &t) || t != d)
			abort();
		if (cx_trend_start(CX_BUCKET_WEEK, d) > d || cx_trend_start(CX_BUCKET_MONTH, d) > d)
			abort();
	}
	free(s);
	return 0;
}
