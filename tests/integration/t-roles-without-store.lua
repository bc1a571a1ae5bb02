-- Confirms that with the store missing, postmaster and abuse (with a subaddress too, and at a domain the config lists as a U-label) still get CONTINUE, other recipients of the config's domains a tempfail, other domains CONTINUE.
--! no-store
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
   rcpt("<postmaster@customer.example>", SMFIR_CONTINUE)
   rcpt("<Postmaster+x@customer.example>", SMFIR_CONTINUE)
   rcpt('<"abuse"@customer.example>', SMFIR_CONTINUE)
   rcpt("<postmaster@b\195\188cher.example>", SMFIR_CONTINUE)
   rcpt("<alice@customer.example>", SMFIR_REPLYCODE)
   rcpt("<info@xn--bcher-kva.example>", SMFIR_REPLYCODE)
   rcpt("<someone@elsewhere.example>", SMFIR_CONTINUE)
end)
mt.disconnect(conn)
if not ok then
   mt.echo("FAIL " .. tostring(msg))
   error(msg)
end
mt.echo("ALL PASSED")
