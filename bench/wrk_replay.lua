-- wrk script of bench/mock_bench.py: sends pre-signed, distinct Beckn requests, never one twice.
--
-- The file (the first script argument) holds one request per line: path, Authorization header
-- and body, separated by tabs (a JSON body written by orjson holds no raw tab or newline).
-- Each wrk thread takes every n-th line (n: the second argument, the thread count), so no two
-- threads send the same signed request: a replayed signature is refused, and a refusal is not
-- what is measured. A thread that runs out of lines starts over and its repeats show up as
-- non-2xx answers in the summary.
--
-- At the end it prints one JSON line, "WRK_RESULT {...}", read by the benchmark.

local counter = 0
local threads = {}

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local file, nthreads = args[1], tonumber(args[2])
  requests_ = {}
  local index = 0
  for line in io.lines(file) do
    if index % nthreads == id then
      local path, auth, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
      table.insert(requests_, wrk.format("POST", path, {
        ["Content-Type"] = "application/json", ["Authorization"] = auth}, body))
    end
    index = index + 1
  end
  next_ = 0
end

function request()
  next_ = next_ % #requests_ + 1
  return requests_[next_]
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests": %d, "duration_us": %d, "non_2xx": %d, "connect": %d, ' ..
    '"read": %d, "write": %d, "timeout": %d, "p50_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, errors.status, errors.connect, errors.read,
    errors.write, errors.timeout, latency:percentile(50), latency:percentile(99), latency.max))
end
