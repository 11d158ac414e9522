// k6's `check` and `sleep`, as far as a script may need them.
export function check(value, checks) {
  return Object.values(checks).every((test) => test(value));
}

export function sleep(seconds) {
  return new Promise((resolve) => setTimeout(resolve, seconds * 1000));
}

export default { check, sleep };
