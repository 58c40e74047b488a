-- POST /internal/v1/resolve for the users u_1 … u_ROWS (all connected to stripe), each wrk thread going through
-- all of them in a random order of its own, round and round. The requests are made in init, before wrk starts
-- its clock: made one at a time in request() (wrk.format for each), they cost wrk ~3 µs more per request on the
-- same cores as the daemon.
local token = os.getenv("BENCH_TOKEN")
local rows = tonumber(os.getenv("BENCH_ROWS") or "100000")
local threads = 0
local requests = {}
local next = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Reeve-Services-Token"] = token
setup = function(thread)
    threads = threads + 1
    thread:set("seed", threads)
end
init = function(args)
    math.randomseed(os.time() * 1000 + seed)
    local order = {}
    for i = 1, rows do order[i] = i end
    for i = rows, 2, -1 do
        local j = math.random(i)
        order[i], order[j] = order[j], order[i]
    end
    for i = 1, rows do
        requests[i] = wrk.format(nil, nil, nil, '{"provider":"stripe","user_id":"u_' .. order[i] .. '"}')
    end
end
request = function()
    next = next % rows + 1
    return requests[next]
end
