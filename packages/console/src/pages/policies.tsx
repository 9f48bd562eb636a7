/** Placeholder until this page is built. */
import { PageHeader } from '../components/states';

export function PoliciesPage() {
  return <PageHeader title="Policies" />;
}
