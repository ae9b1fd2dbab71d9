-- wrk script for `make bench`: one tracker hit per request, as a browser sends it. Each request is
-- a pageview of the site given after `--`, from its own X-Forwarded-For address (the node trusts
-- the loopback proxy), so every hit is a new cookieless visitor and no per-address or per-visitor
-- limit is reached. Prints how many answers were not 202.
local site = "localhost"
local counter = 0
local thread_index = 0
local threads = {}

function setup(thread)
  thread:set("index", thread_index)
  thread_index = thread_index + 1
  table.insert(threads, thread)
end

function init(args)
  site = args[1] or site
  refused = 0
end

function request()
  counter = counter + 1
  local n = counter * 2 + index
  local address = string.format("100.%d.%d.%d", 64 + math.floor(n / 65536) % 64, math.floor(n / 256) % 256, n % 256)
  local body = string.format('{"site":"%s","url":"https://%s/p/%d","referrer":"https://t.co/x"}', site, site, n % 50)
  return wrk.format("POST", "/api/event", {["Content-Type"] = "text/plain", ["X-Forwarded-For"] = address,
    ["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"}, body)
end

function response(status, headers, body)
  if status ~= 202 then refused = refused + 1 end
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do total = total + thread:get("refused") end
  io.write(string.format("non-202 answers: %d\n", total))
end
