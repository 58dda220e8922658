-- post_image.lua — wrk script: POST one image file to every request, for
-- rates curl cannot reach (wrk keeps C connections busy from a few threads).
--   wrk -t2 -c16 -d10s -s tests/load/post_image.lua \
--       http://127.0.0.1:8080/classify -- tests/data/shirt.png
-- Prints, besides wrk's own summary, p50/p90/p99/max and the counts by HTTP
-- status; "failed N" counts every non-2xx answer and socket error.

statuses = {}   -- global: done() reads each thread's copy via thread:get
local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   local path = args[1] or "tests/data/shirt.png"
   local f = assert(io.open(path, "rb"), "cannot open " .. path)
   local body = f:read("*a")
   f:close()
   local ctype = "application/octet-stream"
   if body:sub(1, 4) == "\137PNG" then ctype = "image/png"
   elseif body:sub(1, 2) == "\255\216" then ctype = "image/jpeg" end
   wrk.method = "POST"
   wrk.body = body
   wrk.headers["Content-Type"] = ctype
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
   local by, failed = {}, 0
   for _, t in ipairs(threads) do
      -- each thread's table, read back through wrk's thread:get
      for s, n in pairs(t:get("statuses")) do
         by[s] = (by[s] or 0) + n
         if s < 200 or s > 299 then failed = failed + n end
      end
   end
   local e = summary.errors
   local sockerr = e.connect + e.read + e.write + e.timeout
   io.write(string.format("throughput  %.1f req/s\n", summary.requests / (summary.duration / 1e6)))
   io.write(string.format("latency ms  p50 %.1f  p90 %.1f  p99 %.1f  max %.1f\n",
      latency:percentile(50) / 1e3, latency:percentile(90) / 1e3,
      latency:percentile(99) / 1e3, latency.max / 1e3))
   io.write("status     ")
   for s, n in pairs(by) do io.write(string.format(" %d:%d", s, n)) end
   io.write("\n")
   io.write(string.format("failed      %d (socket errors %d)\n", failed + sockerr, sockerr))
end
