/**
 * Settings: the runtime settings that change live on every instance, the JWT providers that
 * routes requiring `jwt` trust, and who has access to the console and the admin API.
 */
import { PageHeader } from '../components/states';
import { AdminUsers, ServiceTokens } from './settings-access';
import { JwtProviders } from './settings-jwt';
import { LiveSettings } from './settings-live';
import './settings.css';

export function SettingsPage() {
  return (
    <div className="settings-page">
      <PageHeader
        title="Settings"
        subtitle={
          <>
            Live runtime settings, JWT providers and admin access. Everything else is configuration read at
            start-up (<code>portcullis config show</code>).
          </>
        }
      />
      <nav aria-label="Settings sections" className="settings-toc">
        <a href="#live-settings">Live settings</a>
        <a href="#jwt-providers">JWT providers</a>
        <a href="#admin-access">Admin access</a>
      </nav>
      <section aria-labelledby="live-settings" className="settings-section">
        <h2 id="live-settings" tabIndex={-1}>
          Live settings
        </h2>
        <LiveSettings />
      </section>
      <section aria-labelledby="jwt-providers" className="settings-section">
        <h2 id="jwt-providers" tabIndex={-1}>
          JWT providers
        </h2>
        <JwtProviders />
      </section>
      <section aria-labelledby="admin-access" className="settings-section">
        <h2 id="admin-access" tabIndex={-1}>
          Admin access
        </h2>
        <AdminUsers />
        <ServiceTokens />
      </section>
    </div>
  );
}
