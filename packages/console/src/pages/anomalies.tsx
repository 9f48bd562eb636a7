/**
 * Anomalies: what the detector found (bursts, credential stuffing, error spikes, shared keys,
 * rate-limit storms), with the evidence behind each, the block it made and its alert's
 * deliveries. Admins resolve them (lifting the detector's block) and run detection now.
 */
import { Route, Switch } from 'wouter';
import { AnomalyDetail } from './anomalies-detail';
import { AnomalyList } from './anomalies-list';
import './anomalies.css';

export function AnomaliesPage() {
  return (
    <Switch>
      <Route path="/" component={AnomalyList} />
      <Route path="/:id">{(params) => <AnomalyDetail id={params.id} />}</Route>
    </Switch>
  );
}
