-- Confirms that in report mode nothing is refused (unknown and never-synced recipients get CONTINUE) and each would-be refusal is logged as would_reject / would_tempfail.
--@ mode = "report"
dofile(mta or error("run with -D mta=tests/integration/mta.lua"))
local sock = sock or error("run with -D sock=unix:/path")
local logfile = logfile or error("run with -D logfile=/path/to/milter.log")
local conn = mt.connect(sock, 40, 0.25)
if conn == nil then error("mt.connect() failed") end

local function rcpt(addr, want)
   local err = mt.rcptto(conn, addr)
   if err ~= nil then error("rcptto " .. addr .. ": " .. err) end
   local got = mt.getreply(conn)
   if got ~= want then
      error(string.format("%s: reply %q, expected %q", addr,
            string.char(math.floor(got)), string.char(math.floor(want))))
   end
   mt.echo("ok   " .. addr .. " -> " .. string.char(math.floor(got)))
end

-- Polls the milter's log (up to 10 s) for a line containing every pattern (plain text).
local function expect_log(...)
   local patterns = { ... }
   for _ = 1, 100 do
      local f = io.open(logfile, "r")
      if f ~= nil then
         for line in f:lines() do
            local all = true
            for _, p in ipairs(patterns) do
               if not string.find(line, p, 1, true) then all = false break end
            end
            if all then f:close() mt.echo("ok   log: " .. line) return end
         end
         f:close()
      end
      mt.sleep(0.1)
   end
   error("no log line with: " .. table.concat(patterns, " "))
end

local ok, msg = pcall(function()
   assert(mt.conninfo(conn, "client.example", "192.0.2.7") == nil)
   assert(mt.mailfrom(conn, "<s@outside.example>") == nil)
   rcpt("<nobody@customer.example>", SMFIR_CONTINUE)
   rcpt("<dave@tailspin.example>", SMFIR_CONTINUE)
   rcpt("<alice@customer.example>", SMFIR_CONTINUE)
   expect_log("action=would_reject", "to=<nobody@customer.example>", "tenant=contoso",
              "reason=unknown_recipient", "code=550", "status=5.1.1")
   expect_log("action=would_tempfail", "to=<dave@tailspin.example>", "tenant=tailspin",
              "reason=cache_unavailable", "code=451", "status=4.3.0")
end)
mt.disconnect(conn)
if not ok then
   mt.echo("FAIL " .. tostring(msg))
   error(msg)
end
mt.echo("ALL PASSED")
