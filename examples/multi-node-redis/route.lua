-- multi-node-redis: the script both nodes run.
--
-- Nothing in it knows there are two nodes. What makes them one registrar
-- is in locus.yaml: the same Redis store (a binding saved through one node
-- is found through the other) and the same auth secret (a nonce issued by
-- one node verifies on the other, so a phone may be challenged by node A
-- and answer node B, as DNS SRV or a load balancer sends it).

function ksr_request_route()
	if KSR.sanity.sanity_check_defaults() < 0 then
		KSR.x.exit()
	end
	if KSR.maxfwd.process_maxfwd(10) < 0 then
		KSR.sl.sl_send_reply(483, "Too Many Hops")
		KSR.x.exit()
	end

	-- CANCEL and in-dialog requests: tm and the route set know the way.
	if KSR.is_CANCEL() then
		if KSR.tm.t_check_trans() > 0 then
			KSR.tm.t_relay()
		else
			KSR.sl.sl_send_reply(481, "Call/Transaction Does Not Exist")
		end
		KSR.x.exit()
	end
	if KSR.siputils.has_totag() > 0 then
		if KSR.rr.loose_route() > 0 then
			KSR.tm.t_relay()
		elseif not KSR.is_ACK() then
			KSR.sl.sl_send_reply(404, "Not Here")
		end
		KSR.x.exit()
	end
	if KSR.is_ACK() then
		KSR.x.exit()
	end

	if KSR.is_REGISTER() then
		-- The nonce is signed with modules.auth.secret: whichever node
		-- issued it, this node can verify it without asking anyone.
		local realm = KSR.pv.get("$td")
		local rc = KSR.auth_db.auth_check(realm, "subscriber", 1)
		if rc == -8 then
			KSR.sl.sl_send_reply(403, "Forbidden")
			KSR.x.exit()
		elseif rc < 0 then
			KSR.auth.auth_challenge(realm, 0)
			KSR.x.exit()
		end
		KSR.auth.consume_credentials()
		-- The 200 is sent once Redis has the binding; the other node's
		-- cache learns of it through Redis pub/sub.
		KSR.registrar.save("location", 0)
		KSR.x.exit()
	end

	-- Everything else is for a registered user: look the user up in the
	-- shared store and forward to every device, wherever it registered.
	if KSR.is_INVITE() or KSR.is_SUBSCRIBE() then
		KSR.rr.record_route()
	end
	if KSR.registrar.lookup("location") < 0 then
		KSR.sl.sl_send_reply(404, "Not Found")
		KSR.x.exit()
	end
	if KSR.tm.t_relay() < 0 then
		KSR.sl.sl_reply_error()
	end
end
