-- ip-acl: who may register, decided by the source address.
--
-- Address groups (KSR.permissions, locus.yaml and address.list):
--
--   group 1  networks phones may register from (office LANs, the VPN);
--            they must still authenticate with a password (digest)
--   group 2  trusted peers (an SBC, a provisioning server) that register
--            users on their behalf and are taken at their word
--
-- A REGISTER from anywhere else is refused with 403 before any password
-- is asked for: a password-guessing attack from the internet never gets
-- a challenge to answer.

local OFFICE, TRUSTED = 1, 2

function ksr_request_route()
	if KSR.is_OPTIONS() then
		KSR.sl.send_reply(200, "OK")
		KSR.x.exit()
	end
	if not KSR.is_REGISTER() then
		KSR.sl.send_reply(405, "Method Not Allowed")
		KSR.x.exit()
	end

	-- Trusted peers skip authentication.
	if KSR.permissions.allow_source_address(TRUSTED) > 0 then
		KSR.xlog.xinfo("trusted peer $si registers $tu\n")
		KSR.registrar.save("location", 0)
		KSR.x.exit()
	end

	if KSR.permissions.allow_source_address(OFFICE) < 0 then
		KSR.xlog.xnotice("REGISTER for $tu from $si refused: not a listed network\n")
		KSR.sl.send_reply(403, "Forbidden")
		KSR.x.exit()
	end

	-- Listed networks: digest authentication in the realm of the To domain,
	-- against the users file (locus users add). Flag 1: the authenticated
	-- user must be the user who registers.
	local realm = KSR.pv.get("$td")
	local rc = KSR.auth_db.auth_check(realm, "subscriber", 1)
	if rc == -8 then
		KSR.sl.send_reply(403, "Forbidden")
		KSR.x.exit()
	end
	if rc < 0 then
		-- No credentials, a wrong password or an unknown user, a stale
		-- nonce: the same answer, a (new) challenge.
		KSR.auth.auth_challenge(realm, 0)
		KSR.x.exit()
	end
	KSR.auth.consume_credentials()
	KSR.registrar.save("location", 0)
end
