/* api_dashboard.c - GET / and /dashboard: the dashboard page (web/dashboard.html, compiled
 * into the binary). It reads only the public API. */
#include "cx/routes.h"

extern const char cx_dashboard_html[];

enum cx_handled cx_api_dashboard(struct cx_req *req)
{
	cx_reply_html(req, 200, cx_dashboard_html);
	return CX_DONE;
}
