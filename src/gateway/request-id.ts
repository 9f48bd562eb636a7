import { randomUUID } from 'node:crypto';

// Propagated ids must be short and plain: they are echoed into logs, headers and records,
// so anything that could carry CR/LF, quotes or a megabyte of junk is replaced.
const ACCEPTABLE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Use the caller's X-Request-Id when it is sane, else generate one. */
export function requestIdFor(inbound: string | string[] | undefined): string {
  if (typeof inbound === 'string' && ACCEPTABLE_ID.test(inbound)) return inbound;
  return randomUUID();
}
