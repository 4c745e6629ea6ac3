// HQ analysts' dashboards (filled in by a later step).
"use strict";
