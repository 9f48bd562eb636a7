/**
 * The deployment files (deploy/): no container engine or cluster runs here, so they are checked
 * with what can run — the Compose specification's JSON schema (shipped by the `dclint`
 * package), the Kubernetes API schemas (the `kubernetes-models` package: the OpenAPI of
 * Kubernetes 1.33 compiled to validators; types and required fields are checked, unknown
 * fields are not, as in the API's own schema), a real `nginx -t`, the declarative parser,
 * and cross-file consistency (names, ports, labels, timeouts, settings that exist).
 */
import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { describe, test } from 'node:test';
import { Ajv } from 'ajv';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Secret, Service } from 'kubernetes-models/v1';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { parseDocumentText } from '../../src/declarative/document.js';
import { ROOT } from '../helpers/gateway.js';
import { findNginx } from '../helpers/nginx.js';
import { inCI } from '../helpers/services.js';

const DEPLOY = join(ROOT, 'deploy');
const K8S = join(DEPLOY, 'kubernetes');
const read = (...parts: string[]) => readFileSync(join(...parts), 'utf8');

type Obj = Record<string, unknown>;
const obj = (value: unknown, what: string): Obj => {
  assert.ok(value && typeof value === 'object' && !Array.isArray(value), `${what} must be a mapping`);
  return value as Obj;
};
const list = (value: unknown, what: string): unknown[] => {
  assert.ok(Array.isArray(value), `${what} must be a list`);
  return value;
};

function walkFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = join(dir, name);
    return statSync(full).isDirectory() ? walkFiles(full) : [full];
  });
}

// --- docs/configuration.md: the settings that exist -----------------------------------------

const configurationDoc = read(ROOT, 'docs', 'configuration.md');
const documentedSettings = new Set(
  [...configurationDoc.matchAll(/^\| `(PORTCULLIS_[A-Z0-9_]+)` \|/gm)].map((m) => m[1] as string),
);
const secretSettings = new Set(
  configurationDoc
    .split('\n')
    .filter((line) => line.includes('(secret: masked)'))
    .map((line) => /^\| `(PORTCULLIS_[A-Z0-9_]+)`/.exec(line)?.[1])
    .filter((name): name is string => name !== undefined),
);

// --- docker-compose.yml ------------------------------------------------------------------

const composeText = read(DEPLOY, 'docker-compose.yml');
// Compose resolves YAML merge keys (<<) before validating; so does this parse.
const compose = obj(parseYaml(composeText, { merge: true }), 'docker-compose.yml');
const services = obj(compose['services'], 'services');
const service = (name: string) => obj(services[name], `service ${name}`);
const gatewayNames = Object.keys(services).filter((name) => /^gateway-\d+$/.test(name));

function environmentOf(svc: Obj): Record<string, string> {
  const env = svc['environment'];
  if (env === undefined) return {};
  if (Array.isArray(env)) {
    return Object.fromEntries(
      env.map((entry) => {
        const text = String(entry);
        const at = text.indexOf('=');
        return at < 0 ? [text, ''] : [text.slice(0, at), text.slice(at + 1)];
      }),
    );
  }
  return Object.fromEntries(Object.entries(obj(env, 'environment')).map(([k, v]) => [k, String(v)]));
}

function ipv4Of(svc: Obj): string | undefined {
  const networks = svc['networks'];
  if (!networks || Array.isArray(networks)) return undefined;
  for (const net of Object.values(obj(networks, 'networks'))) {
    const address = net && typeof net === 'object' ? (net as Obj)['ipv4_address'] : undefined;
    if (typeof address === 'string') return address;
  }
  return undefined;
}

