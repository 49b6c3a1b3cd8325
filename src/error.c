/* error.c - see include/cx/error.h */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cx/error.h"

int cx_error_set(struct cx_error *err, int status, const char *code, const char *field,
		 const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return -1;
	memset(err, 0, sizeof(*err));
	err->status = status;
	err->code = code;
	if (field)
		snprintf(err->field, sizeof(err->field), "%s", field);
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return -1;
}

json_t *cx_error_json(const struct cx_error *err)
{
	json_t *e = json_pack("{s:s, s:s}", "code", err->code ? err->code : "internal",
			      "message", err->message);

	if (!e)
		return NULL;
	if (err->field[0])
		json_object_set_new(e, "field", json_string(err->field));
	else
		json_object_set_new(e, "field", json_null());
	return json_pack("{s:o}", "error", e);
}
