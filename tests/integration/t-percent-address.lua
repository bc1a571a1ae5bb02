-- Confirms that addresses with % (and other reply-format hazards) get their reply and leave the connection working: a known 100%off passes, an unknown one with % or %s%n is refused.
dofile(mta or error("run with -D mta=tests/integration/mta.lua"))
local sock = sock or error("run with -D sock=unix:/path")
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
   mt.echo("ok   " .. string.sub(addr, 1, 60) .. " -> " .. string.char(math.floor(got)))
end

local ok, msg = pcall(function()
   assert(mt.conninfo(conn, "client.example", "192.0.2.7") == nil)
   assert(mt.mailfrom(conn, "<s@outside.example>") == nil)
   rcpt("<100%off@customer.example>", SMFIR_CONTINUE)
   rcpt("<50%off@customer.example>", SMFIR_REPLYCODE)
   rcpt("<%s%n%d@customer.example>", SMFIR_REPLYCODE)
   rcpt("<bob%other.example@customer.example>", SMFIR_REPLYCODE)
   rcpt("<" .. string.rep("x", 1000) .. "@customer.example>", SMFIR_REPLYCODE)
   rcpt("<alice@customer.example>", SMFIR_CONTINUE)
end)
mt.disconnect(conn)
if not ok then
   mt.echo("FAIL " .. tostring(msg))
   error(msg)
end
mt.echo("ALL PASSED")
