-- Shared by the wrk scripts of bench/ (loaded with dofile from beside them).
--
-- Arguments after wrk's `--`: RUN_ID [IDS_DIR]
--   RUN_ID   makes every slug of this wrk run unique (the runner passes a new
--            one per run, so slugs never repeat across rounds or warm-ups);
--   IDS_DIR  when given, each thread appends the `id` of every app it created
--            to IDS_DIR/ids-<thread>.txt, so that the runner can check that no
--            two worker processes ever handed out the same id.
--
-- `done` prints one line, `RESULT {json}`, that bench/run.py parses.

local threads = {}

function setup(thread)
  thread:set("thread_id", #threads)
  table.insert(threads, thread)
end

function init(args)
  run_id = args[1] or tostring(os.time())
  created_prefix = '"app_slug":"bench-' .. run_id .. '-'
  statuses = {}
  counter = 0
  local ids_dir = args[2]
  if ids_dir and ids_dir ~= "" and ids_dir ~= "-" then
    ids_file = assert(io.open(string.format("%s/ids-%d.txt", ids_dir, thread_id), "a"))
    -- Line-buffered: wrk never closes a thread's Lua state, so a buffer
    -- still full when the run ends would be lost.
    ids_file:setvbuf("line")
  end
end

-- A slug no other request of any thread, round or run has used.
function unique_slug()
  counter = counter + 1
  return string.format("bench-%s-%d-%d", run_id, thread_id, counter)
end

auth_json = { ["Authorization"] = "Bearer sk_test_mock", ["Content-Type"] = "application/json" }
auth_only = { ["Authorization"] = "Bearer sk_test_mock" }

-- `headers` defaults to the key and the JSON content type (sessions.lua adds one).
function create_request(slug, headers)
  local body = string.format(
    '{"app_slug":"%s","name":"Benchmark app %d","key_prefix":"sk_live",' ..
    '"description":"Created by the benchmark","rate_limit_scheme_slug":"standard-api",' ..
    '"permissions":["apps:read","apps:write"],"resources":["billing","reports"]}',
    slug, counter)
  return wrk.format("POST", "/api-auth/apps", headers or auth_json, body)
end

-- Count every status; keep the id of every app this run created (its body
-- names one of this run's slugs; a GET of a demo app does not).
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if ids_file and status == 200 and body:find(created_prefix, 1, true) then
    local id = body:match('^{"id":"(%d+)"')
    if id then ids_file:write(id, "\n") end
  end
end

function done(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      counts[status] = (counts[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(counts) do
    table.insert(parts, string.format('"%d":%d', status, n))
  end
  -- Scripts that read a decision from each answer (gateway.lua) count them in
  -- a global `decisions` table: {name = count}.
  local decided = {}
  for _, thread in ipairs(threads) do
    for name, n in pairs(thread:get("decisions") or {}) do
      decided[name] = (decided[name] or 0) + n
    end
  end
  local decision_parts = {}
  for name, n in pairs(decided) do
    table.insert(decision_parts, string.format('"%s":%d', name, n))
  end
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"socket_errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},"statuses":{%s},' ..
    '"decisions":{%s}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, e.connect, e.read, e.write, e.timeout, table.concat(parts, ","),
    table.concat(decision_parts, ",")))
end
