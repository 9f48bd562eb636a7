/** Placeholder until this page is built. */
import { PageHeader } from '../components/states';

export function DashboardPage() {
  return <PageHeader title="Dashboard" />;
}
