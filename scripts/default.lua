-- locus default routing script.
--
-- Every SIP request runs through ksr_request_route(). The KSR API follows
-- Kamailio's KEMI: KSR.<module>.<function>, integer results (>0 success,
-- <0 failure), KSR.x.exit() to stop. Edit this file while locus runs: it
-- is reloaded within a second, and a broken edit is refused.

function ksr_request_route()
	-- Drop what is not SIP enough to answer sensibly; sanity replies itself.
	if KSR.sanity.sanity_check_defaults() < 0 then
		KSR.x.exit()
	end

	if KSR.maxfwd.process_maxfwd(10) < 0 then
		KSR.sl.sl_send_reply(483, "Too Many Hops")
		KSR.x.exit()
	end

	-- Keep-alive and capability probes addressed to this server.
	if KSR.is_OPTIONS() and KSR.pv.is_null("$rU") then
		KSR.sl.sl_send_reply(200, "OK")
		KSR.x.exit()
	end

	if KSR.is_REGISTER() then
		-- No location service is loaded in this build of the script.
		KSR.sl.sl_send_reply(501, "Not Implemented")
		KSR.x.exit()
	end

	-- ACK has no reply; anything else is for a user this server does not know.
	if KSR.is_ACK() then
		KSR.x.exit()
	end
	KSR.sl.sl_send_reply(404, "Not Found")
end
