-- POST /internal/v1/resolve for a random user among u_1 … u_ROWS (all connected to stripe).
local token = os.getenv("BENCH_TOKEN")
local rows = tonumber(os.getenv("BENCH_ROWS") or "100000")
math.randomseed(os.time())
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Reeve-Services-Token"] = token
request = function()
    return wrk.format(nil, nil, nil, '{"provider":"stripe","user_id":"u_' .. math.random(1, rows) .. '"}')
end
