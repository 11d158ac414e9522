// k6/websockets follows the browser's WebSocket API; Node's own WebSocket (undici, behind
// --experimental-websocket on Node 20) is that API.
export const WebSocket = globalThis.WebSocket;
