-- Confirms that, without {rcpt_addr} (Sendmail's raw argument), a quoted dot-atom is its mailbox, a U-label domain is its A-label, postmaster+x is postmaster, and every delimiter position is tried (issue 14).
--@ subaddress_delimiters = "+-"
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
   assert(mt.getreply(conn) == SMFIR_CONTINUE)
   assert(mt.mailfrom(conn, "<s@outside.example>") == nil)
   assert(mt.getreply(conn) == SMFIR_CONTINUE)
   -- The rows of the report, no {rcpt_addr} macro anywhere.
   rcpt('<"alice"@customer.example>', SMFIR_CONTINUE)
   rcpt("<nobody@b\195\188cher.example>", SMFIR_REPLYCODE)
   rcpt("<postmaster+x@customer.example>", SMFIR_CONTINUE)
   rcpt("<mary-jane+news@customer.example>", SMFIR_CONTINUE)
   -- Neighbours.
   rcpt('<"a\\lice"@Customer.Example>', SMFIR_CONTINUE)
   rcpt('<"john doe"@customer.example>', SMFIR_REPLYCODE)
   rcpt('<"alice."@customer.example>', SMFIR_REPLYCODE)
   rcpt("<info@B\195\156CHER.example>", SMFIR_CONTINUE)
   rcpt("<info@xn--bcher-kva.example>", SMFIR_CONTINUE)
   rcpt("<info@\226\152\131.example>", SMFIR_CONTINUE)
   rcpt("<abuse+x@customer.example>", SMFIR_CONTINUE)
   rcpt("<+++@customer.example>", SMFIR_REPLYCODE)
   rcpt("<mary+jane@customer.example>", SMFIR_REPLYCODE)
end)
mt.disconnect(conn)
if not ok then
   mt.echo("FAIL " .. tostring(msg))
   error(msg)
end
mt.echo("ALL PASSED")
