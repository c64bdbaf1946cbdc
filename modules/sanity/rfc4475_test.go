package sanity_test

import (
	"strconv"
	"strings"
)

// crlf turns a message written with "\n" into CRLF lines and fills "{len}"
// with the body's length, so bodies can be written readably.
func crlf(head, body string) string {
	head = strings.ReplaceAll(head, "\n", "\r\n")
	body = strings.ReplaceAll(body, "\n", "\r\n")
	return strings.ReplaceAll(head, "{len}", strconv.Itoa(len(body))) + "\r\n" + body
}

// Messages after RFC 4475 (§ numbers there) that sipgo v1.7.2 parses.
var (
	// §3.1.2.16: CSeq method differs from the request method.
	mismatch01 = crlf(`OPTIONS sip:user@example.com SIP/2.0
To: sip:j.user@example.com
From: sip:caller@example.net;tag=34525
Max-Forwards: 6
Call-ID: mismatch01.dj0234sxdfl3
CSeq: 8 INVITE
Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw
l: 0
`, "")

	// §3.1.2.17: unknown method, CSeq method differs.
	mismatch02 = crlf(`NEWMETHOD sip:user@example.com SIP/2.0
To: sip:j.user@example.com
From: sip:caller@example.net;tag=34525
Max-Forwards: 6
Call-ID: mismatch02.dj0234sxdfl3
CSeq: 8 INVITE
Contact: <sip:caller@host.example.net>
Via: SIP/2.0/UDP host.example.net;branch=z9hG4bKkdjuw
Content-Type: application/sdp
l: {len}
`, `v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.1
c=IN IP4 192.0.2.1
m=audio 49217 RTP/AVP 0 12
`)

	// §3.3.1: From, To and Call-ID missing.
	insuf = crlf(`INVITE sip:user@example.com SIP/2.0
CSeq: 193942 INVITE
Via: SIP/2.0/UDP 192.0.2.95;branch=z9hG4bKkdj.insuf
Content-Type: application/sdp
l: {len}
`, `v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.95
s=-
c=IN IP4 192.0.2.95
t=0 0
m=audio 49217 RTP/AVP 0 12
`)

	// §3.3.8: single-valued headers repeated.
	multi01 = crlf(`INVITE sip:user@company.com SIP/2.0
Contact: <sip:caller@host25.example.net>
Via: SIP/2.0/UDP 192.0.2.25;branch=z9hG4bKkdjuw
Max-Forwards: 70
CSeq: 5 INVITE
Call-ID: multi01.98asdh@192.0.2.1
CSeq: 59 INVITE
Call-ID: multi01.98asdh@192.0.2.2
From: sip:caller@example.com;tag=3413415
To: sip:user@example.com
To: sip:other@example.net
From: sip:caller@example.net;tag=2923420123
l: 0
`, "")

	// §3.3.9: two Content-Length values; sipgo reads the body by the last.
	mcl01 = crlf(`OPTIONS sip:user@example.com SIP/2.0
Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bK293423
To: sip:user@example.com
From: sip:other@example.net;tag=3923942
Call-ID: mcl01.fhn2323orihawfdoa3o4r52o3irsdf
CSeq: 15932 OPTIONS
Content-Length: 13
Max-Forwards: 60
Content-Length: 5
Content-Type: text/plain
`, "There's no way to know how many octets are supposed to be here.\n")

	// §3.3.7: an Authorization scheme nobody knows.
	regaut01 = crlf(`REGISTER sip:example.com SIP/2.0
To: sip:j.user@example.com
From: sip:j.user@example.com;tag=87321hj23128
Max-Forwards: 8
Call-ID: regaut01.0ha0isndaksdj
CSeq: 9338 REGISTER
Via: SIP/2.0/TCP 192.0.2.253;branch=z9hG4bKkdjuw
Authorization: NoOneKnowsThisScheme opaque-data=here
Content-Length:0
`, "")

	// §3.3.2: Request-URI with an unknown scheme.
	unkscm = crlf(`OPTIONS nobodyknowsthisscheme:totallyopaquecontent SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=384
Max-Forwards: 3
Call-ID: unkscm.nasdfasser0q239nwsdfasdkl34
CSeq: 3923423 OPTIONS
Via: SIP/2.0/TCP host9.example.com;branch=z9hG4bKkdjuw39234
Content-Length: 0
`, "")

	// §3.3.4: unknown schemes in To, From and Contact.
	unksm2 = crlf(`REGISTER sip:example.com SIP/2.0
To: isbn:2983792873
From: <http://www.example.com>;tag=3234233
Call-ID: unksm2.daksdj@hyphenated-host.example.com
CSeq: 234902 REGISTER
Max-Forwards: 70
Via: SIP/2.0/UDP 192.0.2.21:5060;branch=z9hG4bKkdjuw
Contact: <name:John_Smith>
l: 0
`, "")

	// §3.1.2.15: SIP version 7.0.
	badvers = crlf(`OPTIONS sip:t.watson@example.org SIP/7.0
Via:     SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw
Max-Forwards:     70
From:    A. Watson <sip:t.watson@example.org>;tag=9883472
To:      T. Watson <sip:t.watson@example.org>
Call-ID: badvers.09i9ddfjasdfj3@c.example.com
CSeq:    1 OPTIONS
l: 0
`, "")

	// §3.3.5: Proxy-Require with unsupported option tags.
	bext01 = crlf(`OPTIONS sip:user@example.com SIP/2.0
To: sip:j_user@example.com
From: sip:caller@example.net;tag=242etr
Max-Forwards: 6
Call-ID: bext01.0ha0isndaksdj
Require: nothingSupportsThis, nothingSupportsThisEither
Proxy-Require: noProxiesSupportThis, norDoAnyProxiesSupportThis
CSeq: 8 OPTIONS
Via: SIP/2.0/TLS fold-and-staple.example.com;branch=z9hG4bKkdjuw
Content-Length: 0
`, "")

	// §3.3.11: Max-Forwards 0 is maxfwd's business; sanity passes it.
	zeromf = crlf(`OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=3ghsd41
Call-ID: zeromf.jfasdlfnm2o2l43r5u0asdfas
CSeq: 39234321 OPTIONS
Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw2349i
Max-Forwards: 0
Content-Length: 0
`, "")

	// §3.3.12-14: valid registrations a registrar must accept.
	cparam01 = crlf(`REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/UDP saturn.example.com:5060;branch=z9hG4bKkdjuw
Max-Forwards: 70
From: sip:watson@example.com;tag=DkfVgjkrtMwaerKKpe
To: sip:watson@example.com
Call-ID: cparam01.70710@saturn.example.com
CSeq: 2 REGISTER
Contact: sip:+19725552222@gw1.example.net;unknownparam
l: 0
`, "")
	cparam02 = crlf(`REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/UDP saturn.example.com:5060;branch=z9hG4bKkdjuw
Max-Forwards: 70
From: sip:watson@example.com;tag=838293
To: sip:watson@example.com
Call-ID: cparam02.70710@saturn.example.com
CSeq: 3 REGISTER
Contact: <sip:+19725552222@gw1.example.net;unknownparam>
l: 0
`, "")
	regescrt = crlf(`REGISTER sip:example.com SIP/2.0
To: sip:user@example.com
From: sip:user@example.com;tag=8
Max-Forwards: 70
Call-ID: regescrt.k345asrl3fdbv@192.0.2.1
CSeq: 14398234 REGISTER
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw
M: <sip:user@example.com?Route=%3Csip:sip.example.com%3E>
L:0
`, "")

	// §3.1.1.4 (intmeth, shortened): an extension method; sipgo
	// upper-cases the request line, not the CSeq.
	intmeth = crlf(`!interesting-Method0123456789_*+`+"`"+`.%indeed'~ sip:user@example.com SIP/2.0
Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`+"`"+`'~
To: <sip:user@example.com>
From: <sip:caller@example.com>;tag=_token~1'+`+"`"+`*%!-.
Call-ID: intmeth.word%ZK-!.*_+'@word`+"`"+`~)(><:\/"][?}{
CSeq: 139122385 !interesting-Method0123456789_*+`+"`"+`.%indeed'~
Max-Forwards: 255
Content-Length: 0
`, "")
)
