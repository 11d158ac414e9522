// k6/timers: Node's own.
const { setTimeout, clearTimeout, setInterval, clearInterval } = globalThis;
export { clearInterval, clearTimeout, setInterval, setTimeout };
