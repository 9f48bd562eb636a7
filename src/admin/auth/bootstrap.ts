/**
 * The first admin user (PRODUCT.md §11): on a database without any admin user, create
 * `admin` with the configured password (`admin_password`) or a random one the caller prints
 * once. Several instances starting together on one database may all see none; the unique
 * username lets exactly one insert win, and the others report `created: false`.
 */
import type { Clock } from '../../core/clock.js';
import { randomBase62 } from '../../core/crypto.js';
import { ConflictError } from '../../store/errors.js';
import type { Repositories } from '../../store/types.js';
import { checkPasswordPolicy, hashPassword } from './passwords.js';

export const INITIAL_ADMIN_USERNAME = 'admin';
/** 24 base62 characters: ~143 bits, beyond any online or offline guessing. */
const GENERATED_PASSWORD_LENGTH = 24;

export type InitialAdminResult =
  | { created: false }
  | { created: true; username: 'admin'; password: string; generated: boolean };

export interface InitialAdminOptions {
  /** From `admin_password`; checked against the password policy (SpecError naming it). */
  password?: string | undefined;
  /**
   * Accepted for the start-up call's symmetry with other initialisers; the user's timestamps
   * come from the store's own clock, like every repository write.
   */
  clock?: Clock;
}

/**
 * Idempotent: does nothing once any admin user exists, even if `admin` itself was removed or
 * renamed since (an operator's deliberate choice is not undone at the next start). Pass an
 * audited store to have the creation recorded.
 */
export async function ensureInitialAdmin(
  store: Pick<Repositories, 'adminUsers'>,
  options: InitialAdminOptions,
): Promise<InitialAdminResult> {
  // Checked before anything else: a bad configured password fails every start, not only the first.
  if (options.password !== undefined) checkPasswordPolicy(options.password, 'admin_password');
  if ((await store.adminUsers.count()) > 0) return { created: false };
  const generated = options.password === undefined;
  const password = options.password ?? randomBase62(GENERATED_PASSWORD_LENGTH);
  const passwordHash = await hashPassword(password);
  try {
    await store.adminUsers.insert({
      id: `usr_${randomBase62(16)}`,
      username: INITIAL_ADMIN_USERNAME,
      passwordHash,
      role: 'admin',
    });
  } catch (error) {
    // Another instance created it between our count and our insert.
    if (error instanceof ConflictError) return { created: false };
    throw error;
  }
  return { created: true, username: INITIAL_ADMIN_USERNAME, password, generated };
}
