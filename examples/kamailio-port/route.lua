-- A registrar, authentication and location script in the shape of
-- Kamailio's basic KEMI Lua script: the same routes, in the same order,
-- with the same KSR calls wherever locus has them. Each line that differs
-- from what a Kamailio script says carries a "Kamailio:" comment naming
-- the call it replaces; README.md tables every difference.
--
-- Two rules of locus shape the differences:
--  * every request gets exactly one final reply: a route that ends without
--    replying, forwarding or KSR.x.drop() is answered 500 (Kamailio sends
--    nothing), so silent endings use KSR.x.drop();
--  * Lua globals do not carry state between requests (any request may run
--    on any pooled Lua state): per-request flags live in $var(...).

-- The SIP domains served here, loaded into the "domains" htable by
-- locus.yaml. Kamailio: KSR.is_myself(uri) and the alias= core parameter.
local function is_myself(host)
	return host ~= nil and KSR.htable.sht_get("domains", host) ~= nil
end

-- SIP request routing: Kamailio's request_route.
function ksr_request_route()
	ksr_route_reqinit()
	ksr_route_natdetect()
	ksr_route_cancel()
	ksr_route_withindlg()

	-- Only initial requests from here on. Retransmissions of a request
	-- that has a transaction never reach the script (tm answers them), so
	-- Kamailio's KSR.tmx.t_precheck_trans() / t_check_trans() pair is not
	-- needed.

	ksr_route_auth()

	-- Record routing for dialog-forming requests; preloaded Route headers
	-- are removed.
	KSR.hdr.remove("Route")
	if KSR.is_method_in("IS") then
		KSR.rr.record_route()
	end

	ksr_route_sipout()
	ksr_route_registrar()

	-- Kamailio: KSR.corex.has_ruri_user() < 0
	if KSR.pv.is_null("$rU") then
		KSR.sl.sl_send_reply(484, "Address Incomplete")
		KSR.x.exit()
	end

	ksr_route_location()
end

-- Forward statefully, with the branch, reply and failure routes armed.
-- Kamailio checks KSR.tm.t_is_set() first; locus lacks it, and arming a
-- route again is harmless.
function ksr_route_relay()
	if KSR.is_method_in("IBSU") then
		KSR.tm.t_on_branch("ksr_branch_manage")
	end
	if KSR.is_method_in("ISU") then
		KSR.tm.t_on_reply("ksr_onreply_manage")
	end
	if KSR.is_INVITE() then
		KSR.tm.t_on_failure("ksr_failure_manage")
	end
	if KSR.tm.t_relay() < 0 then
		KSR.sl.sl_reply_error()
	end
	KSR.x.exit()
end

-- Per-request checks: banned and flooding sources, scanners, loops,
-- keep-alives, malformed requests.
function ksr_route_reqinit()
	-- Kamailio: KSR.is_myself_srcip(), KSR.kx.get_srcip()
	local srcip = KSR.pv.get("$si")
	if srcip ~= KSR.pv.get("$Ri") then
		-- Kamailio: sht_match_name("ipban", "eq", srcip), which visits
		-- the whole table in locus; a key lookup is what is meant.
		if KSR.htable.sht_is_null("ipban", srcip) < 0 then
			KSR.xlog.xdbg("request from blocked IP - $rm from $fu (IP:$si:$sp)\n")
			KSR.x.drop() -- Kamailio: KSR.x.exit()
		end
		if KSR.pike.pike_check_req() < 0 then
			KSR.xlog.xerr("ALERT: pike blocking $rm from $fu (IP:$si:$sp)\n")
			KSR.htable.sht_seti("ipban", srcip, 1)
			KSR.x.drop() -- Kamailio: KSR.x.exit()
		end
	end

	-- Kamailio: KSR.kx.gete_ua(); a plain find, as Lua patterns are slow.
	local ua = KSR.pv.gete("$ua")
	if string.find(ua, "friendly-scanner", 1, true) or string.find(ua, "sipcli", 1, true) then
		KSR.sl.sl_send_reply(200, "OK")
		KSR.x.exit()
	end

	if KSR.maxfwd.process_maxfwd(10) < 0 then
		KSR.sl.sl_send_reply(483, "Too Many Hops")
		KSR.x.exit()
	end

	-- Kamailio: KSR.is_myself_ruri() and KSR.corex.has_ruri_user() < 0
	if KSR.is_OPTIONS() and is_myself(KSR.pv.get("$rd")) and KSR.pv.is_null("$rU") then
		KSR.sl.sl_send_reply(200, "Keepalive")
		KSR.x.exit()
	end

	-- sanity replies (400, 416, 420, 505) itself.
	if KSR.sanity.sanity_check(1511, 7) < 0 then
		KSR.xlog.xerr("Malformed SIP message from $si:$sp\n")
		KSR.x.exit()
	end
end

-- CANCEL: to the branches of the INVITE it cancels.
function ksr_route_cancel()
	if not KSR.is_CANCEL() then
		return
	end
	if KSR.tm.t_check_trans() > 0 then
		ksr_route_relay()
	end
	-- Kamailio ends here without a reply; RFC 3261 §9.2 asks for 481.
	KSR.sl.sl_send_reply(481, "Call/Transaction Does Not Exist")
	KSR.x.exit()
