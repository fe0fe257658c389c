// Calls every api-auth function of Wacht's JS backend SDK against a live
// mockserver, in one story: a scheme and an app, a key, gateway checks up to
// the key's limit and past it, the clock moved, the audit of those checks,
// the key rotated and revoked, everything deleted again.
//
// Usage: node api_auth.mjs BASE_URL (run from a folder whose node_modules
// holds the pinned @wacht/backend; tests/test_sdk.py copies it there).
// Prints one JSON document: what each call returned or threw ("calls"),
// every raw HTTP exchange underneath ("exchanges", for the contract checks),
// and the functions the SDK exports ("exports"), so the Python test can tell
// that none was left out. This script asserts nothing itself.

import { WachtClient } from "@wacht/backend";

const baseUrl = process.argv[2];
const gatewayUrl = `${baseUrl}/gateway`;
const calls = {};
const exchanges = [];
const called = new Set();
let current = null;

// The SDK takes a fetch of our own (WachtClient's config.fetch, checkAuthz's
// options.fetch): this one records each raw answer under the current label.
async function recordingFetch(url, init = {}) {
  const response = await fetch(url, init);
  const text = await response.clone().text();
  const { pathname, search } = new URL(url);
  exchanges.push({
    label: current,
    method: init.method ?? "GET",
    path: pathname + search,
    status: response.status,
    headers: Object.fromEntries(response.headers),
    body: text,
  });
  return response;
}

function describeError(error) {
  return { name: error.name, statusCode: error.statusCode ?? null, message: error.message };
}

// Runs one SDK call under a label; records its value or the error it threw.
// `fn` names the SDK function, for the completeness check.
async function call(label, fn, thunk) {
  current = label;
  called.add(fn);
  try {
    const value = await thunk();
    calls[label] = { ok: true, value: value === undefined ? "<undefined>" : value };
    return value;
  } catch (error) {
    calls[label] = { ok: false, error: describeError(error) };
    return undefined;
  } finally {
    current = null;
  }
}

const client = new WachtClient({ apiKey: "sk_test_mock", baseUrl, fetch: recordingFetch });
const limited = new WachtClient({ apiKey: "sk_test_limited", baseUrl, fetch: recordingFetch });
const api = client.apiKeys;
const gateway = client.gateway;
// Every optional argument is passed (`{}`): the bound client goes in the next
// positional slot, so leaving one out makes the SDK look for a global client.
const gatewayOptions = { gatewayUrl, fetch: recordingFetch };

// --- rate-limit schemes and apps ---
await call("createRateLimitScheme", "createRateLimitScheme", () =>
  api.createRateLimitScheme({
    slug: "sdk-tight",
    name: "SDK tight",
    rules: [{ unit: "minute", duration: 1, max_requests: 2, mode: "per_key" }],
  }),
);
await call("getRateLimitScheme", "getRateLimitScheme", () => api.getRateLimitScheme("sdk-tight"));
await call("updateRateLimitScheme", "updateRateLimitScheme", () =>
  api.updateRateLimitScheme("sdk-tight", { description: "Two a minute per key and path" }),
);
await call("listRateLimitSchemes", "listRateLimitSchemes", () => api.listRateLimitSchemes());

const appRequest = {
  app_slug: "sdk-app",
  name: "SDK App",
  key_prefix: "sk_sdk",
  rate_limit_scheme_slug: "sdk-tight",
  permissions: ["invoices:read", "invoices:write"],
  resources: ["billing"],
};
await call("createApiAuthApp", "createApiAuthApp", () => api.createApiAuthApp(appRequest));
await call("createApiAuthApp.duplicate", "createApiAuthApp", () => api.createApiAuthApp(appRequest));
await call("getApiAuthApp", "getApiAuthApp", () => api.getApiAuthApp("sdk-app"));
await call("getApiAuthApp.missing", "getApiAuthApp", () => api.getApiAuthApp("no-such-app"));
await call("updateApiAuthApp", "updateApiAuthApp", () =>
  api.updateApiAuthApp("sdk-app", { description: "Made by the SDK test" }),
);
await call("listApiAuthApps", "listApiAuthApps", () => api.listApiAuthApps({}));
await call("listApiAuthApps.inactive", "listApiAuthApps", () =>
  api.listApiAuthApps({ include_inactive: true }),
);

