-- Confirms that an unknown recipient of a synced tenant is refused with a custom reply (SMFIR_REPLYCODE: setreply + REJECT), in every message of a connection.
dofile(mta or error("run with -D mta=tests/integration/mta.lua"))
local sock = sock or error("run with -D sock=unix:/path")
local conn = mt.connect(sock, 40, 0.25)
if conn == nil then error("mt.connect() failed") end

local function rcpt(addr, want)
   mt.macro(conn, SMFIC_RCPT, "{rcpt_addr}", string.lower(string.gsub(addr, "[<>]", "")))
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
   assert(mt.conninfo(conn, "mx.outside.example", "192.0.2.7") == nil)
   assert(mt.mailfrom(conn, "<s@outside.example>") == nil)
   rcpt("<nobody@customer.example>", SMFIR_REPLYCODE)
   rcpt("<NOBODY@CUSTOMER.EXAMPLE>", SMFIR_REPLYCODE)
   rcpt("<nobody+tag@customer.example>", SMFIR_REPLYCODE)
   rcpt("<alice@customer.example>", SMFIR_CONTINUE)
   -- The next message on the same connection, after an abort (RSET).
   assert(mt.abort(conn) == nil)
   assert(mt.mailfrom(conn, "<other@outside.example>") == nil)
   rcpt("<nobody2@customer.example>", SMFIR_REPLYCODE)
   rcpt("<bob@customer.example>", SMFIR_CONTINUE)
end)
mt.disconnect(conn)
if not ok then
   mt.echo("FAIL " .. tostring(msg))
   error(msg)
end
mt.echo("ALL PASSED")
