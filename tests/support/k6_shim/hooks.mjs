// Node's module hooks: `import ... from 'k6/<name>'` gets this folder's stand-in for it.
const MODULES = {
  k6: 'k6.mjs',
  'k6/execution': 'execution.mjs',
  'k6/metrics': 'metrics.mjs',
  'k6/timers': 'timers.mjs',
  'k6/websockets': 'websockets.mjs',
};

export async function resolve(specifier, context, next) {
  if (Object.hasOwn(MODULES, specifier)) {
    return { url: new URL(MODULES[specifier], import.meta.url).href, shortCircuit: true };
  }
  return next(specifier, context);
}
