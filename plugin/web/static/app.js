// The web tab's own script: only what htmx does not do. No inline script
// anywhere (the Content-Security-Policy forbids it), so behaviour hangs on
// data- attributes.
"use strict";
