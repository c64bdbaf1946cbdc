-- Kamailio's KEMI Lua script for the bench scenarios without
-- authentication (bench/run.sh with KAM_LUA=1): the logic of
-- bench/route.lua and of the anchor's native route, written as the anchor's
-- registrar.lua writes it, without its auth_check.
function ksr_request_route()
	if KSR.maxfwd.process_maxfwd(10) < 0 then
		KSR.sl.send_reply(483, "Too Many Hops")
		return 1
	end
	if KSR.sanity.sanity_check(17895, 7) < 0 then
		return 1
	end
	if KSR.is_REGISTER() then
		if KSR.registrar.save("location", 0) < 0 then
			KSR.sl.sl_reply_error()
		end
		return 1
	end
	KSR.sl.send_reply(404, "Not Found")
	return 1
end
