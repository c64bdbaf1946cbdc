-- max-contacts: how many devices one user may register.
--
-- Two limits work together:
--
--   * The registrar's max_contacts (locus.yaml) holds for everyone: at most
--     three devices, and a fourth pushes out the one registered longest ago
--     (max_contacts_mode: evict_oldest). A user who replaces a phone never
--     has to clean up the old one.
--   * Users named in the "limits" htable (locus.yaml) have a smaller limit
--     of their own, and a device beyond it is refused instead: a shared
--     front-desk account cannot be taken over by registering more phones.
--
-- Refreshing or removing a device that is already registered always works.

-- The limit of users the "limits" table does not name: nil leaves them to
-- the registrar alone; a number holds them to that many devices, refusing
-- more. Save the file and the change applies within a second.
local DEFAULT_LIMIT = nil

-- The URI of the request's Contact (the first one: phones send one).
local function contact_uri()
	local contact = KSR.hdr.gete("Contact")
	return string.match(contact, "<([^>]*)>") or string.match(contact, "^([^;]*)")
end

-- Does this REGISTER remove its binding rather than add or refresh one?
local function is_removal()
	local contact = KSR.hdr.gete("Contact")
	local expires = string.match(contact, ";%s*expires%s*=%s*(%d+)") or KSR.hdr.get("Expires")
	return contact == "*" or tonumber(expires) == 0
end

-- Does the REGISTER add a device the user has no binding for yet, while
-- the user already has `limit` bindings?
local function over_limit(limit)
	if is_removal() or KSR.registrar.reg_fetch_contacts("location", KSR.pv.get("$tu"), "dev") < 0 then
		return false
	end
	local count = KSR.pv.get("$ulc(dev=>count)")
	local uri = contact_uri()
	for i = 0, count - 1 do
		if KSR.pv.get("$(ulc(dev=>addr)[" .. i .. "])") == uri then
			return false -- a refresh of a registered device
		end
	end
	return count >= limit
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

	local limit = KSR.htable.sht_get("limits", KSR.pv.gete("$tU")) or DEFAULT_LIMIT
	if limit ~= nil and over_limit(limit) then
		KSR.xlog.xnotice("device limit reached for $tu, refused $hdr(Contact)\n")
		KSR.hdr.append_to_reply("Warning: 399 locus \"at most " .. limit .. " devices\"\r\n")
		KSR.sl.send_reply(403, "Too Many Devices")
		KSR.x.exit()
	end

	-- Within the limit: store the binding. Past max_contacts, the registrar
	-- evicts the oldest bindings itself.
	KSR.registrar.save("location", 0)
end
