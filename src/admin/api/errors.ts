/**
 * Every admin API failure is RFC 9457 problem+json with a stable `code` from the one error
 * catalog. Domain errors thrown by operations and repositories map here, so handlers just
 * throw: SpecError → 422, NotFoundError → 404, ConflictError → 409, schema violations → 400.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { SpecError } from '../../core/spec-error.js';
import { type ErrorCode, PROBLEM_CONTENT_TYPE, problemFor, statusOf } from '../../errors/catalog.js';
import { ConflictError, NotFoundError } from '../../store/errors.js';

/** A failure a handler reports on purpose, with its catalog code and a client-safe detail. */
export class AdminProblem extends Error {
  readonly code: ErrorCode;
  readonly headers: Record<string, string>;
  constructor(code: ErrorCode, detail?: string, headers: Record<string, string> = {}) {
    super(detail ?? code);
    this.name = 'AdminProblem';
    this.code = code;
    this.headers = headers;
  }
}

export function sendProblem(
  reply: FastifyReply,
  request: FastifyRequest,
  code: ErrorCode,
  detail?: string,
  headers: Record<string, string> = {},
): FastifyReply {
  return reply
    .code(statusOf(code))
    .headers({ 'cache-control': 'no-store', ...headers })
    .type(PROBLEM_CONTENT_TYPE)
    .send(problemFor(code, detail, request.id));
}

export function adminErrorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  if (error instanceof AdminProblem)
    return sendProblem(reply, request, error.code, error.message, error.headers);
  if (error instanceof SpecError) return sendProblem(reply, request, 'invalid_input', error.message);
  if (error instanceof NotFoundError) return sendProblem(reply, request, 'not_found', error.message);
  if (error instanceof ConflictError) return sendProblem(reply, request, 'conflict', error.message);
  if (error.validation) return sendProblem(reply, request, 'bad_request', error.message);
  const status = error.statusCode ?? 500;
  if (status === 413) return sendProblem(reply, request, 'payload_too_large');
  if (status >= 400 && status < 500) return sendProblem(reply, request, 'bad_request', error.message);
  request.log.error({ err: error }, 'admin api error');
  return sendProblem(reply, request, 'internal_error');
}
