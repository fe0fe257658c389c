-- wrk script: POST /api-auth/apps with a unique slug per request and a
-- realistic body; counts responses by status so the runner can report any
-- that were not 200.
local counter = 0

local threads = {}

function setup(thread)
  thread:set("thread_id", #threads)
  table.insert(threads, thread)
end

function init(args)
  run_id = args[1] or tostring(os.time())
  statuses = {}
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"app_slug":"bench-%s-%d-%d","name":"Benchmark app %d","key_prefix":"sk_live",' ..
    '"description":"Created by the benchmark","rate_limit_scheme_slug":"standard-api",' ..
    '"permissions":["apps:read","apps:write"],"resources":["billing","reports"]}',
    run_id, thread_id, counter, counter)
  return wrk.format("POST", "/api-auth/apps", {
    ["Authorization"] = "Bearer sk_test_mock",
    ["Content-Type"] = "application/json",
  }, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    local s = thread:get("statuses")
    for status, n in pairs(s) do counts[status] = (counts[status] or 0) + n end
  end
  local parts = {}
  for status, n in pairs(counts) do table.insert(parts, string.format('"%d":%d', status, n)) end
  io.write(string.format(
    'RESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"errors":%d,"statuses":{%s}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    table.concat(parts, ",")))
end
