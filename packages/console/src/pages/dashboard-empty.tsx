/** What a fresh installation shows above its empty charts: how to send a first request. */
import { Link } from 'wouter';
import type { Period } from './dashboard-period';

export function FirstRequestHint({ period }: { period: Period }) {
  return (
    <section className="dash-first" aria-labelledby="dash-first-title">
      <h2 id="dash-first-title">No requests in the last {period}</h2>
      <p className="muted">To see traffic here, send a first request through the gateway:</p>
      <ol>
        <li>
          Have a route to your upstream on the <Link href="/routes">Routes</Link> page (or start the gateway
          once with <code>--upstream-url http://your-service</code>).
        </li>
        <li>
          Add a client on <Link href="/clients">Clients &amp; grants</Link>, then create a key for it on{' '}
          <Link href="/keys">Keys</Link> and copy it: it is shown only once.
        </li>
        <li>
          Call the proxy listener (port 8080 unless configured otherwise) with the key:
          <pre className="code">curl -H "Authorization: Bearer $KEY" http://127.0.0.1:8080/your/path</pre>
        </li>
      </ol>
      <p className="muted">The request shows up here within 10 seconds, allowed or denied.</p>
    </section>
  );
}
