-- tests/integration/mta.lua - loaded first by every miltertest script (dofile(mta); the runner
-- passes -D mta=PATH): makes miltertest send a session the way Postfix and Sendmail do after
-- m365gate-milter's negotiation.
--
-- When the milter negotiated the connect and MAIL steps away (SMFIP_NOCONNECT, SMFIP_NOMAIL:
-- it asked for the client and the sender as macros at RCPT with smfi_setsymlist), an MTA
-- sends no CONNECT and no MAIL command; it sends {client_addr}, {client_name}, {mail_addr} and
-- i with each RCPT instead. miltertest does neither by itself (it raises an error for a step
-- negotiated away, and sends only the macros a script declares), so mt.conninfo and
-- mt.mailfrom remember their arguments for such a connection, mt.macro(conn, SMFIC_RCPT, ...)
-- adds to the next RCPT's macros, and mt.rcptto sends them all in one macro command, as the MTA
-- does. A connection that kept the steps (a script that negotiates itself with
-- mt.negotiate, offering no SMFIF_SETSYMLIST) goes through miltertest unchanged.
local real = { conninfo = mt.conninfo, mailfrom = mt.mailfrom, rcptto = mt.rcptto,
               macro = mt.macro, getreply = mt.getreply, abort = mt.abort }
local sessions = {}   -- per connection: client, sender, queue id, pending RCPT macros

local function skipped(conn, step)
   return mt.test_option(conn, step)
end

local function session(conn)
   local s = sessions[conn]
   if s == nil then
      s = { name = "", addr = "", sender = "", rcpt_macros = {}, skipped_reply = false }
      sessions[conn] = s
   end
   return s
end

mt.conninfo = function(conn, name, addr, ...)
   if not skipped(conn, SMFIP_NOCONNECT) then return real.conninfo(conn, name, addr, ...) end
   local s = session(conn)
   s.name, s.addr, s.skipped_reply = name, addr, true
   return nil
end

mt.mailfrom = function(conn, from, ...)
   if not skipped(conn, SMFIP_NOMAIL) then return real.mailfrom(conn, from, ...) end
   local s = session(conn)
   s.sender, s.skipped_reply = string.gsub(from, "^<(.*)>$", "%1"), true
   return nil
end

mt.macro = function(conn, kind, ...)
   if kind ~= SMFIC_RCPT or not skipped(conn, SMFIP_NOMAIL) then
      return real.macro(conn, kind, ...)
   end
   local pairs_ = { ... }
   local s = session(conn)
   for i = 1, #pairs_, 2 do s.rcpt_macros[pairs_[i]] = pairs_[i + 1] end
   return nil
end

mt.rcptto = function(conn, rcpt, ...)
   if not skipped(conn, SMFIP_NOMAIL) then return real.rcptto(conn, rcpt, ...) end
   local s = session(conn)
   local m = { "{client_addr}", s.addr, "{client_name}", s.name, "{mail_addr}", s.sender }
   for name, value in pairs(s.rcpt_macros) do
      m[#m + 1] = name
      m[#m + 1] = value
   end
   s.rcpt_macros, s.skipped_reply = {}, false
   local err = real.macro(conn, SMFIC_RCPT, table.unpack(m))
   if err ~= nil then return err end
   return real.rcptto(conn, rcpt, ...)
end

-- A step the MTA did not send has no reply to read: as for a no-reply step, CONTINUE.
mt.getreply = function(conn, ...)
   local s = sessions[conn]
   if s ~= nil and s.skipped_reply then
      s.skipped_reply = false
      return SMFIR_CONTINUE
   end
   return real.getreply(conn, ...)
end

-- RSET ends the message: the next one has its own sender.
mt.abort = function(conn, ...)
   local s = sessions[conn]
   if s ~= nil then s.sender = "" end
   return real.abort(conn, ...)
end
