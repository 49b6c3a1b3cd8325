/* api_invitations.c - minting invitations, link keys, fatigue settings. STUB: H1 writes it. */
#include "cx/app.h"
#include "cx/routes.h"

static enum cx_handled todo(struct cx_req *req)
{
	struct cx_error err;

	cx_error_set(&err, 501, "not_implemented", NULL, "not implemented yet");
	cx_reply_error(req, &err);
	return CX_DONE;
}

enum cx_handled cx_api_invitations_create(struct cx_req *req)
{
	return todo(req);
}

enum cx_handled cx_api_link_keys_list(struct cx_req *req)
{
	return todo(req);
}

enum cx_handled cx_api_link_keys_rotate(struct cx_req *req)
{
	return todo(req);
}

enum cx_handled cx_api_link_keys_delete(struct cx_req *req)
{
	return todo(req);
}

enum cx_handled cx_api_fatigue_get(struct cx_req *req)
{
	return todo(req);
}

enum cx_handled cx_api_fatigue_put(struct cx_req *req)
{
	return todo(req);
}
