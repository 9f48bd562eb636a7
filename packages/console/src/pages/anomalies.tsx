/** Placeholder until this page is built. */
import { PageHeader } from '../components/states';

export function AnomaliesPage() {
  return <PageHeader title="Anomalies" />;
}
