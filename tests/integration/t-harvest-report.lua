-- Confirms the harvest defence's default action, report: 50 unknown recipients from one client give one harvest line and nothing more is refused than without it.
--@ harvest.threshold = 20
dofile(mta or error("run with -D mta=tests/integration/mta.lua"))
local sock = sock or error("run with -D sock=unix:/path")
local logfile = logfile or error("run with -D logfile=/path/to/milter.log")

local function rcpt(conn, addr, want)
   local err = mt.rcptto(conn, addr)
   if err ~= nil then error("rcptto " .. addr .. ": " .. err) end
   local got = mt.getreply(conn)
   if got ~= want then
      error(string.format("%s: reply %q, expected %q", addr,
            string.char(math.floor(got)), string.char(math.floor(want))))
   end
end

local function count(patterns)
   local n = 0
   local f = io.open(logfile, "r")
   if f == nil then return 0 end
   for line in f:lines() do
      local all = true
      for _, p in ipairs(patterns) do
         if not string.find(line, p, 1, true) then all = false break end
      end
      if all then n = n + 1 end
   end
   f:close()
   return n
end

local conn = mt.connect(sock, 40, 0.25)
if conn == nil then error("mt.connect() failed") end
local ok, msg = pcall(function()
   -- An IPv6 client: counted by its /64.
   assert(mt.conninfo(conn, "harvester.example", "2001:db8:5:6::1") == nil)
   assert(mt.mailfrom(conn, "<s@outside.example>") == nil)
   for i = 1, 50 do
      rcpt(conn, "<r" .. i .. "@customer.example>", SMFIR_REPLYCODE)
   end
   rcpt(conn, "<alice@customer.example>", SMFIR_CONTINUE)
   mt.echo("ok   50 unknown refused as without the defence, alice accepted")
   for _ = 1, 100 do
      if count({ "reason=unknown_recipient", "to=<r50@customer.example>" }) == 1 then break end
      mt.sleep(0.1)
   end
   local harvest = count({ "event=harvest client_addr=2001:db8:5:6::1",
                           "client_key=2001:db8:5:6::/64", "action=report", "unknown=20",
                           "window=600" })
   if harvest ~= 1 or count({ "event=harvest" }) ~= 1 then
      error("expected exactly one harvest line, action=report; got " .. count({ "event=harvest" }))
   end
   if count({ "block_for=" }) ~= 0 or count({ "reason=harvest_blocked" }) ~= 0 then
      error("report mode blocked something")
   end
   mt.echo("ok   one harvest line, action=report, nothing blocked")
end)
mt.disconnect(conn)
if not ok then
   mt.echo("FAIL " .. tostring(msg))
   error(msg)
end
mt.echo("ALL PASSED")
