import type { AuthMethod } from '../../routing/spec.js';
import { deny } from '../decision.js';
import { anonymous } from '../principal.js';
import type { Stage } from '../types.js';

const CHALLENGES: Record<Exclude<AuthMethod, 'public'>, string> = {
  api_key: 'Bearer realm="portcullis"',
  jwt: 'Bearer realm="portcullis"',
  hmac: 'HMAC realm="portcullis"',
};

/** The WWW-Authenticate value for a requirement (RFC 9110 §11.6.1: one challenge per scheme). */
export function challengeFor(requirement: readonly AuthMethod[]): string {
  const challenges = new Set<string>();
  for (const method of requirement) if (method !== 'public') challenges.add(CHALLENGES[method]);
  return [...challenges].join(', ');
}

/**
 * Authentication. Public methods pass as anonymous. Credential verifiers (API keys, HMAC,
 * JWT) plug in here; until one accepts the request, a protected method is refused with 401
 * and a challenge naming the schemes the route accepts.
 */
export function authenticateStage(): Stage {
  return (exchange) => {
    const requirement = exchange.requirement as readonly AuthMethod[];
    if (requirement[0] === 'public') {
      exchange.principal = anonymous;
      return undefined;
    }
    return deny('missing_credentials', 'this route requires credentials', [
      ['www-authenticate', challengeFor(requirement)],
    ]);
  };
}
