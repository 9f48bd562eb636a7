/**
 * Reading TLS material named by settings (CA bundles, client certificates and keys for Redis
 * and PostgreSQL). Checks the file holds what it should (`-----BEGIN … <kind>-----`), so a
 * swapped certificate and key fail at start-up with the file's name rather than as an obscure
 * handshake error. Messages name the file, never its content.
 */
import { readFileSync } from 'node:fs';

export type PemKind = 'CERTIFICATE' | 'PRIVATE KEY';

export function readPem(path: string, what: string, kind: PemKind): Buffer {
  let content: Buffer;
  try {
    content = readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new Error(`cannot read the ${what} file ${path} (${code})`);
  }
  if (!new RegExp(`-----BEGIN [A-Z0-9 ]*${kind}-----`).test(content.toString('latin1')))
    throw new Error(`the ${what} file ${path} holds no PEM ${kind.toLowerCase()}`);
  return content;
}
