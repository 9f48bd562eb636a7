/**
 * Writing denials and errors as RFC 9457 problem+json, on a response object or (for parse
 * errors and refused upgrades, where no response object exists) straight onto the socket.
 */
import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { type ErrorCode, PROBLEM_CONTENT_TYPE, problemFor } from '../errors/catalog.js';
import type { Deny } from '../pipeline/types.js';

export function writeDeny(
  res: ServerResponse,
  decision: Deny,
  requestId: string,
  closeConnection = false,
): void {
  const body = JSON.stringify(problemFor(decision.code, decision.detail, requestId));
  const headers: string[] = [
    'content-type',
    PROBLEM_CONTENT_TYPE,
    'content-length',
    String(Buffer.byteLength(body)),
    'cache-control',
    'no-store',
    'x-request-id',
    requestId,
  ];
  if (decision.headers) for (const [name, value] of decision.headers) headers.push(name, value);
  if (closeConnection) headers.push('connection', 'close');
  res.writeHead(decision.status, headers);
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  408: 'Request Timeout',
  413: 'Payload Too Large',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  401: 'Unauthorized',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** Answer on a raw socket and close it: used when Node could not parse the request at all. */
export function writeRawProblem(
  socket: Duplex,
  code: ErrorCode,
  detail: string | undefined,
  requestId: string | undefined,
  extraHeaders: ReadonlyArray<readonly [string, string]> = [],
): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const problem = problemFor(code, detail, requestId);
  const body = JSON.stringify(problem);
  let head = `HTTP/1.1 ${problem.status} ${REASONS[problem.status] ?? 'Error'}\r\ncontent-type: ${PROBLEM_CONTENT_TYPE}\r\ncontent-length: ${Buffer.byteLength(body)}\r\ncache-control: no-store\r\nconnection: close\r\n`;
  if (requestId) head += `x-request-id: ${requestId}\r\n`;
  for (const [name, value] of extraHeaders) head += `${name}: ${value}\r\n`;
  socket.end(`${head}\r\n${body}`);
}
