-- wrk script: POST /api-auth/apps, every request a new app with a unique slug
-- and a realistic body. See common.lua for the arguments and the RESULT line.
--   wrk -t2 -c16 -d10s -s bench/create.lua http://127.0.0.1:4010 -- RUN_ID [IDS_DIR]
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

function request()
  return create_request(unique_slug())
end
