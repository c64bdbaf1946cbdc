-- locus as the proxy for registered users, for bench/calls/run.sh: the
-- same policy as proxy.cfg next to it (Kamailio).
function ksr_request_route()
	if KSR.maxfwd.process_maxfwd(10) < 0 then
		KSR.sl.sl_send_reply(483, "Too Many Hops")
		return
	end
	if KSR.is_CANCEL() then
		if KSR.tm.t_check_trans() > 0 then KSR.tm.t_relay() end
		return
	end
	if KSR.siputils.has_totag() > 0 then
		if KSR.rr.loose_route() > 0 then
			KSR.tm.t_relay()
			return
		end
		if not KSR.is_ACK() then KSR.sl.sl_send_reply(404, "Not Here") end
		return
	end
	if KSR.is_ACK() then return end
	if KSR.is_REGISTER() then
		KSR.registrar.save("location", 0)
		return
	end
	if KSR.is_INVITE() then KSR.rr.record_route() end
	if KSR.registrar.lookup("location") < 0 then
		KSR.sl.send_reply(404, "Not Found")
		return
	end
	if KSR.tm.t_relay() < 0 then KSR.sl.sl_reply_error() end
end
