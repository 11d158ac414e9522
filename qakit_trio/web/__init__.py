"""quart-trio routes: REST, the OpenAPI document, and the WebSocket endpoints."""