// --- the demo audit history of a fixture app ---
const firstPage = await call("getApiAuditLogs.demo", "getApiAuditLogs", () =>
  api.getApiAuditLogs("billing-sync", { limit: 5 }),
);
await call("getApiAuditLogs.demo.next", "getApiAuditLogs", () =>
  api.getApiAuditLogs("billing-sync", { limit: 5, cursor: firstPage?.next_cursor ?? undefined }),
);
await call("getApiAuditAnalytics.demo", "getApiAuditAnalytics", () =>
  api.getApiAuditAnalytics("billing-sync", {
    include_top_keys: true,
    include_top_paths: true,
    include_blocked_reasons: true,
    include_rate_limits: true,
    top_limit: 3,
  }),
);
await call("getApiAuditTimeseries.demo", "getApiAuditTimeseries", () =>
  api.getApiAuditTimeseries("billing-sync", { interval: "day" }),
);

// --- keys, the gateway, the clock ---
const created = await call("createApiKey", "createApiKey", () =>
  api.createApiKey("sdk-app", {
    name: "SDK key",
    permissions: ["invoices:read"],
    metadata: { team: "sdk", tier: 2 },
  }),
);
// The SDK's type says {key, secret}; the backend answers the flat key with
// its secret, so the id and the secret are read from the top level.
const secret = created?.secret ?? "";
const keyId = created?.id ?? "0";
await call("listApiKeys", "listApiKeys", () => api.listApiKeys("sdk-app", {}));

const invoices = (value, extra = {}) => ({
  principal: { type: "api_key", value },
  resource: "/v1/invoices",
  method: "GET",
  required_permissions: ["invoices:read"],
  ...extra,
});
const first = await call("checkAuthz.first", "checkAuthz", () =>
  gateway.checkAuthz(invoices(secret), gatewayOptions),
);
await call("resolveAuthzIdentity", "resolveAuthzIdentity", () =>
  gateway.resolveAuthzIdentity(first),
);
await call("resolveGatewayPrincipalContext", "resolveGatewayPrincipalContext", () =>
  gateway.resolveGatewayPrincipalContext(first),
);
for (const label of ["checkAuthz.second", "checkAuthz.over"]) {
  await call(label, "checkAuthz", () => gateway.checkAuthz(invoices(secret), gatewayOptions));
}
await call("checkPrincipalAuthz.denied", "checkPrincipalAuthz", () =>
  gateway.checkPrincipalAuthz(
    {
      principalType: "api_key",
      principalValue: secret,
      resource: "/v1/invoices",
      method: "POST",
      requiredPermissions: ["invoices:write"],
      clientIp: "203.0.113.7",
      userAgent: "sdk-test",
    },
    gatewayOptions,
  ),
);

// The backend's health, before the clock moves: it tells the frozen time.
await call("healthCheck", "healthCheck", () => client.health.healthCheck());

current = "advanceClock";
const advanced = await recordingFetch(`${baseUrl}/__admin/clock`, {
  method: "POST",
  headers: { "Content-Type": "application/json" },
  body: JSON.stringify({ advance_seconds: 60 }),
});
const moved = await advanced.text();
calls.advanceClock = advanced.ok
  ? { ok: true, value: JSON.parse(moved) }
  : { ok: false, error: { name: "HTTP", statusCode: advanced.status, message: moved } };
current = null;

