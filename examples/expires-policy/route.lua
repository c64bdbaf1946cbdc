-- expires-policy: how long a registration lasts, by kind of device.
--
--   * Desk phones on a wired network: up to an hour (the registrar's
--     max_expires in locus.yaml). They rarely move, and fewer refreshes
--     mean less load.
--   * Mobile devices: at most MOBILE_MAX seconds. Their address changes
--     as they roam, and a binding that outlives the device's address sends
--     calls nowhere. A device is mobile when its user is in the "mobile"
--     htable, or when it registers from a mobile operator's network
--     (permissions group 10).
--
-- Against registration storms (every phone of a site re-registering at
-- the same second after a power cut), the registrar shortens every expiry
-- by a random 0-20 % (expires_range in locus.yaml): refreshes spread out.

local MOBILE_MAX = 300
local MOBILE_NETWORKS = 10

-- Lowers the expiry the REGISTER asks for to max. The Contact's expires
-- parameter wins over the Expires header, so that is what is rewritten
-- when present; a REGISTER asking for nothing gets an Expires header.
-- Only the first Contact is looked at: phones send one.
local function cap_expires(max)
	local contact = KSR.hdr.get("Contact")
	if contact == nil or contact == "*" then
		return
	end
	local param = string.match(contact, ";%s*[Ee][Xx][Pp][Ii][Rr][Ee][Ss]%s*=%s*(%d+)")
	if param ~= nil then
		if tonumber(param) > max then
			local capped = string.gsub(contact, "(;%s*[Ee][Xx][Pp][Ii][Rr][Ee][Ss]%s*=%s*)%d+", "%1" .. max)
			KSR.hdr.remove("Contact")
			KSR.hdr.append("Contact: " .. capped .. "\r\n")
		end
		return
	end
	local asked = tonumber(KSR.hdr.get("Expires") or "")
	if asked == nil or asked > max then
		KSR.hdr.remove("Expires")
		KSR.hdr.append("Expires: " .. max .. "\r\n")
	end
end

local function is_mobile()
	return KSR.htable.sht_get("mobile", KSR.pv.gete("$tU")) ~= nil
		or KSR.permissions.allow_source_address(MOBILE_NETWORKS) > 0
end

function ksr_request_route()
	if KSR.is_OPTIONS() then
		KSR.sl.send_reply(200, "OK")
		KSR.x.exit()
	end
	if not KSR.is_REGISTER() then
		KSR.sl.send_reply(405, "Method Not Allowed")
		KSR.x.exit()
	end

	-- (A real deployment authenticates here: see the ip-acl example.)

	if is_mobile() then
		cap_expires(MOBILE_MAX)
	end
	-- The registrar applies max_expires and the random shortening, and
	-- answers with the expiry each binding got.
	KSR.registrar.save("location", 0)
end
