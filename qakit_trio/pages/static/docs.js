// Swagger UI over /openapi.json, from the stand itself (the swagger-ui-bundle package): no CDN.
// validatorUrl null: Swagger UI would otherwise ask validator.swagger.io for a badge.
// Swagger UI's own texts stay English; the stand's header and the line above it are ours.
"use strict";
// QAKIT_AUTH=on: "Try it out" sends the token the portal signed in with (Stand.token()).
window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui", validatorUrl: null,
                             deepLinking: true, requestInterceptor: (request) => {
                               const token = Stand.token();
                               if (token && !request.headers.Authorization) {
                                 request.headers.Authorization = `Bearer ${token}`;
                               }
                               return request;
                             }});
Stand.header("/docs");
