/**
 * Live settings (config/live.ts): read, override and reset without a restart. An override is
 * stored in the database and audited; every gateway applies it within a second.
 */
import { Type } from '@sinclair/typebox';
import {
  isLiveSettingKey,
  LIVE_SETTING_KEYS,
  type LiveOverrides,
  LiveSettingError,
  parseLiveOverrides,
} from '../../../config/live.js';
import { settingDefs } from '../../../config/settings.js';
import { SpecError } from '../../../core/spec-error.js';
import type { Store } from '../../../store/types.js';
import type { AdminApiDeps, ResourceRoutes } from '../context.js';
import { problems } from '../schemas.js';

const Value = Type.Union([Type.String(), Type.Number()]);

const LiveSetting = Type.Object(
  {
    key: Type.String(),
    value: Value,
    configured: Value,
    source: Type.Union([Type.Literal('live'), Type.Literal('config')]),
    description: Type.String(),
  },
  { $id: 'LiveSetting' },
);
const LiveSettingList = Type.Object({ items: Type.Array(Type.Ref('LiveSetting')) });

function asSpecError(error: unknown): never {
  if (error instanceof LiveSettingError)
    throw new SpecError([{ path: error.key, message: error.message.slice(error.key.length + 2) }]);
  throw error;
}

async function overridesOf(store: Store): Promise<LiveOverrides> {
  try {
    return parseLiveOverrides(await store.liveSettings.get());
  } catch {
    // A stored value a newer or older version wrote and this one cannot read: ignore it
    // rather than failing every read (PATCH rewrites the document whole).
    return {};
  }
}

function view(deps: AdminApiDeps, overrides: LiveOverrides) {
  return {
    items: LIVE_SETTING_KEYS.map((key) => {
      const configured = deps.settings[key];
      const override = overrides[key];
      return {
        key,
        value: override ?? configured,
        configured,
        source: override === undefined ? ('config' as const) : ('live' as const),
        description: settingDefs[key].description,
      };
    }),
  };
}

export const settingsRoutes: ResourceRoutes = (app, deps) => {
  app.addSchema(LiveSetting);
  const tags = ['settings'];

  app.get(
    '/settings',
    {
      schema: {
        tags,
        summary: 'Live settings: current value, configured value and where the value comes from',
        response: { 200: LiveSettingList, ...problems(401, 403) },
      },
    },
    async (request) => view(deps, await overridesOf(request.scope.store)),
  );

  app.patch(
    '/settings',
    {
      schema: {
        tags,
        summary: 'Override live settings on every instance (no restart)',
        body: Type.Object(Object.fromEntries(LIVE_SETTING_KEYS.map((k) => [k, Type.Optional(Value)])), {
          additionalProperties: false,
        }),
        response: { 200: LiveSettingList, ...problems(400, 401, 403, 422) },
      },
    },
    async (request) => {
      const { store } = request.scope;
      let patch: LiveOverrides;
      try {
        patch = parseLiveOverrides(request.body as Record<string, unknown>);
      } catch (error) {
        asSpecError(error);
      }
      const next = { ...(await overridesOf(store)), ...patch };
      await store.liveSettings.replace(next);
      return view(deps, next);
    },
  );

  app.delete(
    '/settings/:key',
    {
      schema: {
        tags,
        summary: 'Remove an override: the configured value applies again',
        params: Type.Object({ key: Type.String() }),
        response: { 200: LiveSettingList, ...problems(401, 403, 422) },
      },
    },
    async (request) => {
      const { key } = request.params;
      if (!isLiveSettingKey(key))
        throw new SpecError([{ path: 'key', message: `${key} is not a live setting` }]);
      const { store } = request.scope;
      const next: LiveOverrides = { ...(await overridesOf(store)) };
      delete next[key];
      await store.liveSettings.replace(next);
      return view(deps, next);
    },
  );
};
