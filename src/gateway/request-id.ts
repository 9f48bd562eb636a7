import { randomBytes } from 'node:crypto';

// Propagated ids must be short and plain: they are echoed into logs, headers and records,
// so anything that could carry CR/LF, quotes or a megabyte of junk is replaced.
const ACCEPTABLE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

// Generated ids: 96 random bits per process, then a counter — unique across instances and
// restarts, ordered within a process, and far cheaper than a UUID per request.
const PROCESS_PART = randomBytes(12).toString('base64url');
let counter = 0;

/** Use the caller's X-Request-Id when it is sane, else generate one. */
export function requestIdFor(inbound: string | string[] | undefined): string {
  if (typeof inbound === 'string' && ACCEPTABLE_ID.test(inbound)) return inbound;
  counter = (counter + 1) % Number.MAX_SAFE_INTEGER;
  return `${PROCESS_PART}-${counter.toString(36)}`;
}
