/**
 * Login sessions as admin API credentials: a `pclses_…` token, held by scripts as a bearer
 * token or by the console as an HttpOnly, SameSite=Strict cookie. Stored only as a keyed hash;
 * a session lasts `admin_session_ttl` and dies with logout, a password change, or the user
 * being disabled or removed.
 */
import { credentialHash } from '../../core/crypto.js';
import { ADMIN_SESSION_COOKIE } from '../../gateway/headers.js';
import { isWellFormedSessionToken } from '../auth/sessions.js';
import type { AdminApiDeps, Principal } from './context.js';

/** Also cut from requests the proxy forwards (gateway/headers.ts). */
export const SESSION_COOKIE = ADMIN_SESSION_COOKIE;
/** last_seen_at is bookkeeping: written at most once a minute per session. */
const TOUCH_EVERY_MS = 60_000;

export async function resolveSession(
  deps: AdminApiDeps,
  token: string,
): Promise<Omit<Principal, 'via'> | undefined> {
  if (!isWellFormedSessionToken(token)) return undefined;
  const hash = credentialHash(deps.keys, token);
  const session = await deps.store.adminSessions.findByTokenHash(hash);
  const now = deps.clock.now();
  if (!session || session.expiresAt <= now) return undefined;
  const user = await deps.store.adminUsers.get(session.userId);
  if (!user || user.disabled) return undefined;
  if (now - session.lastSeenAt >= TOUCH_EVERY_MS)
    deps.store.adminSessions.touch(session.id, now).catch(() => undefined);
  return { kind: 'user', id: user.id, name: `user:${user.username}`, role: user.role, sessionHash: hash };
}
