// A guide (README, docs/, docs/guide/): the text is the guide's own language (<html lang>);
// the header around it speaks the one the trainee chose.
"use strict";
Stand.header(location.pathname);
