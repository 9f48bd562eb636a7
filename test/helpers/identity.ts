/** CLI shortcuts for identity set-up in integration tests (through the real `portcullis` CLI). */
import assert from 'node:assert/strict';
import { request } from 'undici';
import type { GatewayProcess } from './gateway.js';

export async function cliJson<T = Record<string, unknown>>(gw: GatewayProcess, args: string[]): Promise<T> {
  const result = await gw.cli([...args, '--json']);
  assert.equal(
    result.code,
    0,
    `portcullis ${args.join(' ')} failed (${result.code}): ${result.stderr}${result.stdout}`,
  );
  return JSON.parse(result.stdout) as T;
}

/** `secret` with its last character changed: the same length and alphabet, never the same value. */
export function tampered(secret: string): string {
  return `${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`;
}

export async function addClient(gw: GatewayProcess, id: string, name = id): Promise<void> {
  await cliJson(gw, ['clients', 'add', '--id', id, '--name', name]);
}

export async function createKey(
  gw: GatewayProcess,
  client: string,
  extra: string[] = [],
): Promise<{ id: string; key: string }> {
  return cliJson<{ id: string; key: string }>(gw, ['keys', 'create', '--client', client, ...extra]);
}

export async function grant(gw: GatewayProcess, client: string, route: string, methods = '*'): Promise<void> {
  await cliJson(gw, ['grants', 'add', '--client', client, '--route', route, '--methods', methods]);
}

/**
 * Wait until each running gateway serves the latest configuration in its store: /readyz says
 * so (`config.serving === config.latest`). Not a fixed sleep: a loaded machine may take longer
 * than a few config polls to reload, and an idle one needs less.
 */
export async function settle(...gateways: GatewayProcess[]): Promise<void> {
  for (const gw of gateways) {
    const deadline = Date.now() + 15_000;
    let last = '';
    for (;;) {
      const res = await request(`${gw.adminUrl}/readyz`);
      const body = (await res.body.json()) as { config?: { serving: number; latest: number | null } };
      last = JSON.stringify(body.config);
      if (body.config && body.config.latest !== null && body.config.serving >= body.config.latest) break;
      if (Date.now() > deadline)
        throw new Error(`gateway ${gw.adminUrl} did not take the latest configuration: ${last}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}
