-- wrk script for POST /v1/chat (Focal, or the bare gin handler doing the
-- same JSON work). Each request varies the user and the message; each
-- answer is checked: a 2xx status and a body that is a real turn (a turn_id,
-- a session_id and a non-empty response). done() writes the counts and
-- latency percentiles as JSON to the output file.
--
-- wrk -t1 -cN -dD -s chat.lua URL -- token agent mode users runid messages out [delay_ms] [key_percent]
--   mode: new (every request a new user), returning (users ret-0..ret-<users-1>,
--   which the bench has given their history), mix (7 of 10 returning).

local token, agent, mode, users, runid, out
local delay_ms, key_percent = 0, 0
local messages = {}
local counter, returning = 0, 0
ok, non2xx, invalid = 0, 0, 0
sample = ""

function init(args)
	token, agent, mode, users, runid, out = args[1], args[2], args[3], tonumber(args[4]), args[5], args[7]
	delay_ms, key_percent = tonumber(args[8] or "0"), tonumber(args[9] or "0")
	for line in io.lines(args[6]) do
		messages[#messages + 1] = line
	end
	wrk.method = "POST"
	wrk.headers["Content-Type"] = "application/json"
	wrk.headers["Authorization"] = "Bearer " .. token
	output = out
end

function request()
	counter = counter + 1
	local user
	if mode == "returning" or (mode == "mix" and counter % 10 < 7) then
		returning = returning + 1
		user = "ret-" .. (returning % users)
	else
		user = "new-" .. runid .. "-" .. counter
	end
	local msg = messages[counter % #messages + 1]
	local body = '{"agent_id":"' .. agent .. '","channel":"bench","user_channel_id":"' .. user .. '","message":"' .. msg .. '"}'
	if key_percent > 0 and counter % 100 < key_percent then
		-- wrk.format takes these headers instead of wrk.headers, not on top.
		return wrk.format(nil, nil, {
			["Content-Type"] = "application/json",
			["Authorization"] = "Bearer " .. token,
			["Idempotency-Key"] = runid .. "-" .. counter,
		}, body)
	end
	return wrk.format(nil, nil, nil, body)
end

function delay()
	return delay_ms
end

function response(status, headers, body)
	if status < 200 or status > 299 then
		non2xx = non2xx + 1
		if sample == "" then sample = status .. " " .. body end
		return
	end
	if body:find('"turn_id":"[^"]+"') and body:find('"session_id":"[^"]+"') and body:find('"response":"[^"]') then
		ok = ok + 1
	else
		invalid = invalid + 1
		if sample == "" then sample = status .. " " .. body end
	end
end

local threads = {}

function setup(thread)
	threads[#threads + 1] = thread
end

function done(summary, latency, requests)
	local total = { ok = 0, non2xx = 0, invalid = 0 }
	local path, bad = nil, ""
	for _, t in ipairs(threads) do
		total.ok = total.ok + t:get("ok")
		total.non2xx = total.non2xx + t:get("non2xx")
		total.invalid = total.invalid + t:get("invalid")
		path = t:get("output")
		if bad == "" then bad = t:get("sample") end
	end
	local e = summary.errors
	local f = assert(io.open(path, "w"))
	f:write(string.format('{"requests":%d,"duration_us":%d,"ok":%d,"non2xx":%d,"invalid":%d,' ..
		'"socket_errors":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\n',
		summary.requests, summary.duration, total.ok, total.non2xx, total.invalid,
		e.connect + e.read + e.write + e.timeout,
		latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
	f:close()
	if bad ~= "" then
		local s = assert(io.open(path .. ".sample", "w"))
		s:write(bad)
		s:close()
	end
end
