/** /metrics on the admin listener of a real gateway: scraped and parsed after real traffic. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { type ExampleUpstream, startExampleUpstream } from '../../examples/upstream/server.js';
import { type GatewayProcess, startGateway } from '../helpers/gateway.js';
import { settle } from '../helpers/identity.js';
import { eventually } from '../helpers/wait.js';

/** name{labels} value → value, from the Prometheus text format. */
function parse(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

describe('/metrics', () => {
  let upstream: ExampleUpstream;
  let gw: GatewayProcess;
  before(async () => {
    upstream = await startExampleUpstream();
    gw = await startGateway({
      document: {
        routes: [
          {
            id: 'pub',
            path: '/pub/*',
            methods: { GET: 'public' },
            upstream: { url: upstream.url, strip_prefix: '/pub' },
          },
          { id: 'keyed', path: '/k/*', methods: { GET: 'api_key' }, upstream: { url: upstream.url } },
        ],
      },
      env: { PORTCULLIS_RECORDER_FLUSH_MS: '100' },
    });
  });
  after(async () => {
    await gw?.stop();
    await upstream?.close();
  });

  it('counts requests by route, decision and status class; reports records and dependencies', async () => {
    for (let i = 0; i < 3; i++) await (await request(`${gw.proxyUrl}/pub/hello`)).body.text();
    await (await request(`${gw.proxyUrl}/k/x`)).body.text();
    await (await request(`${gw.proxyUrl}/nowhere?secret=1`)).body.text();
    // The records reach the database in the writer's own time (paced, possibly in several
    // transactions): scrape until all five are counted rather than after a fixed sleep.
    const { text, m } = await eventually(async () => {
      const res = await request(`${gw.adminUrl}/metrics`);
      assert.equal(res.statusCode, 200);
      assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
      const text = await res.body.text();
      const m = parse(text);
      assert.equal(m.get('portcullis_records_written_total'), 5);
      return { text, m };
    });
    assert.equal(
      m.get(
        'portcullis_requests_total{route="pub",method="GET",status_class="2xx",decision="allowed",door="gateway"}',
      ),
      3,
    );
    assert.equal(
      m.get(
        'portcullis_requests_total{route="keyed",method="GET",status_class="4xx",decision="denied",door="gateway"}',
      ),
      1,
    );
    assert.equal(
      m.get(
        'portcullis_requests_total{route="none",method="GET",status_class="4xx",decision="denied",door="gateway"}',
      ),
      1,
    );
    assert.equal(m.get('portcullis_auth_failures_total{reason="missing_credentials"}'), 1);
    assert.equal(m.get('portcullis_dependency_up{name="store:sqlite"}'), 1);
    assert.equal(m.get('portcullis_request_duration_seconds_count{route="pub",door="gateway"}'), 3);
    assert.doesNotMatch(text, /nowhere|secret/, 'no raw path or query in any label');
  });

  it('shows the configuration version served, in /metrics and beside the latest in /readyz', async () => {
    const config = async () => {
      const res = await request(`${gw.adminUrl}/readyz`);
      return ((await res.body.json()) as { config: { serving: number; latest: number | null } }).config;
    };
    const before = await config();
    assert.ok(
      Number.isSafeInteger(before.serving) && before.serving === before.latest,
      JSON.stringify(before),
    );
    const added = await gw.cli(['clients', 'add', '--id', 'config-version', '--name', 'x']);
    assert.equal(added.code, 0, added.stderr);
    await settle(gw);
    const after = await config();
    assert.ok(after.latest !== null && after.latest > (before.latest ?? 0), JSON.stringify(after));
    assert.equal(after.serving, after.latest);
    const m = parse(await (await request(`${gw.adminUrl}/metrics`)).body.text());
    assert.equal(m.get('portcullis_config_version'), after.serving);
  });
});
