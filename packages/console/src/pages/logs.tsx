/** Placeholder until this page is built. */
import { PageHeader } from '../components/states';

export function LogsPage() {
  return <PageHeader title="Logs" />;
}
