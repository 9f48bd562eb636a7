/** Placeholder until this page is built. */
import { PageHeader } from '../components/states';

export function RoutesPage() {
  return <PageHeader title="Routes" />;
}
