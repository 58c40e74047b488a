-- Warms the cache: each connection walks u_1 … u_ROWS in turn.
local token = os.getenv("BENCH_TOKEN")
local rows = tonumber(os.getenv("BENCH_ROWS") or "100000")
local counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Reeve-Services-Token"] = token
setup = function(thread) thread:set("offset", math.random(1, rows)) end
request = function()
    counter = counter + 1
    local user = (counter + (offset or 0)) % rows + 1
    return wrk.format(nil, nil, nil, '{"provider":"stripe","user_id":"u_' .. user .. '"}')
end
