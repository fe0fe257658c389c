-- wrk script: a read-heavy mix, as a frontend listing and opening apps makes:
-- 80% GET /api-auth/apps?limit=20, 15% GET /api-auth/apps/{demo app},
-- 5% creates. The mix is a fixed cycle of 20 requests per thread, not random,
-- so that every run sends the same requests. See common.lua for the arguments.
--   wrk -t2 -c16 -d10s -s bench/mix.lua http://127.0.0.1:4010 -- RUN_ID [IDS_DIR]
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

-- Demo apps of fixtures/apps.yaml (all active).
local demo_apps = { "billing-sync", "analytics-export", "support-bot", "partner-portal" }
local step = 0

function request()
  step = step + 1
  local slot = step % 20
  if slot == 0 then                       -- 1 in 20: create
    return create_request(unique_slug())
  elseif slot <= 3 then                   -- 3 in 20: one app
    local slug = demo_apps[(step % #demo_apps) + 1]
    return wrk.format("GET", "/api-auth/apps/" .. slug, auth_only)
  else                                    -- 16 in 20: a page of the list
    return wrk.format("GET", "/api-auth/apps?limit=20", auth_only)
  end
end
