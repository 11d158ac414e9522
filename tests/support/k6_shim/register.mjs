// Loaded with `node --import`: resolves k6's built-in modules to this folder's stand-ins.
import { register } from 'node:module';

register('./hooks.mjs', import.meta.url);