end

-- Requests within a dialog follow the path record-routing set.
function ksr_route_withindlg()
	if KSR.siputils.has_totag() < 0 then
		return
	end
	if KSR.rr.loose_route() > 0 then
		ksr_route_dlguri()
		if KSR.is_NOTIFY() then
			-- RFC 6665: in-dialog NOTIFY is record-routed.
			KSR.rr.record_route()
		end
		-- Kamailio sets its accounting flags here (no acc module) and
		-- runs ksr_route_natmanage() for an ACK (no RTP relay).
		ksr_route_relay()
	end
	if KSR.is_ACK() then
		-- ACKs of non-2xx responses are absorbed by tm before the
		-- script: an ACK here without a route has nowhere to go.
		if KSR.tm.t_check_trans() > 0 then
			ksr_route_relay()
		end
		KSR.x.exit()
	end
	KSR.sl.sl_send_reply(404, "Not here")
	KSR.x.exit()
end

-- REGISTER: save() checks, stores and answers (200, 423, 400, 500...).
function ksr_route_registrar()
	if not KSR.is_REGISTER() then
		return
	end
	-- Kamailio sets FLB_NATB and FLB_NATSIPPING on NATed registrations;
	-- locus stores the received address and flags NAT at save() itself
	-- (keepalive pings are not done yet).
	if KSR.pv.geti("$var(nats)") == 1 then
		KSR.xlog.xinfo("NATed REGISTER for $tu from $si:$sp\n")
	end
	-- Kamailio calls KSR.sl.sl_reply_error() when save() fails; save()
	-- has already answered, and locus refuses a second final reply.
	KSR.registrar.save("location", 0)
	KSR.x.exit()
end

-- Calls and messages for local users: to every registered device.
function ksr_route_location()
	local rc = KSR.registrar.lookup("location")
	if rc < 0 then
		KSR.tm.t_newtran()
		if rc == -2 then
			KSR.sl.send_reply(405, "Method Not Allowed")
		else
			KSR.sl.send_reply(404, "Not Found") -- Kamailio passes "404" as a string
		end
		KSR.x.exit()
	end
	ksr_route_relay()
end

-- Trusted peers by address; everyone else by digest.
function ksr_route_auth()
	if not KSR.is_REGISTER() and KSR.permissions.allow_source_address(1) > 0 then
		return -- source IP allowed
	end
	-- Kamailio: KSR.kx.gete_fhost()
	local fhost = KSR.pv.gete("$fd")
	if KSR.is_REGISTER() or is_myself(fhost) then
		if KSR.auth_db.auth_check(fhost, "subscriber", 1) < 0 then
			KSR.auth.auth_challenge(fhost, 0)
			KSR.x.exit()
		end
		if not KSR.is_method_in("RP") then
			KSR.auth.consume_credentials()
		end
	end
	-- Not an open relay: a foreign caller may only call local users.
	if not is_myself(fhost) and not is_myself(KSR.pv.get("$rd")) then
		KSR.sl.sl_send_reply(403, "Not relaying")
		KSR.x.exit()
	end
end

-- Caller NAT detection: Kamailio's usual test, 1 + 2 + 16.
function ksr_route_natdetect()
	KSR.force_rport()
	if KSR.nathelper.nat_uac_test(19) > 0 then
		if KSR.is_REGISTER() then
			KSR.nathelper.fix_nated_register()
		elseif KSR.siputils.is_first_hop() > 0 then
			KSR.nathelper.set_contact_alias()
		end
		KSR.pv.seti("$var(nats)", 1) -- Kamailio: KSR.setflag(FLT_NATS)
	end
end

-- RTP relaying (rtpproxy, rtpengine) has no locus module: media flows
-- end to end, and this route only marks where it would run.
function ksr_route_natmanage()
	return 1
end

-- In-dialog requests: an alias in the Request-URI becomes the
-- destination. Kamailio: if not KSR.isdsturiset() then ...
function ksr_route_dlguri()
	if KSR.pv.is_null("$du") then
		KSR.nathelper.handle_ruri_alias()
	end
end

-- Requests for foreign domains go out as they are.
function ksr_route_sipout()
	-- Kamailio: KSR.is_myself_ruri()
	if is_myself(KSR.pv.get("$rd")) then
		return
	end
	KSR.hdr.append("P-Hint: outbound\r\n")
	ksr_route_relay()
end

-- Branch route: runs for each branch before it is sent.
function ksr_branch_manage()
	-- Kamailio also prints $T_branch_idx, which locus does not have.
	KSR.xlog.xdbg("new branch to $ru\n")
	ksr_route_natmanage()
end

-- Reply route: runs for each response of a relayed request.
function ksr_onreply_manage()
	-- Kamailio: KSR.kx.get_status()
	local scode = KSR.pv.get("$rs")
	if scode > 100 and scode < 299 then
		ksr_route_natmanage()
	end
end

-- Failure route: every branch ended without a 2xx.
function ksr_failure_manage()
	ksr_route_natmanage()
	if KSR.tm.t_is_canceled() > 0 then
		return
	end
end

-- Kamailio's ksr_reply_route (every response, stateless) has no
-- counterpart: responses reach the script only through t_on_reply.