describe('docker-compose.yml', () => {
  test('is valid against the Compose specification schema', () => {
    const require = createRequire(import.meta.url);
    const schemaPath = join(
      dirname(require.resolve('dclint/package.json')),
      'schemas',
      'compose.schema.json',
    );
    const schema = JSON.parse(readFileSync(schemaPath, 'utf8')) as Obj;
    // It is draft-07 but spelled "https://json-schema.org/draft-07/schema", an id Ajv does not
    // know; Ajv's default meta-schema is draft-07.
    delete schema['$schema'];
    assert.equal(schema['title'], 'Compose Specification', `${schemaPath} is not the Compose schema`);
    // strict off: the schema uses annotation keywords (deprecated) that Ajv's draft-07 mode does
    // not know; formats are annotations in the Compose schema (Compose checks them itself).
    const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
    const validate = ajv.compile(schema);
    const ok = validate(compose);
    const errors = (validate.errors ?? []).map(
      (e) => `${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`,
    );
    assert.ok(ok, `schema errors:\n${errors.join('\n')}`);
  });

  test('three gateways, nginx, PostgreSQL, Redis, the example upstream and a one-shot init', () => {
    assert.deepEqual(gatewayNames, ['gateway-1', 'gateway-2', 'gateway-3']);
    for (const name of ['nginx', 'postgres', 'redis', 'upstream', 'init']) assert.ok(services[name], name);
  });

  test('every service has an image or a build, and a health check (except the one-shot init)', () => {
    for (const [name, raw] of Object.entries(services)) {
      const svc = obj(raw, name);
      assert.ok(svc['image'] || svc['build'], `${name}: image or build`);
      const health = svc['healthcheck'] as Obj | undefined;
      if (name === 'init') {
        assert.equal(health?.['disable'], true, 'init is a job: no health check');
        continue;
      }
      assert.ok(health && Array.isArray(health['test']), `${name}: healthcheck.test`);
    }
  });

  test('Portcullis services are built from deploy/Dockerfile with the repository as context', () => {
    for (const name of [...gatewayNames, 'upstream', 'init']) {
      const build = obj(service(name)['build'], `${name}.build`);
      const context = join(DEPLOY, String(build['context']));
      assert.equal(relative(ROOT, context), '', `${name}: the build context is the repository root`);
      assert.ok(existsSync(join(context, String(build['dockerfile']))), `${name}: dockerfile exists`);
      assert.ok(existsSync(join(context, '.dockerignore')), 'a .dockerignore next to the context');
    }
  });

  test('start order: depends_on names existing services with the right conditions', () => {
    for (const [name, raw] of Object.entries(services)) {
      const deps = obj(raw, name)['depends_on'];
      if (deps === undefined) continue;
      for (const dep of Object.keys(obj(deps, `${name}.depends_on`)))
        assert.ok(services[dep], `${name} depends on unknown service ${dep}`);
    }
    const conditions = (name: string) =>
      Object.fromEntries(
        Object.entries(obj(service(name)['depends_on'], `${name}.depends_on`)).map(([dep, v]) => [
          dep,
          obj(v, `${name}.depends_on.${dep}`)['condition'],
        ]),
      );
    for (const name of gatewayNames) {
      assert.deepEqual(conditions(name), {
        init: 'service_completed_successfully',
        postgres: 'service_healthy',
        redis: 'service_healthy',
      });
      // Ready, not merely alive: nginx waits until the stores answer.
      assert.match(JSON.stringify(service(name)['healthcheck']), /\/readyz/);
    }
    assert.deepEqual(
      conditions('nginx'),
      Object.fromEntries(gatewayNames.map((g) => [g, 'service_healthy'])),
      'nginx waits for every gateway',
    );
    assert.equal(conditions('init')['postgres'], 'service_healthy');
  });

  test('gateways share one database, one Redis and one secret key, and trust exactly nginx', () => {
    const envs = gatewayNames.map((name) => environmentOf(service(name)));
    const first = envs[0] as Record<string, string>;
    for (const env of envs) {
      for (const key of ['PORTCULLIS_DATABASE_URL', 'PORTCULLIS_REDIS_URL', 'PORTCULLIS_SECRET_KEY'])
        assert.equal(env[key], first[key], `${key} is the same for every gateway`);
    }
    assert.match(first['PORTCULLIS_DATABASE_URL'] ?? '', /^postgres:\/\/[^@]+@postgres:5432\//);
    assert.match(first['PORTCULLIS_REDIS_URL'] ?? '', /^redis:\/\/redis:6379/);
    // From deploy/.env through interpolation, never written in the file.
    assert.match(first['PORTCULLIS_SECRET_KEY'] ?? '', /^\$\{PORTCULLIS_SECRET_KEY:\?/);
    assert.equal(environmentOf(service('init'))['PORTCULLIS_SECRET_KEY'], first['PORTCULLIS_SECRET_KEY']);
    const nginxIp = ipv4Of(service('nginx'));
    assert.ok(nginxIp, 'nginx has a fixed address');
    for (const env of envs) {
      assert.equal(env['PORTCULLIS_TRUSTED_PROXIES'], `${nginxIp}/32`);
      assert.equal(env['PORTCULLIS_ADMIN_LISTEN'], '0.0.0.0:8081', 'health checks reach the admin listener');
    }
    const example = read(DEPLOY, '.env.example');
    for (const name of ['PORTCULLIS_SECRET_KEY', 'PORTCULLIS_ADMIN_PASSWORD', 'POSTGRES_PASSWORD'])
      assert.match(example, new RegExp(`^${name}=REPLACE_ME$`, 'm'), `.env.example names ${name}`);
  });

  test('only nginx is published on all interfaces; admin listeners at most on loopback', () => {
    for (const [name, raw] of Object.entries(services)) {
      for (const port of (obj(raw, name)['ports'] as unknown[] | undefined) ?? []) {
        const text = String(port);
        if (name === 'nginx') continue;
        assert.match(text, /^127\.0\.0\.1:/, `${name} publishes ${text} beyond loopback`);
      }
    }
  });

  test('mounted files exist; the routes file parses and points at the upstream service', () => {
    for (const name of ['nginx', 'init']) {
      for (const volume of list(service(name)['volumes'], `${name}.volumes`)) {
        const source = String(volume).split(':')[0] as string;
        assert.ok(existsSync(join(DEPLOY, source)), `${name} mounts ${source}, which must exist`);
      }
    }
    const command = list(service('init')['command'], 'init.command').map(String);
    assert.deepEqual(command.slice(0, 2), ['apply', '-f']);
    const routesFile = read(DEPLOY, 'compose', 'portcullis.yaml');
    const document = parseDocumentText(routesFile, 'deploy/compose/portcullis.yaml');
    const policyIds = new Set((document.policies ?? []).map((p) => p.id));
    const upstreamCommand = list(service('upstream')['command'], 'upstream.command').map(String);
    const port = upstreamCommand[upstreamCommand.indexOf('--port') + 1];
    assert.ok(document.routes.length > 0);
    for (const route of document.routes) {
      assert.equal(new URL(route.upstream.url).host, `upstream:${port}`, `route ${route.id}`);
      for (const policy of route.policies ?? []) assert.ok(policyIds.has(policy), `policy ${policy}`);
    }
  });

  test('the nginx upstream block lists exactly the gateways, on their proxy port', () => {
    const conf = read(DEPLOY, 'nginx', 'nginx.conf');
    const block = /upstream portcullis_gateways \{([\s\S]*?)\}/.exec(conf)?.[1] ?? '';
    const servers = [...block.matchAll(/^\s*server\s+([^\s;]+)/gm)].map((m) => m[1]);
    assert.deepEqual(
      servers,
      gatewayNames.map((g) => `${g}:8080`),
    );
    assert.match(conf, /proxy_set_header X-Forwarded-For\s+\$remote_addr;/, 'nginx replaces X-Forwarded-For');
  });
});

// --- Kubernetes ----------------------------------------------------------------------------

interface Manifest {
  file: string;
  doc: Obj;
}
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
};

const manifests: Manifest[] = readdirSync(K8S)
  .filter((name) => name.endsWith('.yaml') && name !== 'kustomization.yaml')
  .sort()
  .flatMap((file) =>
    parseAllDocuments(read(K8S, file)).map((document) => {
      assert.equal(document.errors.length, 0, `${file}: ${document.errors.join('; ')}`);
      return { file, doc: obj(document.toJS(), file) };
    }),
  );
const byKind = (kind: string) => manifests.filter((m) => m.doc['kind'] === kind).map((m) => m.doc);
const one = (kind: string) => {
  const found = byKind(kind);
  assert.equal(found.length, 1, `one ${kind}`);
  return found[0] as Obj;
};
// biome-ignore lint/suspicious/noExplicitAny: manifests are checked by schema first; tests read them freely
const at = (doc: Obj, path: string): any =>
  path.split('.').reduce<unknown>((value, key) => (value as Obj | undefined)?.[key], doc);

describe('Kubernetes manifests', () => {
  test('every document validates against the Kubernetes API schema of its kind', () => {
    assert.ok(manifests.length >= 7);
    for (const { file, doc } of manifests) {
      const type = `${doc['apiVersion']}/${doc['kind']}`;
      const Model = MODELS[type];
      assert.ok(Model, `${file}: no schema for ${type}`);
      try {
        new Model(doc as never).validate();
      } catch (error) {
        assert.fail(`${file} (${type}): ${(error as Error).message}`);
      }
    }
  });

  test('kustomization.yaml lists every manifest file but the placeholder Secret', () => {
    const kustomization = obj(parseYaml(read(K8S, 'kustomization.yaml')), 'kustomization');
    // `kubectl apply -k` must never overwrite a real Secret with placeholders.
    const files = readdirSync(K8S).filter(
      (n) => n.endsWith('.yaml') && n !== 'kustomization.yaml' && n !== 'secret.yaml',
    );
    assert.deepEqual([...list(kustomization['resources'], 'resources')].map(String).sort(), files.sort());
  });

  test('Deployment: 3 replicas, probes on the admin port, non-root, read-only root', () => {
    const deployment = one('Deployment');
    assert.equal(at(deployment, 'spec.replicas'), 3);
    const pod = at(deployment, 'spec.template.spec') as Obj;
    const container = list(pod['containers'], 'containers')[0] as Obj;
    const ports = Object.fromEntries(
      list(container['ports'], 'ports').map((p) => [(p as Obj)['name'], (p as Obj)['containerPort']]),
    );
    assert.deepEqual(ports, { proxy: 8080, admin: 8081 });
    assert.equal(at(container, 'readinessProbe.httpGet.path'), '/readyz');
    assert.equal(at(container, 'readinessProbe.httpGet.port'), 'admin');
    assert.equal(at(container, 'livenessProbe.httpGet.path'), '/healthz');
    assert.equal(at(container, 'livenessProbe.httpGet.port'), 'admin');
    assert.equal(at(pod, 'securityContext.runAsNonRoot'), true);
    assert.equal(at(container, 'securityContext.readOnlyRootFilesystem'), true);
    assert.equal(at(container, 'securityContext.allowPrivilegeEscalation'), false);
    assert.ok(at(container, 'resources.requests.cpu') && at(container, 'resources.limits.memory'));
    // The image's USER (Dockerfile) is the uid the pod runs as.
    const user = /^USER\s+(\d+)/m.exec(read(DEPLOY, 'Dockerfile'))?.[1];
    assert.equal(String(at(pod, 'securityContext.runAsUser')), user);
    // envFrom names the ConfigMap and the Secret of these manifests.
    const refs = list(container['envFrom'], 'envFrom') as Obj[];
    assert.equal(
      at(refs.find((r) => r['configMapRef']) as Obj, 'configMapRef.name'),
      at(one('ConfigMap'), 'metadata.name'),
    );
    assert.equal(
      at(refs.find((r) => r['secretRef']) as Obj, 'secretRef.name'),
      at(one('Secret'), 'metadata.name'),
    );
  });

  test('termination grace covers preStop plus the configured drain', () => {
    const deployment = one('Deployment');
    const pod = at(deployment, 'spec.template.spec') as Obj;
    const container = list(pod['containers'], 'containers')[0] as Obj;
    const preStop = list(at(container, 'lifecycle.preStop.exec.command'), 'preStop').map(String);
    assert.equal(preStop[0], 'sleep');
    const sleepS = Number(preStop[1]);
    const drainMs = Number(at(one('ConfigMap'), 'data.PORTCULLIS_SHUTDOWN_TIMEOUT_MS'));
    assert.ok(drainMs > 0, 'the ConfigMap sets PORTCULLIS_SHUTDOWN_TIMEOUT_MS');
    const grace = Number(pod['terminationGracePeriodSeconds']);
    // A few seconds beyond the drain for the last record flush and closing the stores.
    assert.ok(grace >= sleepS + drainMs / 1000 + 5, `grace ${grace}s < ${sleepS}s + ${drainMs / 1000}s + 5s`);
  });

  test('Services, HPA and PDB select the Deployment', () => {
    const deployment = one('Deployment');
    const labels = at(deployment, 'spec.template.metadata.labels') as Obj;
    const matches = (selector: Obj) => Object.entries(selector).every(([k, v]) => labels[k] === v);
    const containerPorts = new Set(
      list(at(deployment, 'spec.template.spec.containers')[0].ports, 'ports').map((p) => (p as Obj)['name']),
    );
    for (const svc of byKind('Service')) {
      assert.ok(matches(at(svc, 'spec.selector')), `Service ${at(svc, 'metadata.name')} selects the pods`);
      for (const port of list(at(svc, 'spec.ports'), 'ports'))
        assert.ok(
          containerPorts.has((port as Obj)['targetPort']),
          `targetPort ${(port as Obj)['targetPort']}`,
        );
    }
    const proxyService = byKind('Service').find((s) => at(s, 'metadata.name') === 'portcullis') as Obj;
    assert.deepEqual(
      list(at(proxyService, 'spec.ports'), 'ports').map((p) => (p as Obj)['targetPort']),
      ['proxy'],
      'the main Service exposes only the proxy listener',
    );
    const hpa = one('HorizontalPodAutoscaler');
    assert.equal(at(hpa, 'spec.scaleTargetRef.kind'), 'Deployment');
    assert.equal(at(hpa, 'spec.scaleTargetRef.name'), at(deployment, 'metadata.name'));
    assert.ok(at(hpa, 'spec.minReplicas') >= 3);
    assert.ok(matches(at(one('PodDisruptionBudget'), 'spec.selector.matchLabels')));
  });

  test('the Secret holds placeholders only; the ConfigMap holds no secret setting', () => {
    const secret = one('Secret');
    assert.equal(secret['data'], undefined, 'no base64 data: stringData placeholders only');
    const values = Object.entries(obj(secret['stringData'], 'stringData'));
    assert.ok(values.length > 0);
    for (const [key, value] of values)
      assert.match(String(value), /REPLACE_ME/, `${key} must be a placeholder`);
    assert.ok(values.some(([key]) => key === 'PORTCULLIS_SECRET_KEY'));
    assert.ok(secretSettings.size >= 4, 'docs/configuration.md marks secret settings');
    for (const key of Object.keys(obj(one('ConfigMap')['data'], 'data')))
      assert.ok(!secretSettings.has(key), `${key} is a secret: it belongs in the Secret`);
  });
});

// --- every PORTCULLIS_* name in deploy/ is a real setting ------------------------------------

test('every PORTCULLIS_* variable named in a deploy file is a setting in docs/configuration.md', () => {
  assert.ok(documentedSettings.size > 40, 'the settings table of docs/configuration.md was found');
  const files = [...walkFiles(DEPLOY), join(ROOT, '.dockerignore')];
  const unknown: string[] = [];
  for (const file of files) {
    for (const match of readFileSync(file, 'utf8').matchAll(/\bPORTCULLIS_[A-Z0-9_]*[A-Z0-9]\b/g)) {
      if (!documentedSettings.has(match[0])) unknown.push(`${relative(ROOT, file)}: ${match[0]}`);
    }
  }
  assert.deepEqual(unknown, []);
});

// --- Dockerfile -------------------------------------------------------------------------------

interface Instruction {
  op: string;
  args: string;
  stage: number;
}
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let stage = -1;
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (pending === '' && /^\s*(#|$)/.test(line)) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    const full = `${pending}${line}`.trim();
    pending = '';
    const [op = '', ...rest] = full.split(/\s+/);
    const upper = op.toUpperCase();
    if (upper === 'FROM') stage++;
    out.push({ op: upper, args: rest.join(' '), stage });
  }
  return out;
}

/** Whether .dockerignore excludes `path` (the patterns this repository uses: *, ** and names). */
function dockerIgnored(patterns: string[], path: string): boolean {
  let ignored = false;
  for (const pattern of patterns) {
    const negate = pattern.startsWith('!');
    const body = (negate ? pattern.slice(1) : pattern).replace(/^\/+|\/+$/g, '');
    const source = body
      .split('/')
      .map((part) =>
        part === '**' ? '(?:.*)' : part.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*'),
      )
      .join('/')
      .replace(/\(\?:\.\*\)\//g, '(?:.*/)?');
    // A pattern also excludes everything below what it names.
    if (new RegExp(`^${source}(?:/.*)?$`).test(path)) ignored = !negate;
  }
  return ignored;
}

describe('Dockerfile and build context', () => {
  const dockerfile = read(DEPLOY, 'Dockerfile');
  const instructions = parseDockerfile(dockerfile);
  const froms = instructions.filter((i) => i.op === 'FROM');
  const last = froms.length - 1;
  const final = instructions.filter((i) => i.stage === last);
  const args = Object.fromEntries(
    instructions
      .filter((i) => i.op === 'ARG' && i.args.includes('='))
      .map((i) => i.args.split('=') as [string, string]),
  );
  const image = (from: Instruction) =>
    (from.args.split(/\s+/)[0] ?? '').replace(/\$\{(\w+)\}/g, (_, name: string) => args[name] ?? '');

  test('multi-stage: a full Node 20 build stage, a slim Node 20 runtime', () => {
    assert.ok(froms.length >= 2, 'at least two FROM');
    for (const from of froms) assert.match(image(from), /^node:20-/, from.args);
    assert.match(image(froms[last] as Instruction), /slim/, 'the runtime is a slim image');
    const stages = froms.map((f) => /\bAS\s+(\S+)/i.exec(f.args)?.[1]);
    for (const copy of instructions.filter((i) => i.op === 'COPY' && i.args.includes('--from='))) {
      const from = /--from=(\S+)/.exec(copy.args)?.[1];
      assert.ok(stages.includes(from), `COPY --from=${from} names a stage`);
    }
    const runs = (stage: number) =>
      instructions
        .filter((i) => i.op === 'RUN' && i.stage === stage)
        .map((i) => i.args)
        .join('\n');
    assert.match(runs(0), /npm ci\b(?!.*--omit=dev)/, 'the build stage installs dev dependencies');
    assert.match(runs(0), /npm run build/);
    assert.ok(
      instructions.some((i) => i.op === 'RUN' && /npm ci\b.*--omit=dev/.test(i.args)),
      'production dependencies only for the runtime',
    );
    assert.ok(!/npm (ci|install)/.test(runs(last)), 'the runtime stage installs nothing itself');
  });

  test('runtime: non-root USER, HEALTHCHECK on /healthz, ports, stop signal, data volume', () => {
    const op = (name: string) => final.filter((i) => i.op === name).map((i) => i.args);
    const user = op('USER').at(-1) ?? '';
    assert.ok(user !== '' && !/^(root|0)(:|$)/.test(user), `USER ${user} is not root`);
    assert.match(op('HEALTHCHECK').join(' '), /\bCMD\b.*\/healthz/);
    assert.deepEqual(op('EXPOSE').join(' ').split(/\s+/).sort(), ['8080', '8081']);
    assert.deepEqual(op('STOPSIGNAL'), ['SIGTERM']);
    assert.match(op('VOLUME').join(' '), /\/data/);
    const env = op('ENV').join(' ');
    assert.match(env, /PORTCULLIS_ADMIN_LISTEN=0\.0\.0\.0:8081/);
    assert.match(env, /PORTCULLIS_DATA_DIR=\/data/);
  });

  test('every file the runtime copies from the build exists after a local build', () => {
    // The build stage works in /src; `npm run build` made the same files here before the tests.
    for (const copy of final.filter((i) => i.op === 'COPY' && i.args.includes('--from=build'))) {
      const sources = copy.args
        .split(/\s+/)
        .filter((a) => !a.startsWith('--'))
        .slice(0, -1);
      for (const source of sources) {
        assert.match(source, /^\/src\//);
        const local = join(ROOT, source.slice('/src/'.length));
        assert.ok(existsSync(local), `${source} (${relative(ROOT, local)}) must exist after npm run build`);
      }
    }
    assert.ok(existsSync(join(ROOT, 'packages', 'console', 'dist', 'index.html')), 'the console is built');
  });

  test('.dockerignore keeps secrets and build output out, and what the build needs in', () => {
    const patterns = read(ROOT, '.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    for (const path of [
      '.env',
      'deploy/.env',
      'node_modules',
      'packages/console/node_modules',
      'dist',
      'packages/sdk/dist',
      '.git',
      'data/portcullis.db',
    ])
      assert.ok(dockerIgnored(patterns, path), `${path} must be excluded`);
    for (const path of [
      'package.json',
      'package-lock.json',
      'tsconfig.json',
      'src/app.ts',
      'examples/upstream/server.ts',
      'bin/portcullis.js',
      'packages/sdk/package.json',
      'packages/sdk/src/index.ts',
      'packages/console/index.html',
      'packages/console/src/main.tsx',
      'packages/console/vite.config.ts',
      'deploy/healthcheck.mjs',
    ])
      assert.ok(!dockerIgnored(patterns, path), `${path} must be in the build context`);
  });

  test('the runtime needs no dev dependency (static imports from the CLI entry point)', () => {
    const pkg = JSON.parse(read(ROOT, 'package.json')) as {
      dependencies: Record<string, string>;
      devDependencies: Record<string, string>;
    };
    const seen = new Set<string>();
    const bare = new Map<string, string>();
    const queue = [join(ROOT, 'dist', 'src', 'cli', 'main.js')];
    // Statements as tsc emits them: `import … from '…'`, `export … from '…'` (possibly over
    // several lines), `import '…'`, and `import('…')` with a literal.
    const specifiers =
      /^\s*(?:import|export)\s[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]|^\s*import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/gm;
    while (queue.length > 0) {
      const file = queue.pop() as string;
      if (seen.has(file)) continue;
      seen.add(file);
      for (const match of readFileSync(file, 'utf8').matchAll(specifiers)) {
        const spec = (match[1] ?? match[2] ?? match[3]) as string;
        if (spec.startsWith('node:')) continue;
        if (spec.startsWith('.')) {
          queue.push(join(dirname(file), spec));
          continue;
        }
        const name = spec.startsWith('@')
          ? spec.split('/').slice(0, 2).join('/')
          : (spec.split('/')[0] as string);
        if (!bare.has(name)) bare.set(name, relative(ROOT, file).split(sep).join('/'));
      }
    }
    assert.ok(seen.size > 100, `followed ${seen.size} modules`);
    const missing = [...bare]
      .filter(([name]) => !name.startsWith('@portcullis/') && !(name in pkg.dependencies))
      .map(
        ([name, from]) =>
          `${name} (imported by ${from}${name in pkg.devDependencies ? '; a devDependency' : ''})`,
      );
    assert.deepEqual(
      missing,
      [],
      'move these to "dependencies": `npm ci --omit=dev` leaves them out of the image',
    );
  });
});

// --- deploy/healthcheck.mjs ---------------------------------------------------------------------

test('healthcheck.mjs: 0 on 200, 1 otherwise, for every PORTCULLIS_ADMIN_LISTEN form', async () => {
  const server = createServer((req, res) => {
    res.writeHead(req.url === '/healthz' ? 200 : 503).end('{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  // Asynchronous: the event loop must stay free to answer the child.
  const run = (listen: string, path?: string) =>
    new Promise<number>((resolve) => {
      const child = spawn(process.execPath, [join(DEPLOY, 'healthcheck.mjs'), ...(path ? [path] : [])], {
        env: { ...process.env, PORTCULLIS_ADMIN_LISTEN: listen },
        stdio: 'ignore',
      });
      child.on('exit', (code) => resolve(code ?? -1));
    });
  try {
    assert.equal(await run(`127.0.0.1:${port}`), 0);
    assert.equal(await run(`0.0.0.0:${port}`), 0, 'a wildcard host is checked on loopback');
    assert.equal(await run(String(port)), 0, 'a bare port');
    assert.equal(await run(`127.0.0.1:${port}`, '/readyz'), 1, '503 is unhealthy');
  } finally {
    server.close();
  }
  const closed = await run('127.0.0.1:1');
  assert.equal(closed, 1, 'nothing listening is unhealthy');
});

// --- nginx -t ------------------------------------------------------------------------------

/** A loopback port nothing listens on right now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

test('nginx -t accepts deploy/nginx/nginx.conf with the compose host names resolvable', async (t) => {
  const nginx = findNginx();
  if (!nginx) {
    const message = 'nginx not found; apt-get install nginx to enable (or set PORTCULLIS_TEST_NGINX)';
    if (inCI) assert.fail(message);
    t.skip(message);
    return;
  }
  const conf = join(DEPLOY, 'nginx', 'nginx.conf');
  const dir = mkdtempSync(join(tmpdir(), 'pcl-nginx-t-'));
  try {
    // nginx resolves upstream host names and binds its listen sockets even for -t. As root
    // (CI), the unchanged file is tested in private mount and network namespaces: /etc/hosts
    // there names the compose services, and port 80 is free whatever runs on the machine.
    // Otherwise a copy is tested with the names replaced by 127.0.0.1 and `listen 80` by a
    // free loopback port (same syntax, same directives).
    const names = gatewayNames;
    const unshare = ['/usr/bin/unshare', '/bin/unshare'].find((p) => existsSync(p));
    const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
    // Output to a file: nginx opens /dev/stdout itself (access_log), which fails on the socket
    // pairs that node gives a child for 'pipe'.
    const run = (command: string, args: string[]) => {
      const file = join(dir, 'out.txt');
      const out = openSync(file, 'w');
      try {
        const { status } = spawnSync(command, args, { stdio: ['ignore', out, out], timeout: 30_000 });
        return { status, output: readFileSync(file, 'utf8') };
      } finally {
        closeSync(out);
      }
    };
    let result: { status: number | null; output: string } | undefined;
    if (asRoot && unshare) {
      const hosts = join(dir, 'hosts');
      writeFileSync(hosts, `127.0.0.1 localhost\n::1 localhost\n127.0.0.1 ${names.join(' ')}\n`);
      const script = 'mount --bind "$1" /etc/hosts && exec "$2" -t -q -c "$3" -p "$4/"';
      result = run(unshare, ['--mount', '--net', 'sh', '-c', script, 'sh', hosts, nginx, conf, dir]);
      // Root without the right to make namespaces (some containers): test the copy instead.
      if (result.status !== 0 && /unshare: |mount: /.test(result.output)) result = undefined;
    }
    if (result === undefined) {
      let text = readFileSync(conf, 'utf8');
      for (const name of names) text = text.replaceAll(`server ${name}:`, 'server 127.0.0.1:');
      text = text.replace(/^(\s*)listen 80;/m, `$1listen 127.0.0.1:${await freePort()};`);
      const copy = join(dir, 'nginx.conf');
      writeFileSync(copy, text);
      result = run(nginx, ['-t', '-q', '-c', copy, '-p', `${dir}/`]);
    }
    const { output } = result;
    assert.equal(result.status, 0, `nginx -t failed:\n${output}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
