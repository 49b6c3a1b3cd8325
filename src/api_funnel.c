/* api_funnel.c - the response funnel. STUB: H4 writes it. */
#include "cx/app.h"
#include "cx/routes.h"

static enum cx_handled todo(struct cx_req *req)
{
	struct cx_error err;

	cx_error_set(&err, 501, "not_implemented", NULL, "not implemented yet");
	cx_reply_error(req, &err);
	return CX_DONE;
}

enum cx_handled cx_api_funnel(struct cx_req *req)
{
	return todo(req);
}
