/**
 * Send exact bytes to a server and read the answer: for requests an HTTP client library
 * would refuse or "fix" (smuggling, duplicate headers, odd targets, Connection tricks).
 */
import { connect } from 'node:net';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  raw: string;
}

export function parseRawResponse(raw: string): RawResponse {
  const end = raw.indexOf('\r\n\r\n');
  const head = end === -1 ? raw : raw.slice(0, end);
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return {
    status: Number(statusLine.split(' ')[1] ?? 0),
    headers,
    body: end === -1 ? '' : raw.slice(end + 4),
    raw,
  };
}

/** Write `request` and collect everything until the server closes (or `timeoutMs`). */
export function rawRequest(port: number, request: string | Buffer, timeoutMs = 5000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let data = '';
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    socket.on('connect', () => socket.write(request));
    socket.on('data', (chunk: Buffer) => {
      data += chunk.toString('latin1');
    });
    socket.on('error', (error) => {
      if (data === '') reject(error);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(parseRawResponse(data));
    });
  });
}

/** A GET with `Connection: close` for `path`, with extra header lines. */
export function rawGet(
  port: number,
  path: string,
  headerLines: string[] = ['Host: localhost'],
): Promise<RawResponse> {
  return rawRequest(
    port,
    `GET ${path} HTTP/1.1\r\n${[...headerLines, 'Connection: close'].join('\r\n')}\r\n\r\n`,
  );
}
