-- The benchmark's routing script with digest authentication: the
-- registrar path of scripts/default.lua (sanity, maxfwd, auth_check in the
-- realm of the To domain, consume_credentials, save), with the Kamailio
-- anchor's sanity checks (17895, URIs 7) as in route.lua.
function ksr_request_route()
	if KSR.sanity.sanity_check(17895, 7) < 0 then KSR.x.exit() end
	if KSR.maxfwd.process_maxfwd(10) < 0 then
		KSR.sl.sl_send_reply(483, "Too Many Hops")
		KSR.x.exit()
	end
	if KSR.is_REGISTER() then
		local realm = KSR.pv.get("$td")
		if KSR.auth_db.auth_check(realm, "subscriber", 1) < 0 then
			KSR.auth.auth_challenge(realm, 0)
			KSR.x.exit()
		end
		KSR.auth.consume_credentials()
		KSR.registrar.save("location", 0)
		KSR.x.exit()
	end
	KSR.sl.sl_send_reply(404, "Not Found")
end
