-- Warms the cache: the threads share u_1 … u_ROWS between them (thread k of n takes users k, k+n, k+2n, …,
-- round and round); scripts/bench.d/resolve stops wrk once the daemon has counted a miss for every row.
local token = os.getenv("BENCH_TOKEN")
local rows = tonumber(os.getenv("BENCH_ROWS") or "100000")
local step = tonumber(os.getenv("BENCH_WARM_THREADS") or "2")
local threads = 0
local counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Reeve-Services-Token"] = token
setup = function(thread)
    threads = threads + 1
    thread:set("index", threads)
end
request = function()
    local user = (index - 1 + counter * step) % rows + 1
    counter = counter + 1
    return wrk.format(nil, nil, nil, '{"provider":"stripe","user_id":"u_' .. user .. '"}')
end
