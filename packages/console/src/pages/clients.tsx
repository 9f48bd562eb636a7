/** Placeholder until this page is built. */
import { PageHeader } from '../components/states';

export function ClientsPage() {
  return <PageHeader title="Clients & grants" />;
}
