import { type ErrorCode, statusOf } from '../errors/catalog.js';
import type { Deny } from './types.js';

export function deny(
  code: ErrorCode,
  detail?: string,
  headers?: ReadonlyArray<readonly [string, string]>,
): Deny {
  return { kind: 'deny', status: statusOf(code), code, detail, headers };
}
