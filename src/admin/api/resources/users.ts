/**
 * Admin users and login (docs/admin-auth.md). Login answers the same way, and costs the
 * same, whether the user is unknown, disabled or gave a wrong password; failures are
 * throttled per account and address (admin/auth/login-throttle.ts) and every login, failure
 * and lock is audited. The last active admin cannot be removed, disabled or demoted.
 */
import { createHash } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { randomBase62 } from '../../../core/crypto.js';
import { SpecError } from '../../../core/spec-error.js';
import { MemoryState } from '../../../state/memory.js';
import { ConflictError, NotFoundError } from '../../../store/errors.js';
import type { AdminUserRecord, Repositories, Store } from '../../../store/types.js';
import { LoginThrottle } from '../../auth/login-throttle.js';
import {
  checkPasswordPolicy,
  hashPassword,
  needsRehash,
  verifyAgainstDummy,
  verifyPassword,
} from '../../auth/passwords.js';
import { csrfTokenFor, generateSessionToken, sessionTokenHash } from '../../auth/sessions.js';
import type { AdminApiDeps, ResourceRoutes } from '../context.js';
import { AdminProblem } from '../errors.js';
import { pageOf } from '../pagination.js';
import { IdParams, iso, Page, PageQuery, problems, Timestamp } from '../schemas.js';
import { SESSION_COOKIE } from '../sessions.js';

const Role = Type.Union([Type.Literal('admin'), Type.Literal('viewer')]);
/** Password checks running at once, per instance (libuv has 4 workers by default). */
const MAX_CONCURRENT_VERIFICATIONS = 4;
const USERNAME = /^[a-z0-9][a-z0-9_.@-]{0,63}$/;

const User = Type.Object(
  {
    id: Type.String(),
    username: Type.String(),
    role: Role,
    disabled: Type.Boolean(),
    createdAt: Timestamp,
    updatedAt: Timestamp,
    passwordChangedAt: Timestamp,
  },
  { $id: 'AdminUser' },
);

const Session = Type.Object({
  token: Type.String({ description: 'session token (pclses_…): send as Authorization: Bearer; shown once' }),
  csrfToken: Type.String({ description: 'send as X-CSRF-Token on cookie-authenticated writes' }),
  expiresAt: Timestamp,
  user: Type.Object({ id: Type.String(), username: Type.String(), role: Role }),
});

export function userView(user: AdminUserRecord) {
  return {
    id: user.id,
    username: user.username,
    role: user.role,
    disabled: user.disabled,
    createdAt: iso(user.createdAt),
    updatedAt: iso(user.updatedAt),
    passwordChangedAt: iso(user.passwordChangedAt),
  };
}

function checkUsername(name: string): string {
  const lower = name.toLowerCase();
  if (!USERNAME.test(lower))
    throw new SpecError([
      {
        path: 'username',
        message: 'must be 1-64 characters: a-z, 0-9, "_", ".", "@" or "-", starting with a letter or digit',
      },
    ]);
  return lower;
}

/** An attempted name as the audit log may record it: bounded and printable. */
function attempted(name: string): string {
  return name.replace(/[^\x21-\x7e]/g, '?').slice(0, 64);
}

async function audit(
  deps: AdminApiDeps,
  request: FastifyRequest,
  action: string,
  username: string,
  after: unknown = null,
): Promise<void> {
  await deps.store.auditLog.insert({
    id: `aud_${randomBase62(16)}`,
    at: deps.clock.now(),
    actor: `user:${attempted(username)}`,
    source: request.ip,
    action,
    targetType: 'admin_users',
    targetId: attempted(username),
    before: null,
    after,
  });
}

/** Refuse a change that would leave no active admin (nobody could administer any more). */
async function keepOneAdmin(
  store: Pick<Repositories, 'adminUsers'>,
  changing: AdminUserRecord,
  next: { role: string; disabled: boolean },
) {
  if (changing.role !== 'admin' || changing.disabled) return;
  if (next.role === 'admin' && !next.disabled) return;
  const others = (await store.adminUsers.list()).filter(
    (u) => u.id !== changing.id && u.role === 'admin' && !u.disabled,
  );
  if (others.length === 0)
    throw new ConflictError(
      'admin user',
      changing.username,
      'this is the last active admin: add another admin first',
    );
}

