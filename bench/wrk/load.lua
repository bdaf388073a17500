-- wrk's script for the benches: with a file argument (`-- bodies.tsv`), POSTs a different body
-- on every request, one "<bearer key>\t<JSON body>" a line, each thread from its own offset; without
-- one, wrk's own request. Either way it ends with one line of figures that bench/wrkrun.py reads.
local keys, bodies, index = {}, {}, 1
local threads = {}

function setup(thread)
  thread:set("offset", #threads)
  threads[#threads + 1] = thread
end

function init(args)
  if args[1] == nil then return end
  for line in io.lines(args[1]) do
    local key, body = line:match("^([^\t]*)\t(.*)$")
    keys[#keys + 1], bodies[#bodies + 1] = key, body
  end
  index = (offset * 7919) % #bodies + 1
end

function request()
  if #bodies == 0 then return wrk.format() end
  local i = index
  index = index % #bodies + 1
  return wrk.format("POST", nil, {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. keys[i]},
                    bodies[i])
end

-- The first answer that was not 2xx/3xx, so a bench can say what went wrong.
function response(status, headers, body)
  if status >= 400 and rejected == nil then
    rejected = status .. " " .. (body or ""):sub(1, 300):gsub("%s+", " ")
  end
end

function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    local first = thread:get("rejected")
    if first ~= nil then
      io.write("wrk-rejected " .. first .. "\n")
      break
    end
  end
  local e = summary.errors
  io.write(string.format("wrk-result requests=%d duration_us=%d p50_us=%d p99_us=%d max_us=%d status_errors=%d "
    .. "socket_errors=%d\n", summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, e.status, e.connect + e.read + e.write + e.timeout))
end
