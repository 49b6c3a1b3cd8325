/* api_page.c - the hosted survey page (personal links /i/TOKEN, public pages /s/SURVEY). STUB: H2 writes it. */
#include "cx/app.h"
#include "cx/routes.h"

static enum cx_handled todo(struct cx_req *req)
{
	struct cx_error err;

	cx_error_set(&err, 501, "not_implemented", NULL, "not implemented yet");
	cx_reply_error(req, &err);
	return CX_DONE;
}

enum cx_handled cx_api_page_link_get(struct cx_req *req)
{
	return todo(req);
}

enum cx_handled cx_api_page_link_post(struct cx_req *req)
{
	return todo(req);
}

enum cx_handled cx_api_page_survey_get(struct cx_req *req)
{
	return todo(req);
}

enum cx_handled cx_api_page_survey_post(struct cx_req *req)
{
	return todo(req);
}
