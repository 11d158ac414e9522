// k6/execution: the running virtual user (run.mjs keeps one per async context).
export default {
  get vu() {
    return globalThis.k6Shim.vu();
  },
};
