-- Sends milter_metrics.sh's known sequence of RCPTs (one connection from 192.0.2.7) and checks each reply; the script then checks the counts in m365gate_milter.prom.
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
   mt.echo("ok   " .. addr .. " -> " .. string.char(math.floor(got)))
end

local ok, msg = pcall(function()
   assert(mt.conninfo(conn, "client.example", "192.0.2.7") == nil)
   assert(mt.mailfrom(conn, "<s@outside.example>") == nil)
   rcpt("<alice@customer.example>", SMFIR_CONTINUE)        -- known
   rcpt("<alice+news@customer.example>", SMFIR_CONTINUE)   -- known_subaddress
   rcpt("<postmaster@customer.example>", SMFIR_CONTINUE)   -- always_accept
   rcpt("<someone@outside.example>", SMFIR_CONTINUE)       -- unmanaged_domain, no tenant
   rcpt("<dave@tailspin.example>", SMFIR_CONTINUE)         -- report-mode tenant, never synced
   rcpt("<nobody1@customer.example>", SMFIR_REPLYCODE)     -- 550, unknown_recipient
   rcpt("<nobody2@customer.example>", SMFIR_REPLYCODE)
   rcpt("<nobody3@customer.example>", SMFIR_REPLYCODE)     -- the third crosses the threshold
   rcpt("<bob@customer.example>", SMFIR_REPLYCODE)         -- 450: the client is blocked
end)
mt.disconnect(conn)
if not ok then
   mt.echo("FAIL " .. tostring(msg))
   error(msg)
end
mt.echo("ALL PASSED")
