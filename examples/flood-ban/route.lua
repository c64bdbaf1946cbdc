-- flood-ban: stop password guessing and request floods from one source.
--
-- A source address that sends too many requests (pike), or fails digest
-- authentication too often (the "authfail" htable), is banned: its
-- address goes into the "ban" htable, whose items expire by themselves
-- (locus.yaml: autoexpire), and until then every request from it is
-- dropped without an answer. A guessing tool gets a few answers, then
-- silence; users at other addresses are not affected.

-- Wrong passwords (or unknown users) one source may try before its ban.
local MAX_AUTH_FAILURES = 5

-- ban puts src in the ban table and drops the request being routed.
local function ban(src, reason)
	KSR.htable.sht_seti("ban", src, 1)
	KSR.htable.sht_rm("authfail", src)
	KSR.warn("flood-ban: banning " .. src .. " for " .. reason)
	KSR.x.drop()
end

function ksr_request_route()
	local src = KSR.pv.get("$si")

	-- Banned: no answer at all, so the attacker learns nothing and the
	-- ban costs one table lookup per request.
	if KSR.htable.sht_is_null("ban", src) < 0 then
		KSR.x.drop()
	end

	-- Flooding: more than pike's reqs_density_per_unit requests per
	-- sampling_time_unit seconds from this address.
	if KSR.pike.pike_check_req() < 0 then
		ban(src, "flooding")
	end

	if KSR.sanity.sanity_check_defaults() < 0 then
		KSR.x.exit()
	end
	if KSR.maxfwd.process_maxfwd(10) < 0 then
		KSR.sl.sl_send_reply(483, "Too Many Hops")
		KSR.x.exit()
	end
	if not KSR.is_REGISTER() then
		KSR.sl.sl_send_reply(405, "Method Not Allowed")
		KSR.x.exit()
	end

	-- Digest authentication against the users file, in the realm of the
	-- To domain. A wrong password and an unknown user count alike: a
	-- guesser must not learn which users exist.
	local realm = KSR.pv.get("$td")
	local rc = KSR.auth_db.auth_check(realm, "subscriber", 1)
	if rc == -2 or rc == -3 or rc == -8 then
		if KSR.htable.sht_inc("authfail", src) >= MAX_AUTH_FAILURES then
			ban(src, "password guessing")
		end
	end
	if rc < 0 then
		-- No, stale or wrong credentials: challenge (again).
		KSR.auth.auth_challenge(realm, 0)
		KSR.x.exit()
	end

	-- Authenticated: the failures of this source are forgiven.
	KSR.htable.sht_rm("authfail", src)
	KSR.auth.consume_credentials()
	KSR.registrar.save("location", 0)
end
