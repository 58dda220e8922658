/* ui_assets.S — the demo page's files (server/ui/), embedded in the binary
 * byte for byte with .incbin: no generator step, no second copy to keep in
 * sync, and the page works in a container with nothing beside the binary.
 * Each file gets a start and an end symbol (ui.c). */
    .section .rodata
    .balign 16
    .globl srv_ui_index_html, srv_ui_index_html_end
srv_ui_index_html:
    .incbin "server/ui/index.html"
srv_ui_index_html_end:
    .balign 16
    .globl srv_ui_app_js, srv_ui_app_js_end
srv_ui_app_js:
    .incbin "server/ui/app.js"
srv_ui_app_js_end:
    .balign 16
    .globl srv_ui_app_css, srv_ui_app_css_end
srv_ui_app_css:
    .incbin "server/ui/app.css"
srv_ui_app_css_end:
    .section .note.GNU-stack,"",%progbits
