// Swagger UI over /openapi.json, from the stand itself (the swagger-ui-bundle package): no CDN.
// validatorUrl null: Swagger UI would otherwise ask validator.swagger.io for a badge.
// Swagger UI's own texts stay English; the stand's header and the line above it are ours.
"use strict";
window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui", validatorUrl: null,
                             deepLinking: true});
Stand.header("/docs");
