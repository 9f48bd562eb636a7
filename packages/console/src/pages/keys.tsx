/** Placeholder until this page is built. */
import { PageHeader } from '../components/states';

export function KeysPage() {
  return <PageHeader title="Keys" />;
}
