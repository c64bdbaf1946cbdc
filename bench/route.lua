-- The benchmark's routing script: the registrar path without authentication.
-- Its sanity checks are the Kamailio anchor's (17895, URIs 7), so that both
-- servers check the same things.
function ksr_request_route()
	if KSR.sanity.sanity_check(17895, 7) < 0 then KSR.x.exit() end
	if KSR.maxfwd.process_maxfwd(10) < 0 then
		KSR.sl.sl_send_reply(483, "Too Many Hops")
		KSR.x.exit()
	end
	if KSR.is_REGISTER() then
		KSR.registrar.save("location", 0)
		KSR.x.exit()
	end
	KSR.sl.sl_send_reply(404, "Not Found")
end
