-- wrk script of the HTTP smoke test (tests/http/http_smoke.py): DEPTH pipelined GETs per write
-- (wrk ... -s checked_pipeline.lua -- DEPTH), and every response checked: status 200 and the
-- body "Hello, World!". done() prints "checked N bad M" (over all threads) for the caller.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local depth = tonumber(args[1] or "1")
  local one = wrk.format("GET", "/plaintext")
  pipelined = string.rep(one, depth)
  checked = 0
  bad = 0
end

function request()
  return pipelined
end

function response(status, headers, body)
  checked = checked + 1
  if status ~= 200 or body ~= "Hello, World!" or headers["Date"] == nil then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local all_checked, all_bad = 0, 0
  for _, thread in ipairs(threads) do
    all_checked = all_checked + thread:get("checked")
    all_bad = all_bad + thread:get("bad")
  end
  io.write(string.format("checked %d bad %d\n", all_checked, all_bad))
end
