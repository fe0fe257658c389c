-- wrk script for `bench/run.py --soak`: valid and invalid requests mixed, to
-- see whether memory stops growing once state stops growing.
--   wrk ... -s bench/soak.lua URL -- RUN_ID IDS_DIR PHASE
-- PHASE "grow":   1 in 4 a create (state grows), 1 in 4 a read, 2 in 4 invalid;
-- PHASE "steady": 2 in 4 reads, 2 in 4 invalid: nothing is stored any more.
-- Invalid requests carry a new value each time (unknown keys, slugs, paths),
-- so that a cache keyed by anything the client sends would show as growth.
-- Every answer is expected to be one of 200, 400, 401, 404, 405, 409, 415, 422.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

local json_only = { ["Content-Type"] = "application/json" }
local demo_apps = { "billing-sync", "analytics-export", "support-bot", "partner-portal" }

local reads = {
  function() return wrk.format("GET", "/api-auth/apps?limit=20", auth_only) end,
  function(n) return wrk.format("GET", "/api-auth/apps/" .. demo_apps[n % #demo_apps + 1], auth_only) end,
  function() return wrk.format("GET", "/api-auth/apps?limit=5&offset=3&include_inactive=true", auth_only) end,
  function(n) return wrk.format("GET", "/api-auth/apps?search=no-such-" .. n, auth_only) end,
  function() return wrk.format("GET", "/api-auth/rate-limit-schemes", auth_only) end,
}

local invalid = {
  -- 400: malformed JSON
  function(n) return wrk.format("POST", "/api-auth/apps", auth_json, '{"app_slug": "broken-' .. n .. '",') end,
  -- 422: wrong types, several violations at once
  function(n) return wrk.format("POST", "/api-auth/apps", auth_json,
    string.format('{"app_slug":%d,"name":["x"],"permissions":["read",%d]}', n, n)) end,
  -- 401: no Authorization header
  function(n) return wrk.format("POST", "/api-auth/apps", json_only,
    '{"app_slug":"noauth-' .. n .. '","name":"x","key_prefix":"sk"}') end,
  -- 401: a key nobody has
  function(n) return wrk.format("GET", "/api-auth/apps", { ["Authorization"] = "Bearer sk_unknown_" .. n }) end,
  -- 404: unknown slug
  function(n) return wrk.format("GET", "/api-auth/apps/no-such-app-" .. run_id .. "-" .. n, auth_only) end,
  -- 415: not JSON
  function(n) return wrk.format("POST", "/api-auth/apps",
    { ["Authorization"] = "Bearer sk_test_mock", ["Content-Type"] = "text/plain" }, "slug " .. n) end,
  -- 400: a query value that is not a number
  function(n) return wrk.format("GET", "/api-auth/apps?limit=ten" .. n, auth_only) end,
  -- 409: a slug that is taken
  function(n) return wrk.format("POST", "/api-auth/apps", auth_json,
    '{"app_slug":"billing-sync","name":"Dup ' .. n .. '","key_prefix":"sk_live"}') end,
  -- 404: unknown path
  function(n) return wrk.format("GET", "/api-auth/nothing-" .. n, auth_only) end,
  -- 405: known path, wrong method
  function() return wrk.format("PUT", "/api-auth/apps", auth_json, "{}") end,
  -- 422: PATCH with a wrong type
  function(n) return wrk.format("PATCH", "/api-auth/apps/billing-sync", auth_json,
    '{"name":' .. n .. '}') end,
  -- 400: deleting a scheme that apps use
  function() return wrk.format("DELETE", "/api-auth/rate-limit-schemes/standard-api", auth_only) end,
}

local step, read_step, invalid_step = 0, 0, 0

function request()
  step = step + 1
  local slot = step % 4
  if slot == 0 and phase == "grow" then
    return create_request(unique_slug())
  elseif slot <= 1 then
    read_step = read_step + 1
    return reads[read_step % #reads + 1](read_step)
  else
    invalid_step = invalid_step + 1
    return invalid[invalid_step % #invalid + 1](invalid_step)
  end
end

local common_init = init
function init(args)
  common_init(args)
  phase = args[3] or "grow"
end
