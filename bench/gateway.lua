-- wrk script: POST /gateway/v1/authz/check with one key, over and over, and
-- count each answer's decision (allowed or denied) in `decisions`.
--   wrk -t2 -c16 -d10s -s bench/gateway.lua http://127.0.0.1:4010 -- RUN_ID - SECRET
-- The key and its app are made by the runner (bench/features.py) through the API.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

local common_init = init

function init(args)
  common_init(args)
  decisions = {}
  local body = string.format(
    '{"principal":{"type":"api_key","value":"%s"},"resource":"/v1/invoices",' ..
    '"method":"GET","required_permissions":["invoices:read"]}', args[3])
  check = wrk.format("POST", "/gateway/v1/authz/check",
    { ["Content-Type"] = "application/json" }, body)
end

function request()
  return check
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status == 200 then
    local decision = "unreadable"
    if body:find('"allowed"%s*:%s*true') then
      decision = "allowed"
    elseif body:find('"allowed"%s*:%s*false') then
      decision = "denied"
    end
    decisions[decision] = (decisions[decision] or 0) + 1
  end
end