await call("checkAuthz.nextWindow", "checkAuthz", () =>
  gateway.checkAuthz(invoices(secret), gatewayOptions),
);
// Steps 3 and 4 of the gateway: a value that cannot be a key, and one of the
// right shape that no key has.
await call("checkAuthz.malformed", "checkAuthz", () =>
  gateway.checkAuthz(invoices("not-a-key"), gatewayOptions),
);
await call("checkAuthz.unknown", "checkAuthz", () =>
  gateway.checkAuthz(invoices(`sk_sdk_${"A".repeat(43)}`), gatewayOptions),
);

// --- the audit of the checks above ---
const auditPage = await call("getApiAuditLogs", "getApiAuditLogs", () =>
  api.getApiAuditLogs("sdk-app", { limit: 3 }),
);
await call("getApiAuditLogs.next", "getApiAuditLogs", () =>
  api.getApiAuditLogs("sdk-app", { limit: 3, cursor: auditPage?.next_cursor ?? undefined }),
);
await call("getApiAuditLogs.blocked", "getApiAuditLogs", () =>
  api.getApiAuditLogs("sdk-app", { outcome: "blocked", key_id: keyId }),
);
await call("getApiAuditAnalytics", "getApiAuditAnalytics", () =>
  api.getApiAuditAnalytics("sdk-app", {
    key_id: keyId,
    include_top_keys: true,
    include_top_paths: true,
    include_blocked_reasons: true,
    include_rate_limits: true,
  }),
);
await call("getApiAuditTimeseries", "getApiAuditTimeseries", () =>
  api.getApiAuditTimeseries("sdk-app", { interval: "minute" }),
);

// --- rotation and revocation ---
const rotated = await call("rotateApiKey", "rotateApiKey", () => api.rotateApiKey("sdk-app", keyId));
await call("checkAuthz.oldSecret", "checkAuthz", () =>
  gateway.checkAuthz(invoices(secret), gatewayOptions),
);
await call("checkAuthz.newSecret", "checkAuthz", () =>
  gateway.checkAuthz(invoices(rotated?.secret ?? ""), gatewayOptions),
);
await call("listApiKeys.inactive", "listApiKeys", () =>
  api.listApiKeys("sdk-app", { include_inactive: true }),
);
await call("revokeApiKey", "revokeApiKey", () =>
  api.revokeApiKey("sdk-app", rotated?.id ?? "0", { reason: "SDK test done" }),
);
await call("revokeApiKey.again", "revokeApiKey", () =>
  api.revokeApiKey("sdk-app", rotated?.id ?? "0", {}),
);
await call("checkAuthz.revoked", "checkAuthz", () =>
  gateway.checkAuthz(invoices(rotated?.secret ?? ""), gatewayOptions),
);
await call("listApiKeys.afterRevoke", "listApiKeys", () => api.listApiKeys("sdk-app", {}));

// --- the backend's own rate limit on a limited key ---
for (let n = 1; n <= 6; n += 1) {
  await call(`limited.${n}`, "listRateLimitSchemes", () => limited.apiKeys.listRateLimitSchemes());
}

// --- clean up: a scheme in use cannot go; the app first, then the scheme ---
await call("deleteRateLimitScheme.inUse", "deleteRateLimitScheme", () =>
  api.deleteRateLimitScheme("sdk-tight"),
);
await call("deleteApiAuthApp", "deleteApiAuthApp", () => api.deleteApiAuthApp("sdk-app"));
await call("getApiAuthApp.deleted", "getApiAuthApp", () => api.getApiAuthApp("sdk-app"));
await call("deleteRateLimitScheme", "deleteRateLimitScheme", () =>
  api.deleteRateLimitScheme("sdk-tight"),
);

const exported = {
  apiKeys: Object.keys(client.apiKeys),
  gateway: Object.keys(client.gateway),
  health: Object.keys(client.health),
};
process.stdout.write(JSON.stringify({ calls, exchanges, exports: exported, called: [...called] }));
