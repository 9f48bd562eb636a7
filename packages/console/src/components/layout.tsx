/** The frame around every page: skip link, navigation, who is signed in, theme, sign out. */
import { type ReactNode, useEffect, useState } from 'react';
import { Link, useLocation } from 'wouter';
import { useSession } from '../lib/session';

export const NAV: readonly { href: string; label: string }[] = [
  { href: '/', label: 'Dashboard' },
  { href: '/keys', label: 'Keys' },
  { href: '/clients', label: 'Clients & grants' },
  { href: '/routes', label: 'Routes' },
  { href: '/policies', label: 'Policies' },
  { href: '/bindings', label: 'Bindings' },
  { href: '/blocks', label: 'Blocklist' },
  { href: '/logs', label: 'Logs' },
  { href: '/anomalies', label: 'Anomalies' },
  { href: '/audit', label: 'Audit log' },
  { href: '/settings', label: 'Settings' },
];

type Theme = 'auto' | 'light' | 'dark';
const THEME_KEY = 'portcullis.theme';

function useTheme(): [Theme, (theme: Theme) => void] {
  const [theme, setTheme] = useState<Theme>(
    () => (localStorage.getItem(THEME_KEY) as Theme | null) ?? 'auto',
  );
  useEffect(() => {
    const root = document.documentElement;
    if (theme === 'auto') root.removeAttribute('data-theme');
    else root.setAttribute('data-theme', theme);
    // A display preference, not a secret: the only thing the console keeps in storage.
    localStorage.setItem(THEME_KEY, theme);
  }, [theme]);
  return [theme, setTheme];
}

function isActive(location: string, href: string): boolean {
  return href === '/' ? location === '/' : location === href || location.startsWith(`${href}/`);
}

export function Layout({ children }: { children: ReactNode }) {
  const { user, canWrite, logout } = useSession();
  const [location] = useLocation();
  const [theme, setTheme] = useTheme();
  const [menuOpen, setMenuOpen] = useState(false);
  // biome-ignore lint/correctness/useExhaustiveDependencies: close the menu on navigation.
  useEffect(() => setMenuOpen(false), [location]);

  return (
    <div className="shell">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <aside className={menuOpen ? 'sidebar open' : 'sidebar'}>
        <div className="brand">
          <span aria-hidden="true">▦</span> Portcullis
          <button
            type="button"
            className="menu-toggle secondary outline"
            aria-expanded={menuOpen}
            aria-controls="main-nav"
            onClick={() => setMenuOpen((open) => !open)}
          >
            Menu
          </button>
        </div>
        <nav id="main-nav" aria-label="Console">
          <ul>
            {NAV.map((item) => (
              <li key={item.href}>
                <Link href={item.href} aria-current={isActive(location, item.href) ? 'page' : undefined}>
                  {item.label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <div className="who">
          <p>
            Signed in as <strong>{user?.name}</strong>
            <br />
            <span className={canWrite ? 'badge ok' : 'badge warn'}>
              {canWrite ? 'admin' : 'viewer: read only'}
            </span>
          </p>
          <label>
            Theme
            <select value={theme} onChange={(event) => setTheme(event.target.value as Theme)}>
              <option value="auto">System</option>
              <option value="light">Light</option>
              <option value="dark">Dark</option>
            </select>
          </label>
          <button type="button" className="secondary outline" onClick={() => void logout()}>
            Sign out
          </button>
        </div>
      </aside>
      <main id="main" tabIndex={-1}>
        {children}
      </main>
    </div>
  );
}

/** Renders its children only for users who may change things (admins). */
export function IfCanWrite({ children }: { children: ReactNode }) {
  const { canWrite } = useSession();
  return canWrite ? children : null;
}
