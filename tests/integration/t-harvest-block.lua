-- Confirms the harvest defence with action "450": a client's 20th unknown recipient crosses the threshold (one harvest line), every later RCPT of that client but postmaster gets 450 4.7.1, and another client is not affected.
--@ harvest.threshold = 20
--@ harvest.action = "450"
dofile(mta or error("run with -D mta=tests/integration/mta.lua"))
local sock = sock or error("run with -D sock=unix:/path")
local logfile = logfile or error("run with -D logfile=/path/to/milter.log")
local rejections = string.gsub(logfile, "milter%.log$", "rejections.jsonl")

local function rcpt(conn, addr, want)
   local err = mt.rcptto(conn, addr)
   if err ~= nil then error("rcptto " .. addr .. ": " .. err) end
   local got = mt.getreply(conn)
   if got ~= want then
      error(string.format("%s: reply %q, expected %q", addr,
            string.char(math.floor(got)), string.char(math.floor(want))))
   end
end

-- Lines of `file` holding every pattern (plain text).
local function matching(file, patterns)
   local found = {}
   local f = io.open(file, "r")
   if f == nil then return found end
   for line in f:lines() do
      local all = true
      for _, p in ipairs(patterns) do
         if not string.find(line, p, 1, true) then all = false break end
      end
      if all then table.insert(found, line) end
   end
   f:close()
   return found
end

-- Polls `file` (up to 10 s) for a line holding every pattern.
local function expect_line(file, ...)
   local patterns = { ... }
   for _ = 1, 100 do
      local found = matching(file, patterns)
      if #found > 0 then mt.echo("ok   log: " .. found[1]) return end
      mt.sleep(0.1)
   end
   error("no line in " .. file .. " with: " .. table.concat(patterns, " "))
end

local a = mt.connect(sock, 40, 0.25)
if a == nil then error("mt.connect() failed") end
local b = mt.connect(sock, 40, 0.25)
if b == nil then error("mt.connect() failed") end

local ok, msg = pcall(function()
   assert(mt.conninfo(a, "harvester.example", "192.0.2.66") == nil)
   assert(mt.mailfrom(a, "<s@outside.example>") == nil)
   assert(mt.conninfo(b, "mx.b.example", "192.0.2.67") == nil)
   assert(mt.mailfrom(b, "<t@outside.example>") == nil)
   for i = 1, 50 do
      rcpt(a, "<h" .. i .. "@customer.example>", SMFIR_REPLYCODE)
   end
   mt.echo("ok   50 unknown recipients from 192.0.2.66 refused")
   rcpt(a, "<alice@customer.example>", SMFIR_REPLYCODE)   -- blocked, though alice exists
   rcpt(a, "<postmaster@customer.example>", SMFIR_CONTINUE)
   mt.echo("ok   blocked client: alice refused, postmaster accepted")
   rcpt(b, "<alice@customer.example>", SMFIR_CONTINUE)
   rcpt(b, "<h1@customer.example>", SMFIR_REPLYCODE)
   mt.echo("ok   the other client: alice accepted, unknown refused")

   expect_line(logfile, "action=reject", "to=<h20@customer.example>", "reason=unknown_recipient",
               "code=550")
   expect_line(logfile, "event=harvest client_addr=192.0.2.66 client_key=192.0.2.66",
               "client=harvester.example[192.0.2.66]", "action=block code=450", "unknown=20",
               "window=600", "block_for=1800")
   expect_line(logfile, "action=tempfail", "to=<h21@customer.example>", "reason=harvest_blocked",
               "code=450", "status=4.7.1")
   expect_line(logfile, "action=tempfail", "to=<alice@customer.example>",
               "client=harvester.example[192.0.2.66]", "reason=harvest_blocked")
   expect_line(logfile, "action=reject", "client=mx.b.example[192.0.2.67]",
               "to=<h1@customer.example>", "reason=unknown_recipient", "code=550")
   expect_line(rejections, '"action":"harvest"', '"client_addr":"192.0.2.66"',
               '"client_key":"192.0.2.66"', '"unknown":20', '"response":"450"')
   -- Exactly one crossing, though 30 more RCPTs came after it.
   local lines = matching(logfile, { "event=harvest" })
   if #lines ~= 1 then error("expected one harvest line, got " .. #lines) end
   if #matching(logfile, { "reason=harvest_blocked" }) ~= 31 then
      error("expected 31 harvest_blocked lines (h21..h50 and alice)")
   end
   mt.echo("ok   one harvest line, 31 blocked RCPTs")
end)
mt.disconnect(a)
mt.disconnect(b)
if not ok then
   mt.echo("FAIL " .. tostring(msg))
   error(msg)
end
mt.echo("ALL PASSED")
