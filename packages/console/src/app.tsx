/**
 * The console: sign-in gate, then the page for the address. Each page owns its sub-paths
 * (`/keys` and `/keys/:id` live in pages/keys.tsx) through nested routes.
 */
import { Route, Router, Switch } from 'wouter';
import { Layout } from './components/layout';
import { NotifyProvider } from './components/notify';
import { EmptyState, Loading } from './components/states';
import { CONSOLE_BASE } from './lib/links';
import { SessionProvider, useSession } from './lib/session';
import { AnomaliesPage } from './pages/anomalies';
import { AuditPage } from './pages/audit';
import { BindingsPage } from './pages/bindings';
import { BlocksPage } from './pages/blocks';
import { ClientsPage } from './pages/clients';
import { DashboardPage } from './pages/dashboard';
import { KeysPage } from './pages/keys';
import { LoginPage } from './pages/login';
import { LogsPage } from './pages/logs';
import { PoliciesPage } from './pages/policies';
import { RoutesPage } from './pages/routes';
import { SettingsPage } from './pages/settings';

function Pages() {
  const { status } = useSession();
  if (status === 'checking') return <Loading what="Checking your session" />;
  if (status !== 'signed-in') return <LoginPage />;
  return (
    <Layout>
      <Switch>
        <Route path="/" component={DashboardPage} />
        <Route path="/keys" nest component={KeysPage} />
        <Route path="/clients" nest component={ClientsPage} />
        <Route path="/routes" nest component={RoutesPage} />
        <Route path="/policies" nest component={PoliciesPage} />
        <Route path="/bindings" nest component={BindingsPage} />
        <Route path="/blocks" nest component={BlocksPage} />
        <Route path="/logs" nest component={LogsPage} />
        <Route path="/anomalies" nest component={AnomaliesPage} />
        <Route path="/audit" nest component={AuditPage} />
        <Route path="/settings" nest component={SettingsPage} />
        <Route>
          <EmptyState title="No such page">Pick a page from the menu.</EmptyState>
        </Route>
      </Switch>
    </Layout>
  );
}

export function App() {
  return (
    <Router base={CONSOLE_BASE}>
      <SessionProvider>
        <NotifyProvider>
          <Pages />
        </NotifyProvider>
      </SessionProvider>
    </Router>
  );
}
