import type { Principal } from './types.js';

export const anonymous: Principal = Object.freeze({
  kind: 'anonymous',
  scopes: Object.freeze([]) as readonly string[],
});