function setSessionCookie(
  request: FastifyRequest,
  reply: FastifyReply,
  token: string,
  maxAgeS: number,
): void {
  reply.setCookie(SESSION_COOKIE, token, {
    httpOnly: true,
    sameSite: 'strict',
    path: '/admin',
    // Secure when the console is reached over TLS (directly or through a proxy saying so).
    secure: request.protocol === 'https',
    maxAge: maxAgeS,
  });
}

export const userRoutes: ResourceRoutes = (app, deps) => {
  app.addSchema(User);
  // Without shared state (the CLI's in-process API) logins are not served anyway; a private
  // memory state keeps the throttle well-defined.
  const state = deps.state ?? new MemoryState({ clock: deps.clock });
  const throttle = new LoginThrottle({ state, clock: deps.clock });
  const tags = ['auth'];

  // scrypt is deliberately slow (~0.3 s of a libuv worker): bound how many run at once, for
  // every password check and hash, so a flood cannot starve the gateway's file and DNS work.
  let hashing = 0;
  const withScrypt = async <T>(work: () => Promise<T>): Promise<T> => {
    if (hashing >= MAX_CONCURRENT_VERIFICATIONS)
      throw new AdminProblem('store_unavailable', 'too many password checks in progress', {
        'retry-after': '1',
      });
    hashing++;
    try {
      return await work();
    } finally {
      hashing--;
    }
  };
  // Fail closed: without the throttle's state a password could be brute-forced, so none is checked.
  const guarded = <T>(work: Promise<T>): Promise<T> =>
    work.catch(() => {
      throw new AdminProblem('store_unavailable', 'login is unavailable right now', { 'retry-after': '1' });
    });
  /** The name an audit entry records for an attempt: a real user's name, never a typed secret. */
  const auditName = async (name: string): Promise<string> =>
    (await deps.store.adminUsers.getByUsername(name))?.username ?? '(unknown)';
  /** A lock is audited once a minute per name and address, not once per refused attempt. */
  const auditLock = async (
    request: FastifyRequest,
    name: string,
    verdict: { scope: string; retryAfterS: number },
  ) => {
    const first = await state
      .setIfAbsent(
        `admin-lock-audited:${createHash('sha256').update(`${name}\n${request.ip}`).digest('base64url')}`,
        '1',
        60_000,
      )
      .catch(() => true);
    if (first) await audit(deps, request, 'auth.login_locked', await auditName(name), verdict);
  };

  app.post(
    '/auth/login',
    {
      config: { access: 'public' },
      schema: {
        tags,
        summary: 'Log in: returns a session token and sets the session cookie (HttpOnly, SameSite=Strict)',
        security: [],
        body: Type.Object(
          { username: Type.String({ maxLength: 200 }), password: Type.String({ maxLength: 1024 }) },
          { additionalProperties: false },
        ),
        response: { 200: Session, ...problems(400, 401, 429, 503) },
      },
    },
    async (request, reply) => {
      const { username, password } = request.body;
      const name = username.toLowerCase();
      const ip = request.ip;
      const verdict = await guarded(throttle.check(name, ip));
      if (!verdict.allowed) {
        await auditLock(request, name, verdict);
        throw new AdminProblem(
          'login_locked',
          `too many failed logins; try again in ${verdict.retryAfterS} s`,
          {
            'retry-after': String(verdict.retryAfterS),
          },
        );
      }
      return completeLogin(request, reply, name, password, ip);
    },
  );

  const completeLogin = async (
    request: FastifyRequest,
    reply: FastifyReply,
    name: string,
    password: string,
    ip: string,
  ) => {
    const user = await deps.store.adminUsers.getByUsername(name);
    // Unknown and disabled users cost one scrypt like a wrong password, and get its answer.
    const ok = await withScrypt(() =>
      user && !user.disabled ? verifyPassword(password, user.passwordHash) : verifyAgainstDummy(password),
    );
    if (!ok || !user) {
      await guarded(throttle.recordFailure(name, ip));
      // The name typed is recorded only when it is a user's: people type passwords there too.
      await audit(deps, request, 'auth.login_failed', user?.username ?? '(unknown)');
      throw new AdminProblem('invalid_credentials', 'wrong username or password');
    }
    await guarded(throttle.recordSuccess(name, ip));
    if (needsRehash(user.passwordHash)) {
      // Stronger parameters since this hash was made: re-hash now that the password is at hand.
      const passwordHash = await withScrypt(() => hashPassword(password)).catch(() => undefined);
      if (passwordHash) await deps.store.adminUsers.update(user.id, { passwordHash }).catch(() => undefined);
    }
    const { token } = generateSessionToken();
    const tokenHash = sessionTokenHash(deps.keys, token);
    const ttl = deps.settings.adminSessionTtl;
    const expiresAt = deps.clock.now() + ttl;
    await deps.store.adminSessions.insert({
      id: `ses_${randomBase62(16)}`,
      userId: user.id,
      tokenHash,
      expiresAt,
      ip,
      userAgent: request.headers['user-agent']?.slice(0, 200) ?? null,
    });
    await audit(deps, request, 'auth.login', user.username);
    setSessionCookie(request, reply, token, Math.floor(ttl / 1000));
    return {
      token,
      csrfToken: csrfTokenFor(deps.keys, tokenHash),
      expiresAt: iso(expiresAt),
      user: { id: user.id, username: user.username, role: user.role },
    };
  };

  app.post(
    '/auth/logout',
    {
      config: { access: 'viewer' },
      schema: {
        tags,
        summary: 'End the current session (and clear the cookie)',
        response: { 200: Type.Object({ loggedOut: Type.Boolean() }), ...problems(401, 403) },
      },
    },
    async (request, reply) => {
      const { principal } = request.scope;
      let loggedOut = false;
      if (principal.sessionHash) {
        const session = await deps.store.adminSessions.findByTokenHash(principal.sessionHash);
        if (session) loggedOut = await deps.store.adminSessions.revoke(session.id);
        await audit(deps, request, 'auth.logout', principal.name.replace(/^user:/, ''));
      }
      reply.clearCookie(SESSION_COOKIE, { path: '/admin' });
      return { loggedOut };
    },
  );

  app.get(
    '/auth/me',
    {
      schema: {
        tags,
        summary: 'Who is calling (and the CSRF token of a session)',
        response: {
          200: Type.Object({
            kind: Type.String(),
            id: Type.String(),
            name: Type.String(),
            role: Type.String(),
            csrfToken: Type.Union([Type.String(), Type.Null()]),
          }),
          ...problems(401, 403),
        },
      },
    },
    async (request) => {
      const { principal } = request.scope;
      return {
        kind: principal.kind,
        id: principal.id,
        name: principal.name,
        role: principal.role,
        csrfToken: principal.sessionHash ? csrfTokenFor(deps.keys, principal.sessionHash) : null,
      };
    },
  );

  app.post(
    '/auth/password',
    {
      config: { access: 'viewer' },
      schema: {
        tags,
        summary: 'Change your own password (ends your other sessions)',
        body: Type.Object(
          {
            currentPassword: Type.String({ maxLength: 1024 }),
            newPassword: Type.String({ maxLength: 1024 }),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Ref('AdminUser'), ...problems(400, 401, 403, 422, 429, 503) },
      },
    },
    async (request) => {
      const { principal, store } = request.scope;
      if (principal.kind !== 'user')
        throw new AdminProblem('forbidden', 'only a logged-in user has a password');
      const user = await deps.store.adminUsers.get(principal.id);
      if (!user) throw new AdminProblem('invalid_credentials');
      // The current password is guessed no faster here than at login: same throttle, same gate.
      const verdict = await guarded(throttle.check(user.username, request.ip));
      if (!verdict.allowed) {
        await auditLock(request, user.username, verdict);
        throw new AdminProblem(
          'login_locked',
          `too many wrong passwords; try again in ${verdict.retryAfterS} s`,
          {
            'retry-after': String(verdict.retryAfterS),
          },
        );
      }
      if (!(await withScrypt(() => verifyPassword(request.body.currentPassword, user.passwordHash)))) {
        await guarded(throttle.recordFailure(user.username, request.ip));
        await audit(deps, request, 'auth.password_failed', user.username);
        throw new AdminProblem('invalid_credentials', 'the current password is wrong');
      }
      checkPasswordPolicy(request.body.newPassword, 'newPassword');
      const passwordHash = await withScrypt(() => hashPassword(request.body.newPassword));
      const current = principal.sessionHash
        ? await deps.store.adminSessions.findByTokenHash(principal.sessionHash)
        : undefined;
      // One transaction: the new password and the end of every other session happen together.
      const updated = await store.write(async (repos) => {
        const changed = await repos.adminUsers.update(user.id, { passwordHash });
        await repos.adminSessions.revokeForUser(user.id);
        if (current)
          await repos.adminSessions.insert({
            id: current.id,
            userId: current.userId,
            tokenHash: current.tokenHash,
            expiresAt: current.expiresAt,
            ip: current.ip,
            userAgent: current.userAgent,
          });
        return changed;
      });
      return userView(updated);
    },
  );

  const userTags = ['users'];
  app.get(
    '/users',
    {
      schema: {
        tags: userTags,
        summary: 'List admin users',
        querystring: Type.Object(PageQuery),
        response: { 200: Page(Type.Ref('AdminUser')), ...problems(400, 401, 403) },
      },
    },
    async (request) => {
      const page = pageOf(await request.scope.store.adminUsers.list(), (u) => u.username, request.query);
      return { items: page.items.map(userView), nextCursor: page.nextCursor };
    },
  );

  app.post(
    '/users',
    {
      schema: {
        tags: userTags,
        summary: 'Add an admin user',
        body: Type.Object(
          {
            username: Type.String({ maxLength: 200 }),
            password: Type.String({ maxLength: 1024 }),
            role: Role,
          },
          { additionalProperties: false },
        ),
        response: { 201: Type.Ref('AdminUser'), ...problems(400, 401, 403, 409, 422) },
      },
    },
    async (request, reply) => {
      const username = checkUsername(request.body.username);
      checkPasswordPolicy(request.body.password);
      const user = await request.scope.store.adminUsers.insert({
        id: `usr_${randomBase62(12)}`,
        username,
        passwordHash: await withScrypt(() => hashPassword(request.body.password)),
        role: request.body.role,
      });
      reply.code(201);
      return userView(user);
    },
  );

  const findUser = async (store: Store, idOrName: string): Promise<AdminUserRecord> => {
    const user = (await store.adminUsers.get(idOrName)) ?? (await store.adminUsers.getByUsername(idOrName));
    if (!user) throw new NotFoundError('admin user', idOrName);
    return user;
  };

  app.get(
    '/users/:id',
    {
      schema: {
        tags: userTags,
        summary: 'Show an admin user (by id or username)',
        params: IdParams,
        response: { 200: Type.Ref('AdminUser'), ...problems(401, 403, 404) },
      },
    },
    async (request) => userView(await findUser(request.scope.store, request.params.id)),
  );

  app.patch(
    '/users/:id',
    {
      schema: {
        tags: userTags,
        summary: 'Change role, disable/enable, or set a new password (ends the user’s sessions)',
        params: IdParams,
        body: Type.Object(
          {
            role: Type.Optional(Role),
            disabled: Type.Optional(Type.Boolean()),
            password: Type.Optional(Type.String({ maxLength: 1024 })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Ref('AdminUser'), ...problems(400, 401, 403, 404, 409, 422) },
      },
    },
    async (request) => {
      const { store } = request.scope;
      const user = await findUser(store, request.params.id);
      const { role, disabled, password } = request.body;
      if (password !== undefined) checkPasswordPolicy(password);
      const passwordHash =
        password === undefined ? undefined : await withScrypt(() => hashPassword(password));
      // One transaction: the last-admin check, the change and the end of the user's sessions.
      const updated = await store.write(async (repos) => {
        const current = (await repos.adminUsers.get(user.id)) ?? user;
        await keepOneAdmin(repos, current, {
          role: role ?? current.role,
          disabled: disabled ?? current.disabled,
        });
        const changed = await repos.adminUsers.update(user.id, {
          ...(role !== undefined ? { role } : {}),
          ...(disabled !== undefined ? { disabled } : {}),
          ...(passwordHash !== undefined ? { passwordHash } : {}),
        });
        // A new password, a lost role or a disabled account ends every session at once.
        if (password !== undefined || disabled === true || (role !== undefined && role !== current.role))
          await repos.adminSessions.revokeForUser(user.id);
        return changed;
      });
      return userView(updated);
    },
  );

  app.delete(
    '/users/:id',
    {
      schema: {
        tags: userTags,
        summary: 'Remove an admin user and end their sessions',
        params: IdParams,
        response: {
          200: Type.Object({ id: Type.String(), removed: Type.Boolean() }),
          ...problems(401, 403, 404, 409),
        },
      },
    },
    async (request) => {
      const { store } = request.scope;
      const user = await findUser(store, request.params.id);
      await store.write(async (repos) => {
        await keepOneAdmin(repos, user, { role: 'viewer', disabled: true });
        await repos.adminUsers.remove(user.id);
      });
      return { id: user.id, removed: true };
    },
  );
};
