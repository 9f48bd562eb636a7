/**
 * Links across pages. Each page is a nested route, so a plain "/keys/x" inside it means
 * "/<this page>/keys/x"; `~` leaves the nesting but also the console's base path, so an
 * absolute console address is `~/admin/ui/...`. `consoleHref('/keys/x')` writes that once.
 */
export const CONSOLE_BASE = '/admin/ui';

export function consoleHref(path: string): string {
  return `~${CONSOLE_BASE}${path.startsWith('/') ? path : `/${path}`}`;
}
