-- Confirms the negotiation: every unused step away (HELO, headers, end of headers, body, DATA, unknown commands), no modification action; with an MTA that takes a macro list, connect and MAIL away too (the client and sender come at RCPT); with one that does not, both kept; the rejection line names client and sender either way.
dofile(mta or error("run with -D mta=tests/integration/mta.lua"))
local sock = sock or error("run with -D sock=unix:/path")
local logfile = logfile or error("run with -D logfile=/path/to/milter.log")

-- Polls `file` (up to 10 s) for a line holding every pattern (plain text).
local function expect_line(file, ...)
   local patterns = { ... }
   for _ = 1, 100 do
      local f = io.open(file, "r")
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
   error("no line in " .. file .. " with: " .. table.concat(patterns, " "))
end

local function expect_steps(conn, off, on)
   for _, step in ipairs(off) do
      if not mt.test_option(conn, step[2]) then error(step[1] .. " not negotiated") end
      mt.echo("ok   " .. step[1])
   end
   for _, step in ipairs(on) do
      if mt.test_option(conn, step[2]) then error(step[1] .. " negotiated: the step is needed") end
      mt.echo("ok   not " .. step[1])
   end
end

local function unknown_rcpt(conn, client, addr, sender, rcpt)
   assert(mt.conninfo(conn, client, addr) == nil)
   assert(mt.getreply(conn) == SMFIR_CONTINUE)
   assert(mt.mailfrom(conn, sender) == nil)
   assert(mt.getreply(conn) == SMFIR_CONTINUE)
   assert(mt.rcptto(conn, rcpt) == nil)
   if mt.getreply(conn) ~= SMFIR_REPLYCODE then error(rcpt .. " not refused") end
   expect_line(logfile, "action=reject", "client=" .. client .. "[" .. addr .. "]",
               "from=" .. sender, "to=" .. rcpt, "reason=unknown_recipient")
end

local unused = { {"SMFIP_NOHELO", SMFIP_NOHELO}, {"SMFIP_NOHDRS", SMFIP_NOHDRS},
                 {"SMFIP_NOEOH", SMFIP_NOEOH}, {"SMFIP_NOBODY", SMFIP_NOBODY},
                 {"SMFIP_NODATA", SMFIP_NODATA}, {"SMFIP_NOUNKNOWN", SMFIP_NOUNKNOWN} }
local session_steps = { {"SMFIP_NOCONNECT", SMFIP_NOCONNECT}, {"SMFIP_NOMAIL", SMFIP_NOMAIL} }

local ok, msg = pcall(function()
   -- miltertest offers what Postfix 3.7 does: every step flag and every action, the macro list
   -- (SMFIF_SETSYMLIST) among them.
   local conn = mt.connect(sock, 40, 0.25)
   if conn == nil then error("mt.connect() failed") end
   local off = {}
   for _, s in ipairs(unused) do off[#off + 1] = s end
   for _, s in ipairs(session_steps) do off[#off + 1] = s end
   expect_steps(conn, off, { {"SMFIP_NORCPT", SMFIP_NORCPT} })
   for _, action in ipairs({ {"SMFIF_ADDHDRS", SMFIF_ADDHDRS}, {"SMFIF_CHGBODY", SMFIF_CHGBODY},
                             {"SMFIF_ADDRCPT", SMFIF_ADDRCPT}, {"SMFIF_DELRCPT", SMFIF_DELRCPT},
                             {"SMFIF_CHGHDRS", SMFIF_CHGHDRS}, {"SMFIF_QUARANTINE", SMFIF_QUARANTINE} }) do
      if mt.test_action(conn, action[2]) then error(action[1] .. " requested") end
      mt.echo("ok   not " .. action[1])
   end
   if not mt.test_action(conn, SMFIF_SETSYMLIST) then error("SMFIF_SETSYMLIST not requested") end
   mt.echo("ok   SMFIF_SETSYMLIST (client and sender as RCPT macros)")
   unknown_rcpt(conn, "macros.example", "192.0.2.8", "<s1@outside.example>",
                "<nobody1@customer.example>")
   mt.disconnect(conn)

   -- An MTA without macro lists (actions 0xff: no SMFIF_SETSYMLIST; every step flag, as
   -- Postfix offers them): connect and MAIL stay.
   conn = mt.connect(sock, 40, 0.25)
   if conn == nil then error("mt.connect() failed") end
   -- miltertest 1.0.0 (Debian 12) takes the steps before the actions, not as its manual says
   -- (observed: the other order offers the steps 0xff and every action).
   local err = mt.negotiate(conn, 6, 0x1fffff, 0xff)
   if err ~= nil then error("negotiate: " .. err) end
   expect_steps(conn, unused, { {"SMFIP_NOCONNECT", SMFIP_NOCONNECT},
                                {"SMFIP_NOMAIL", SMFIP_NOMAIL}, {"SMFIP_NORCPT", SMFIP_NORCPT} })
   if mt.test_action(conn, SMFIF_SETSYMLIST) then error("SMFIF_SETSYMLIST requested, not offered") end
   unknown_rcpt(conn, "steps.example", "192.0.2.9", "<s2@outside.example>",
                "<nobody2@customer.example>")
   mt.disconnect(conn)
end)
if not ok then
   mt.echo("FAIL " .. tostring(msg))
   error(msg)
end
mt.echo("ALL PASSED")
