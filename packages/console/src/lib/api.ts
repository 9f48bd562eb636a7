/**
 * The console's admin API client: the SDK's typed API (checked against the OpenAPI document)
 * over `fetch` with the session cookie. Writes carry the session's CSRF token, which lives
 * only in memory: nothing secret is ever put in browser storage.
 */
import {
  type components,
  createTransport,
  isPortcullisError,
  type paths,
  TypedApi,
} from '@portcullis/sdk/browser';

export type Schemas = components['schemas'];

let csrfToken: string | null = null;
const expiredListeners = new Set<() => void>();

export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

/** Called when any call answers 401: the session ended (expired, revoked, logged out elsewhere). */
export function onSessionExpired(listener: () => void): () => void {
  expiredListeners.add(listener);
  return () => expiredListeners.delete(listener);
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

const sessionFetch: typeof fetch = async (input, init = {}) => {
  const headers = new Headers(init.headers);
  const method = (init.method ?? 'GET').toUpperCase();
  if (csrfToken && !SAFE_METHODS.has(method)) headers.set('x-csrf-token', csrfToken);
  const response = await fetch(input, { ...init, headers, credentials: 'same-origin' });
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
  if (response.status === 401 && !url.includes('/admin/api/auth/')) {
    for (const listener of expiredListeners) listener();
  }
  return response;
};

export const transport = createTransport({
  baseUrl: window.location.origin,
  fetch: sessionFetch,
  // One quiet retry for reads; the console shows errors rather than waiting long.
  retries: 1,
  timeoutMs: 15_000,
  breaker: false,
});

export const api = new TypedApi<paths>(transport);

/** A sentence for people: the problem's detail, or what went wrong on the way. */
export function errorMessage(error: unknown): string {
  if (isPortcullisError(error)) {
    if (error.code === 'network_error' || error.code === 'timeout')
      return 'The admin API is not answering. Check that the gateway is running, then retry.';
    if (error.code === 'forbidden' || error.status === 403)
      return error.detail ?? 'Your role does not allow this.';
    return error.detail ?? error.problem?.title ?? error.message;
  }
  return error instanceof Error ? error.message : String(error);
}

/** True when the error means the API could not be reached at all (not a refusal). */
export function isUnreachable(error: unknown): boolean {
  return isPortcullisError(error) && (error.code === 'network_error' || error.code === 'timeout');
}

export { isPortcullisError };
