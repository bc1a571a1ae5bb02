-- Confirms that known recipients, aliases, subaddresses, postmaster and unmanaged domains get CONTINUE (never ACCEPT), and that a known first recipient does not let an unknown second one through.
dofile(mta or error("run with -D mta=tests/integration/mta.lua"))
local sock = sock or error("run with -D sock=unix:/path")
local conn = mt.connect(sock, 40, 0.25)
if conn == nil then error("mt.connect() failed") end

local function rcpt(addr, want, rcpt_addr)
   if rcpt_addr ~= nil then mt.macro(conn, SMFIC_RCPT, "{rcpt_addr}", rcpt_addr) end
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
   assert(mt.getreply(conn) == SMFIR_CONTINUE)
   assert(mt.mailfrom(conn, "<s@outside.example>") == nil)
   assert(mt.getreply(conn) == SMFIR_CONTINUE)
   -- Without {rcpt_addr}: the raw argument is parsed (Sendmail without the macro).
   rcpt("<alice@customer.example>", SMFIR_CONTINUE)
   rcpt("<Alice.Smith@Customer.Example>", SMFIR_CONTINUE)
   rcpt("<bob+newsletter@customer.example>", SMFIR_CONTINUE)
   rcpt("<postmaster@customer.example>", SMFIR_CONTINUE)
   rcpt("<dyn-group@customer.example>", SMFIR_CONTINUE)
   rcpt("<anyone@elsewhere.example>", SMFIR_CONTINUE)
   rcpt("<bob@sub.customer.example>", SMFIR_CONTINUE)
   -- A known recipient first, then an unknown one: still refused (CONTINUE, not ACCEPT).
   rcpt("<bob@customer.example>", SMFIR_CONTINUE)
   rcpt("<nobody@customer.example>", SMFIR_REPLYCODE)
   -- With {rcpt_addr}, as Postfix sends it: the macro wins over the raw argument.
   rcpt("<Bob@Customer.Example.>", SMFIR_CONTINUE, "bob@customer.example")
   rcpt("<whatever@customer.example>", SMFIR_CONTINUE, "alice@customer.example")
end)
mt.disconnect(conn)
if not ok then
   mt.echo("FAIL " .. tostring(msg))
   error(msg)
end
mt.echo("ALL PASSED")
