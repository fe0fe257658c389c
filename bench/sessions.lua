-- wrk script: the creates of create.lua spread over COUNT sessions in turn
-- (header X-Mockserver-Session: PREFIX-0 ... PREFIX-<COUNT-1>).
--   wrk -t2 -c16 -d10s -s bench/sessions.lua http://127.0.0.1:4010 -- RUN_ID IDS_DIR PREFIX COUNT
-- The same PREFIX for the warm-up and the measured run: the sessions are made
-- in the warm-up, and the measured run shows their steady state.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

local common_init = init

function init(args)
  common_init(args)
  session_prefix = args[3]
  session_count = tonumber(args[4])
  step = thread_id
end

function request()
  step = step + 1
  local headers = {
    ["Authorization"] = "Bearer sk_test_mock",
    ["Content-Type"] = "application/json",
    ["X-Mockserver-Session"] = string.format("%s-%d", session_prefix, step % session_count),
  }
  return create_request(unique_slug(), headers)
end
