-- ua-filter: decide by User-Agent who gets an answer at all.
--
--   * Scanners (SIPVicious's friendly-scanner, sipcli, ...) are dropped
--     without a reply. Any answer, even 403, tells a scanner that a SIP
--     server lives at this address and is worth attacking; silence does not.
--   * In the realm corp.example.com only the desk phones the company
--     provisions may register: other User-Agents get 403. Other realms
--     accept any phone.
--
-- User-Agent matching is case-insensitive and looks for the text anywhere
-- in the header ("Yealink SIP-T46U 66.86.0.15" matches "yealink"). The
-- header is whatever the client claims: this keeps out careless scanners
-- and unsupported phones, while authentication keeps out attackers.

-- Substrings of the User-Agents of known scanners.
local SCANNERS = { "friendly-scanner", "sipcli", "sipvicious" }

-- Realms that accept only some User-Agents, and those User-Agents.
local ALLOWED = {
	["corp.example.com"] = { "yealink", "polycom", "snom" },
}

-- Does ua (lower case) contain one of the strings of list?
local function matches(ua, list)
	for _, s in ipairs(list) do
		if string.find(ua, s, 1, true) then
			return true
		end
	end
	return false
end

function ksr_request_route()
	local ua = string.lower(KSR.pv.gete("$ua"))

	if matches(ua, SCANNERS) then
		KSR.xlog.xnotice("scanner dropped: $rm from $si, User-Agent $ua\n")
		KSR.x.drop()
	end

	if KSR.is_OPTIONS() then
		KSR.sl.send_reply(200, "OK")
		KSR.x.exit()
	end
	if not KSR.is_REGISTER() then
		KSR.sl.send_reply(405, "Method Not Allowed")
		KSR.x.exit()
	end

	local allowed = ALLOWED[KSR.pv.get("$td")]
	if allowed ~= nil and not matches(ua, allowed) then
		KSR.xlog.xinfo("User-Agent not allowed in $td: $ua\n")
		KSR.sl.send_reply(403, "User-Agent Not Allowed")
		KSR.x.exit()
	end

	-- (A real deployment authenticates here: see the ip-acl example.)
	KSR.registrar.save("location", 0)
end
