-- locus default routing script.
--
-- Every SIP request runs through ksr_request_route(). The KSR API follows
-- Kamailio's KEMI: KSR.<module>.<function>, integer results (>0 success,
-- <0 failure), KSR.x.exit() to stop. Edit this file while locus runs: it
-- is reloaded within a second, and a broken edit is refused while the
-- previous version keeps serving.

function ksr_request_route()
	-- Malformed requests: sanity answers them (400, 416, 420, 505) itself.
	if KSR.sanity.sanity_check_defaults() < 0 then
		KSR.x.exit()
	end

	if KSR.maxfwd.process_maxfwd(10) < 0 then
		KSR.sl.sl_send_reply(483, "Too Many Hops")
		KSR.x.exit()
	end

	-- A CANCEL goes to the branches of the INVITE it cancels.
	if KSR.is_CANCEL() then
		if KSR.tm.t_check_trans() > 0 then
			KSR.tm.t_relay()
		else
			KSR.sl.sl_send_reply(481, "Call/Transaction Does Not Exist")
		end
		KSR.x.exit()
	end

	-- In-dialog requests (BYE, re-INVITE, the ACK of a 2xx...) follow the
	-- route set the dialog recorded.
	if KSR.siputils.has_totag() > 0 then
		if KSR.rr.loose_route() > 0 then
			if KSR.tm.t_relay() < 0 then
				KSR.sl.sl_reply_error()
			end
			KSR.x.exit()
		end
		if not KSR.is_ACK() then
			KSR.sl.sl_send_reply(404, "Not Here")
		end
		KSR.x.exit()
	end

	-- A stray ACK: nothing to answer.
	if KSR.is_ACK() then
		KSR.x.exit()
	end

	if KSR.is_REGISTER() then
		-- Only the owner may move an AoR's calls: digest authentication in
		-- the realm of the To domain, against the users file (locus users
		-- add). Flag 1: the authenticated user must be the To user.
		local realm = KSR.pv.get("$td")
		local rc = KSR.auth_db.auth_check(realm, "subscriber", 1)
		if rc == -8 then
			KSR.sl.sl_send_reply(403, "Forbidden")
			KSR.x.exit()
		elseif rc < 0 then
			-- No, wrong or stale credentials, unknown user: the same answer.
			KSR.auth.auth_challenge(realm, 0)
			KSR.x.exit()
		end
		KSR.auth.consume_credentials()
		-- save() answers: 200 with the bindings, or 4xx/5xx with the reason.
		KSR.registrar.save("location", 0)
		KSR.x.exit()
	end

	-- Keep-alives and capability probes addressed to this server.
	if KSR.is_OPTIONS() and KSR.pv.is_null("$rU") then
		KSR.sl.sl_send_reply(200, "OK")
		KSR.x.exit()
	end

	-- Calls, messages and subscriptions for registered users: stay on the
	-- path of the dialogs they create, and forward to every device.
	if KSR.is_INVITE() or KSR.is_SUBSCRIBE() or KSR.is_REFER() then
		KSR.rr.record_route()
	end
	local rc = KSR.registrar.lookup("location")
	if rc == -2 then
		KSR.sl.sl_send_reply(405, "Method Not Allowed")
		KSR.x.exit()
	elseif rc < 0 then
		KSR.sl.sl_send_reply(404, "Not Found")
		KSR.x.exit()
	end

	-- Every binding rings in parallel; the best answer goes back.
	if KSR.tm.t_relay() < 0 then
		KSR.sl.sl_reply_error()
	end
end
