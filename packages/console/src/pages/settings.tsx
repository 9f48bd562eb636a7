/** Placeholder until this page is built. */
import { PageHeader } from '../components/states';

export function SettingsPage() {
  return <PageHeader title="Settings" />;
}
