/* ui.c — serves the embedded demo page. The page only calls the public API
 * (/models, /classify, /segment) from the browser, so it needs nothing of
 * the server's insides. Every file goes out with a Content-Security-Policy
 * that allows scripts and styles from this origin only (no inline script,
 * no eval), images from blob: (the mask), fetches to this origin, and no
 * framing. */
#include "server/ui.h"

#include <stdlib.h>
#include <string.h>

#include "server/router.h"

extern const char srv_ui_index_html[], srv_ui_index_html_end[];
extern const char srv_ui_app_js[], srv_ui_app_js_end[];
extern const char srv_ui_app_css[], srv_ui_app_css_end[];

static const char CSP[] = "default-src 'none'; script-src 'self'; style-src 'self'; "
                          "img-src 'self' blob: data:; connect-src 'self'; base-uri 'none'; "
                          "form-action 'none'; frame-ancestors 'none'";

void srv_ui_get(srv_req *r)
{
    srv_error e;
    if (r->srv->cfg->no_ui) {
        srv_fail(&e, SRV_E_NOT_FOUND, "no such path: %.100s (the demo page is off: --no-ui)",
                 r->url);
        srv_respond_error(r, &e);
        return;
    }
    const char *start = srv_ui_index_html, *end = srv_ui_index_html_end;
    const char *ctype = "text/html; charset=utf-8";
    if (strcmp(r->route->path, "/ui/app.js") == 0) {
        start = srv_ui_app_js, end = srv_ui_app_js_end;
        ctype = "text/javascript; charset=utf-8";
    } else if (strcmp(r->route->path, "/ui/app.css") == 0) {
        start = srv_ui_app_css, end = srv_ui_app_css_end;
        ctype = "text/css; charset=utf-8";
    }
    size_t len = (size_t)(end - start);
    char *body = malloc(len ? len : 1);
    if (!body) {
        srv_fail(&e, SRV_E_INTERNAL, "out of memory for the demo page");
        srv_respond_error(r, &e);
        return;
    }
    memcpy(body, start, len);
    const char *hdr[] = {"Content-Security-Policy", CSP, "X-Content-Type-Options", "nosniff",
                         "Referrer-Policy", "no-referrer", "Cache-Control", "no-cache", NULL};
    srv_respond(r, 200, ctype, body, len, hdr);
}
