/**
 * The web console (packages/console) at /admin/ui/: its built static files, read once into
 * memory at start-up (a few hundred kilobytes), with a strict Content-Security-Policy.
 * Paths without a file answer index.html, so addresses like /admin/ui/keys/key_… survive a
 * reload. Hashed assets are cached forever; index.html never (a new build is seen at once).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join, relative, sep } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { PROBLEM_CONTENT_TYPE, problemFor } from '../errors/catalog.js';

export const CONSOLE_PREFIX = '/admin/ui';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * No inline script, no eval, no third-party origin, no framing (clickjacking), no form
 * posting elsewhere. Inline styles are allowed: the chart library positions its elements
 * with style attributes.
 */
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "form-action 'self'",
].join('; ');

interface StaticFile {
  body: Buffer;
  type: string;
  immutable: boolean;
}

/** Where the console's build lives: the workspace package's dist/, or undefined when absent. */
export function consoleDistDir(): string | undefined {
  try {
    const pkg = createRequire(import.meta.url).resolve('@portcullis/console/package.json');
    const dir = join(dirname(pkg), 'dist');
    return statSync(join(dir, 'index.html')).isFile() ? dir : undefined;
  } catch {
    return undefined;
  }
}

function readTree(root: string): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const full = join(dir, name);
      if (statSync(full).isDirectory()) walk(full);
      else {
        const path = `/${relative(root, full).split(sep).join('/')}`;
        files.set(path, {
          body: readFileSync(full),
          type: TYPES[extname(name)] ?? 'application/octet-stream',
          immutable: path.startsWith('/assets/'),
        });
      }
    }
  };
  walk(root);
  return files;
}

export function registerConsole(app: FastifyInstance, dir?: string): void {
  if (dir !== undefined && !existsSync(join(dir, 'index.html')))
    throw new Error(`console_dir ${dir} holds no index.html (build the console there, or unset it)`);
  serveConsole(app, dir ?? consoleDistDir());
}

/** Serves the build in `distDir`; without one, every console address says how to build it. */
export function serveConsole(app: FastifyInstance, distDir: string | undefined): void {
  const files = distDir ? readTree(distDir) : new Map<string, StaticFile>();
  const index = files.get('/index.html');

  app.get(CONSOLE_PREFIX, (_request, reply) => {
    reply.redirect(`${CONSOLE_PREFIX}/`, 301);
  });

  app.get(`${CONSOLE_PREFIX}/*`, (request, reply) => {
    if (!index) {
      reply
        .code(404)
        .type(PROBLEM_CONTENT_TYPE)
        .send(
          problemFor(
            'not_found',
            'the console is not built: run `npm run build` (npm start does it)',
            request.id,
          ),
        );
      return;
    }
    const path = (request.params as { '*': string })['*'];
    const file = files.get(`/${path}`);
    // A missing asset is a 404 (a stale page asking for an old hash); anything else is a
    // page address the console routes itself.
    if (!file && path.startsWith('assets/')) {
      reply
        .code(404)
        .type(PROBLEM_CONTENT_TYPE)
        .send(problemFor('no_route', `no console file ${path}`, request.id));
      return;
    }
    const served = file ?? index;
    reply
      .header('content-type', served.type)
      .header('cache-control', served.immutable ? 'public, max-age=31536000, immutable' : 'no-store')
      .header('content-security-policy', CSP)
      .header('x-content-type-options', 'nosniff')
      .header('x-frame-options', 'DENY')
      .header('referrer-policy', 'no-referrer')
      .send(served.body);
  });
}
