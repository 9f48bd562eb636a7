/**
 * Who is signed in. The session itself is an HttpOnly cookie the page cannot read; what the
 * page keeps (in memory only) is the user's name and role and the CSRF token for writes.
 */
import { createContext, type ReactNode, useCallback, useContext, useEffect, useMemo, useState } from 'react';
import { api, errorMessage, isPortcullisError, onSessionExpired, setCsrfToken } from './api';

export interface SessionUser {
  name: string;
  role: string;
}

export type SessionStatus = 'checking' | 'signed-in' | 'signed-out' | 'unreachable';

interface SessionValue {
  status: SessionStatus;
  user: SessionUser | null;
  /** Admins change things; viewers see everything and change nothing. */
  canWrite: boolean;
  /** Why the user is looking at the login form (session expired, logged out). */
  notice: string | null;
  login(username: string, password: string): Promise<void>;
  logout(): Promise<void>;
  recheck(): void;
}

const SessionContext = createContext<SessionValue | null>(null);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [status, setStatus] = useState<SessionStatus>('checking');
  const [user, setUser] = useState<SessionUser | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [attempt, setAttempt] = useState(0);

  // biome-ignore lint/correctness/useExhaustiveDependencies: attempt re-runs the check.
  useEffect(() => {
    let cancelled = false;
    api.get('/admin/api/auth/me').then(
      (me) => {
        if (cancelled) return;
        setCsrfToken(me.csrfToken);
        setUser({ name: me.name.replace(/^user:/, ''), role: me.role });
        setStatus('signed-in');
      },
      (error: unknown) => {
        if (cancelled) return;
        setCsrfToken(null);
        setUser(null);
        setStatus(isPortcullisError(error) && error.status === 401 ? 'signed-out' : 'unreachable');
        if (!(isPortcullisError(error) && error.status === 401)) setNotice(errorMessage(error));
      },
    );
    return () => {
      cancelled = true;
    };
  }, [attempt]);

  useEffect(
    () =>
      onSessionExpired(() => {
        setCsrfToken(null);
        setUser(null);
        setStatus('signed-out');
        setNotice('Your session has ended. Sign in again to continue where you were.');
      }),
    [],
  );

  const login = useCallback(async (username: string, password: string) => {
    const session = await api.post('/admin/api/auth/login', { body: { username, password } });
    setCsrfToken(session.csrfToken);
    setUser({ name: session.user.username, role: session.user.role });
    setNotice(null);
    setStatus('signed-in');
  }, []);

  const logout = useCallback(async () => {
    try {
      await api.post('/admin/api/auth/logout');
    } catch (error) {
      // Already ended (401): signed out all the same. Anything else: the session may still be
      // valid on the server, so say so instead of pretending.
      if (!(isPortcullisError(error) && error.status === 401)) {
        window.alert(
          `Sign-out did not reach the gateway, so your session is still valid: ${errorMessage(error)}`,
        );
        return;
      }
    }
    setCsrfToken(null);
    setUser(null);
    setStatus('signed-out');
    setNotice('You are signed out.');
  }, []);

  const value = useMemo<SessionValue>(
    () => ({
      status,
      user,
      canWrite: user?.role === 'admin',
      notice,
      login,
      logout,
      recheck: () => setAttempt((n) => n + 1),
    }),
    [status, user, notice, login, logout],
  );
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): SessionValue {
  const value = useContext(SessionContext);
  if (!value) throw new Error('useSession outside SessionProvider');
  return value;
}
