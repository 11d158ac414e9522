// Swagger UI over /openapi.json, from the stand itself (the swagger-ui-bundle package): no CDN.
// validatorUrl null: Swagger UI would otherwise ask validator.swagger.io for a badge.
"use strict";
window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui", validatorUrl: null,
                             deepLinking: true});
