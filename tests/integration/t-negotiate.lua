-- Confirms that the milter negotiates away every protocol step it does not use (HELO, headers, end of headers, body, DATA, unknown commands) and asks for no modification actions.
local sock = sock or error("run with -D sock=unix:/path")
local conn = mt.connect(sock, 40, 0.25)
if conn == nil then error("mt.connect() failed") end

local ok, msg = pcall(function()
   for _, step in ipairs({ {"SMFIP_NOHELO", SMFIP_NOHELO}, {"SMFIP_NOHDRS", SMFIP_NOHDRS},
                           {"SMFIP_NOEOH", SMFIP_NOEOH}, {"SMFIP_NOBODY", SMFIP_NOBODY},
                           {"SMFIP_NODATA", SMFIP_NODATA}, {"SMFIP_NOUNKNOWN", SMFIP_NOUNKNOWN} }) do
      if not mt.test_option(conn, step[2]) then error(step[1] .. " not negotiated") end
      mt.echo("ok   " .. step[1])
   end
   for _, step in ipairs({ {"SMFIP_NOCONNECT", SMFIP_NOCONNECT}, {"SMFIP_NOMAIL", SMFIP_NOMAIL},
                           {"SMFIP_NORCPT", SMFIP_NORCPT} }) do
      if mt.test_option(conn, step[2]) then error(step[1] .. " negotiated: the step is needed") end
      mt.echo("ok   not " .. step[1])
   end
   for _, action in ipairs({ {"SMFIF_ADDHDRS", SMFIF_ADDHDRS}, {"SMFIF_CHGBODY", SMFIF_CHGBODY},
                             {"SMFIF_ADDRCPT", SMFIF_ADDRCPT}, {"SMFIF_DELRCPT", SMFIF_DELRCPT},
                             {"SMFIF_CHGHDRS", SMFIF_CHGHDRS}, {"SMFIF_QUARANTINE", SMFIF_QUARANTINE} }) do
      if mt.test_action(conn, action[2]) then error(action[1] .. " requested") end
      mt.echo("ok   not " .. action[1])
   end
end)
mt.disconnect(conn)
if not ok then
   mt.echo("FAIL " .. tostring(msg))
   error(msg)
end
mt.echo("ALL PASSED")
