/** Placeholder until this page is built. */
import { PageHeader } from '../components/states';

export function AuditPage() {
  return <PageHeader title="Audit log" />;
}
