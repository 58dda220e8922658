/* ui.h — the demo page at GET / and /ui (server/ui/: one HTML file, one
 * script, one stylesheet, embedded in the binary); off with --no-ui. */
#ifndef SRV_UI_H
#define SRV_UI_H

#include "server/http.h"

/* GET / , /ui, /ui/app.js, /ui/app.css (404 with --no-ui). */
void srv_ui_get(srv_req *r);

#endif
