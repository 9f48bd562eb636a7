/** Placeholder until this page is built. */
import { PageHeader } from '../components/states';

export function BindingsPage() {
  return <PageHeader title="Bindings" />;
}
