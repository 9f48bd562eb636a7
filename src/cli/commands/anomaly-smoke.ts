/**
 * `portcullis anomaly smoke` — the detector at work in a minute, against the running gateway
 * (PRODUCT.md §10): it sets up a throwaway route (to a tiny upstream this command serves on
 * loopback), a client and a real API key, sends a quiet baseline and then a burst through the
 * proxy with that key, asks the gateway to judge the interval now (`POST /anomalies/run`), and
 * shows what was found, what the rules did (alert, block) and the alert's delivery. A request
 * after the run shows the block taking effect when the burst rule blocks. The route, the key
 * and the client are removed at the end; the anomaly stays on record.
 *
 * Without --url it talks to the admin listener of the local configuration with a service token
 * it creates for ten minutes and revokes at the end.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Command } from 'commander';
import type { AdminClient } from '../admin-client.js';
import { remoteAdminClient, remoteTarget } from '../admin-client.js';
import { configFromCommand, withAdmin } from '../context.js';
import { CliError } from '../errors.js';
import { printJson } from '../output.js';
import type { AnomalyDetail, RunView } from './anomalies.js';

interface Flags {
  proxyUrl?: string;
  requests: string;
  baseline: string;
  json?: boolean;
}

const loopbackHost = (host: string) =>
  host === '0.0.0.0' || host === '::' || host === '' ? '127.0.0.1' : host;

export function registerAnomalySmoke(program: Command): void {
  const anomaly = program.command('anomaly').description('anomaly detection tools');
  anomaly
    .command('smoke')
    .description(
      'send a baseline and a burst through the running gateway with a real key and show the detection',
    )
    .option('--proxy-url <url>', 'the gateway proxy (default: the configured proxy listener)')
    .option('--requests <n>', 'requests in the burst', '600')
    .option('--baseline <n>', 'quiet requests before the burst', '20')
    .option('--json', 'print JSON')
    .action(async (flags: Flags, command: Command) => {
      const burst = wholeNumber('--requests', flags.requests, 1, 100_000);
      const quiet = wholeNumber('--baseline', flags.baseline, 0, 1_000);
      const settings = configFromCommand(command).settings;
      const proxyUrl = (
        flags.proxyUrl ?? `http://${loopbackHost(settings.proxyListen.host)}:${settings.proxyListen.port}`
      ).replace(/\/+$/, '');
      const remote = remoteTarget(command);
      if (remote) return smoke(remoteAdminClient(remote), proxyUrl, burst, quiet, flags.json === true);
      // Local: a short-lived admin token for the running gateway's admin listener.
      const adminUrl = `http://${loopbackHost(settings.adminListen.host)}:${settings.adminListen.port}`;
      const token = await withAdmin(command, (api) =>
        api.post<{ id: string; token: string }>('/tokens', {
          role: 'admin',
          name: 'anomaly smoke',
          expires: '10m',
        }),
      );
      const api = remoteAdminClient({ url: adminUrl, token: token.token });
      try {
        await smoke(api, proxyUrl, burst, quiet, flags.json === true);
      } finally {
        await api.post(`/tokens/${encodeURIComponent(token.id)}/revoke`, {}).catch(() => undefined);
      }
    });
}

function wholeNumber(flag: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < min || n > max)
    throw new CliError('invalid_input', `${flag} must be a whole number from ${min} to ${max}`, 2);
  return n;
}

async function smoke(api: AdminClient, proxyUrl: string, burst: number, quiet: number, json: boolean) {
  const say = (line: string) => {
    if (!json) process.stdout.write(`${line}\n`);
  };
  const tag = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
  const id = `anomaly-smoke-${tag}`;
  const upstream = await startUpstream();
  // undici is loaded by this command only, not by every CLI start.
  const { Agent, request } = await import('undici');
  const agent = new Agent({ connections: 32 });
  const created: { route?: boolean; client?: boolean; key?: string; anomalies?: string[] } = {};
  try {
    await api.post('/routes', {
      id,
      path: `/__anomaly-smoke/${tag}/*`,
      methods: { GET: ['api_key'] },
      upstream: { url: upstream.url },
      description: 'temporary route of `portcullis anomaly smoke`',
    });
    created.route = true;
    await api.post('/clients', { id, name: id });
    created.client = true;
    await api.post('/grants', { client: id, route: id, methods: ['*'] });
    const issued = await api.post<{ id: string; key: string }>('/keys', {
      client: id,
      name: 'anomaly smoke',
    });
    created.key = issued.id;
    say(`smoke key ${issued.id} (client ${id}) on a temporary route to ${upstream.url}`);

    const url = `${proxyUrl}/__anomaly-smoke/${tag}/ping`;
    const send = async () => {
      const res = await request(url, {
        headers: { authorization: `Bearer ${issued.key}` },
        dispatcher: agent,
      });
      await res.body.dump();
      return res.statusCode;
    };
    // The gateway picks the new route and key up within a second or two.
    const deadline = Date.now() + 15_000;
    let status = 0;
    while (Date.now() < deadline) {
      status = await send().catch(() => 0);
      if (status === 200) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    if (status !== 200)
      throw new CliError(
        'unreachable',
        `the gateway at ${proxyUrl} did not serve the smoke route (last status ${status || 'no answer'}); is it running with this configuration?`,
      );

    for (let i = 0; i < quiet; i++) {
      await send();
      await new Promise((r) => setTimeout(r, 50));
    }
    say(`baseline: ${quiet} requests`);
    const aboutSmoke = (a: { identityKind: string; identity: string }) =>
      (a.identityKind === 'key' && a.identity === issued.id) ||
      (a.identityKind === 'client' && a.identity === id);
    const burstAndRun = async () => {
      const startedAt = Date.now();
      const started = performance.now();
      const statuses = new Map<number, number>();
      let next = 0;
      await Promise.all(
        Array.from({ length: Math.min(32, burst) }, async () => {
          while (next < burst) {
            next++;
            const s = await send().catch(() => 0);
            statuses.set(s, (statuses.get(s) ?? 0) + 1);
          }
        }),
      );
      say(
        `burst: ${burst} requests in ${Math.round(performance.now() - started)} ms (${[...statuses]
          .map(([s, n]) => `${n}× ${s || 'no answer'}`)
          .join(', ')})`,
      );
      return { startedAt, statuses, run: await api.post<RunView>('/anomalies/run', {}) };
    };
    const first = await burstAndRun();
    let { statuses, run } = first;
    const runs = [run];
    // Run-now judges the interval in progress. When that began after the burst did, the burst
    // was split across two intervals and neither part may stand out: burst once more, inside
    // the new interval (far longer than a burst), rather than report a miss.
    if (Date.parse(run.bucketStart) > first.startedAt && !run.findings.some(aboutSmoke)) {
      say('the detector interval turned during the burst: bursting again inside the new interval');
      ({ statuses, run } = await burstAndRun());
      runs.push(run);
    }
    const mine = runs.flatMap((r) => r.anomalies).filter(aboutSmoke);
    // The smoke's own address bursts too: those anomalies are the smoke's doing, resolved with it.
    created.anomalies = runs
      .flatMap((r) => r.anomalies)
      .filter((a) => mine.includes(a) || a.identityKind === 'ip')
      .map((a) => a.id);
    const findings = run.findings.filter(aboutSmoke);
    say(
      `detector: ${run.findings.length} finding(s) in the interval so far, ${findings.length} about the smoke key and client`,
    );
    if (findings.length > 0 && mine.length === 0)
      say('  (already reported within the cooldown: see `portcullis anomalies list`)');

    // Give the block a moment to reach the proxy (config change), and the alert to be delivered.
    await new Promise((r) => setTimeout(r, 1_500));
    const after = await send().catch(() => 0);
    const details = await Promise.all(mine.map((a) => api.get<AnomalyDetail>(`/anomalies/${a.id}`)));
    for (const [i, a] of mine.entries()) {
      say(`  ${a.id}  ${a.signal}  ${a.identityKind} ${a.identity}  → ${a.action}`);
      say(`    ${a.explanation}`);
      const deliveries = details[i]?.deliveries ?? [];
      if (a.alertId)
        say(
          `    alert ${a.alertId}: ${
            deliveries.length > 0
              ? deliveries.map((d) => `${d.status} after ${d.attempts} attempt(s)`).join(', ')
              : 'sent (no delivery yet, or no alert_webhook_url configured: written to the gateway log)'
          }`,
        );
      if (a.blockId) say(`    block ${a.blockId} until ${a.blockExpiresAt ?? 'lifted'}`);
    }
    say(`a request with the smoke key now answers ${after}${after === 403 ? ' (blocked)' : ''}`);
    if (!mine.some((a) => a.action === 'blocked'))
      say(
        'the burst rule does not block (default: alert); start the gateway with PORTCULLIS_ANOMALY_RULES=burst=block:10m to see a block',
      );
    if (json)
      printJson({
        key: issued.id,
        client: id,
        burst,
        statuses: Object.fromEntries(statuses),
        findings,
        anomalies: mine,
        details,
        statusAfter: after,
      });
    if (findings.length === 0)
      throw new CliError(
        'not_found',
        'the burst was not detected (is anomaly detection on? see `portcullis config show`)',
      );
  } finally {
    // Best effort: leave nothing behind but the anomaly records (resolved, their blocks lifted).
    for (const anomalyId of created.anomalies ?? [])
      await api
        .post(`/anomalies/${encodeURIComponent(anomalyId)}/resolve`, { note: 'anomaly smoke: cleaned up' })
        .catch(() => undefined);
    if ((created.anomalies ?? []).length > 0)
      say(
        'smoke anomalies resolved and their blocks lifted; they stay on record (portcullis anomalies list --status resolved)',
      );
    if (created.key)
      await api
        .post(`/keys/${encodeURIComponent(created.key)}/revoke`, { reason: 'anomaly smoke done' })
        .catch(() => undefined);
    if (created.client) await api.delete(`/clients/${encodeURIComponent(id)}`).catch(() => undefined);
    if (created.route) await api.delete(`/routes/${encodeURIComponent(id)}`).catch(() => undefined);
    await agent.close();
    await upstream.close();
  }
}

async function startUpstream(): Promise<{ url: string; close: () => Promise<void> }> {
  const server: Server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('ok\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
