// Risk analysts' pages: targeting rules (filled in by the next step).
"use strict";
