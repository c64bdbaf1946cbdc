package registrar_test

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/modules/registrar"
	"github.com/locus-sip/locus/modules/store/memstore"
	"github.com/locus-sip/locus/modules/usrloc"
)

func FuzzParseExpires(f *testing.F) {
	for _, s := range []string{"0", "3600", "4294967295", "4294967296", "-1", "", " 60 ", "1e3", "0x10", "99999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := registrar.ParseExpires(s)
		if err != nil {
			return
		}
		if v < 0 || v > 1<<32-1 {
			t.Fatalf("%q parsed to %d", s, v)
		}
		if want, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64); err != nil || int64(want) != v {
			t.Fatalf("%q parsed to %d, strconv says %d (%v)", s, v, want, err)
		}
	})
}

func FuzzParseQ(f *testing.F) {
	for _, s := range []string{"0", "1", "0.5", "1.000", "0.123", "1.001", "2", ".5", "0.", "0.1234", "-0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := registrar.ParseQ(s)
		if err != nil {
			return
		}
		if q < 0 || q > 1000 {
			t.Fatalf("%q parsed to %d", s, q)
		}
		back, err := registrar.ParseQ(registrar.FormatQ(q))
		if err != nil || back != q {
			t.Fatalf("%q → %d → %q → %d (%v)", s, q, registrar.FormatQ(q), back, err)
		}
	})
}

func FuzzAOR(f *testing.F) {
	for _, s := range []string{"sip:alice@example.com", "alice@EXAMPLE.com", "sips:bob@h:5061;transport=tls", "<sip:x@y>", "tel:+123", "sip:@", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		aor, err := registrar.ParseAOR(s, true)
		if err != nil {
			return
		}
		again, err := registrar.ParseAOR(aor, true)
		if err != nil || again != aor {
			t.Fatalf("%q → %q is not canonical: %q (%v)", s, aor, again, err)
		}
		if strings.ContainsAny(aor, "\r\n\x00") {
			t.Fatalf("AoR with control characters: %q", aor)
		}
	})
}

// FuzzRegister runs arbitrary Contact and Expires header values through
// save: no panic, exactly one final reply, and a 200 only when every
// stored binding has a sane expiry.
func FuzzRegister(f *testing.F) {
	for _, c := range [][2]string{
		{"<sip:a@192.0.2.10>", "3600"},
		{"*", "0"},
		{`<sip:a@h>;+sip.instance="<urn:uuid:1>";reg-id=1;q=0.5;expires=60`, ""},
		{"<sip:a@h>, <sip:b@h>;expires=0", "120"},
		{"<sip:a@h;transport=tcp>;methods=\"INVITE\"", "x"},
		{"sip:a@h;expires=5", "999999999999"},
	} {
		f.Add(c[0], c[1])
	}
	ul, err := usrloc.NewWithStore(memstore.New(), 0, slog.New(slog.DiscardHandler))
	if err != nil {
		f.Fatal(err)
	}
	r := registrar.NewWithService(ul, []string{"example.com"}, slog.New(slog.DiscardHandler))
	f.Fuzz(func(t *testing.T, contact, expires string) {
		raw := "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-f\r\n" +
			"From: <sip:alice@example.com>;tag=1\r\nTo: <sip:alice@example.com>\r\nCall-ID: fuzz\r\nCSeq: 1 REGISTER\r\n" +
			"Contact: " + contact + "\r\n"
		if expires != "" {
			raw += "Expires: " + expires + "\r\n"
		}
		raw += "Content-Length: 0\r\n\r\n"
		msg, err := sip.NewParser().ParseSIP([]byte(raw))
		if err != nil {
			return
		}
		req, ok := msg.(*sip.Request)
		if !ok {
			return
		}
		req.SetSource("192.0.2.10:5060")
		var finals []*sip.Response
		m := core.NewMsg(req, func(res *sip.Response) error { finals = append(finals, res); return nil })
		code, _ := r.Save(context.Background(), m, "location", 0, "")
		if len(finals) != 1 {
			t.Fatalf("%d replies for code %d", len(finals), code)
		}
		res := finals[0]
		if (code > 0) != (res.StatusCode == 200) {
			t.Fatalf("return %d with reply %d", code, res.StatusCode)
		}
		for _, h := range res.GetHeaders("Contact") {
			if !strings.Contains(h.Value(), ";expires=") {
				t.Fatalf("200 lists a contact without expires: %q", h.Value())
			}
		}
		// Clean up so the next input starts from an empty AoR.
		_, _ = r.Unregister(context.Background(), "location", "sip:alice@example.com", "")
	})
}

// FuzzURIString checks that the registrar's URI serialisation writes what
// sipgo's writes, byte for byte: stored contacts must not change form.
func FuzzURIString(f *testing.F) {
	for _, s := range []string{
		"sip:alice@192.0.2.10:5060;transport=udp", "sip:alice@example.com", "sips:bob:secret@h:5061;transport=tls;lr",
		"sip:[2001:db8::1]:5070", "sip:2001:db8::1", "sip:u@::ffff:192.0.2.1", "sip:u@fe80::1%25eth0",
		"sip:u@h;ob;x=\"a b\";y", "sip:u@h?subject=hi&priority=urgent", "tel:+123;phone-context=x", "urn:uuid:1234",
		"SIP:Alice@Example.COM:65535;Method=INVITE", "sip://host", "sip:host;p=", "sip:*", "sip:u@h:99999",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var u sip.Uri
		if sip.ParseUri(s, &u) != nil {
			return
		}
		if got, want := registrar.URIString(&u), u.String(); got != want {
			t.Fatalf("%q: registrar writes %q, sipgo %q", s, got, want)
		}
	})
}

// FuzzMayEqualURI checks that the registrar's quick test for a stored
// contact never rejects one that URIEqual finds equal after parsing: a
// wrong "no" would add a second binding for one device.
func FuzzMayEqualURI(f *testing.F) {
	for _, p := range [][2]string{
		{"sip:a@Host.Example.com:5060;transport=udp", "sip:a@host.example.com:5060;transport=UDP;ob"},
		{"sip:alice@192.0.2.10:5060", "sip:alice@192.0.2.11:5060"},
		{"sip:A@h", "sip:a@h"},
		{"sip:u@[2001:DB8::1]:5070", "sip:u@[2001:db8::1]:5070"},
		{"sip:h", "sip:H"},
		{"sip:u@\u212Aexample", "sip:u@kexample"},
		{"sips:u:pw@h;maddr=x", "sips:u:pw@H;maddr=x"},
		{"tel:+123", "sip:+123@h"},
		{"sip:u@h?subject=x", "sip:u@h?subject=x"},
	} {
		f.Add(p[0], p[1])
	}
	f.Fuzz(func(t *testing.T, stored, contact string) {
		var a, b sip.Uri
		if sip.ParseUri(stored, &a) != nil || sip.ParseUri(contact, &b) != nil || b.Host == "" {
			return
		}
		if registrar.URIEqual(&a, &b) && !registrar.MayEqualURI(stored, &b) {
			t.Fatalf("%q equals %q, but the quick test says it cannot", stored, contact)
		}
	})
}
