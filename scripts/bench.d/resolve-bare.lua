-- GET /healthz through a request() function, as resolve-random.lua sends its requests: wrk then pays for the
-- same call into Lua per request in the bare run as in the resolve runs (see scripts/bench.d/resolve).
local prepared
init = function(args)
    prepared = wrk.format("GET", "/healthz")
end
request = function()
    return prepared
end
