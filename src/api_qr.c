/* api_qr.c - QR codes of survey pages, the embeddable widget script. STUB: H3 writes it. */
#include "cx/app.h"
#include "cx/routes.h"

static enum cx_handled todo(struct cx_req *req)
{
	struct cx_error err;

	cx_error_set(&err, 501, "not_implemented", NULL, "not implemented yet");
	cx_reply_error(req, &err);
	return CX_DONE;
}

enum cx_handled cx_api_qr(struct cx_req *req)
{
	return todo(req);
}

enum cx_handled cx_api_widget(struct cx_req *req)
{
	return todo(req);
}
