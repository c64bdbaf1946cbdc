package nathelper_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/core/coretest"
	"github.com/locus-sip/locus/modules/nathelper"
	"github.com/locus-sip/locus/modules/registrar"
	"github.com/locus-sip/locus/modules/sl"
	"github.com/locus-sip/locus/modules/store/memstore"
	_ "github.com/locus-sip/locus/modules/tm" // the keepalive pings go through tm
	"github.com/locus-sip/locus/modules/usrloc"
)

// TestREADME checks the README, loads its configuration, and registers a
// NATed phone with its example: the lookup that follows sends to the
// phone's public address.
func TestREADME(t *testing.T) {
	examples := coretest.CheckREADME(t, "README.md", "nathelper", nathelper.New().LuaExports())
	if len(examples) != 1 {
		t.Fatalf("%d Lua examples, want 1", len(examples))
	}
	doc := readFile(t, "README.md")
	m, err := coretest.LoadModule(t, memoryStore+coretest.Fences(t, doc, "yaml")[0], "nathelper")
	if err != nil {
		t.Fatalf("README configuration: %v", err)
	}
	if nh := m.(*nathelper.NATHelper); nh.Interval != core.Duration(30*time.Second) || nh.Failures != 3 {
		t.Errorf("README configuration read as interval %v, failures %d", nh.Interval, nh.Failures)
	}
	for _, flag := range []string{"1", "2", "4", "8", "16", "32", "64", "128", "256"} {
		if !strings.Contains(doc, "| `"+flag+"` |") {
			t.Errorf("README does not describe flag %s", flag)
		}
	}
	log := slog.New(slog.DiscardHandler)
	ul, err := usrloc.NewWithStore(memstore.New(), 0, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ul.Cleanup() })
	reg := registrar.NewWithService(ul, []string{"example.com"}, log)
	rt := coretest.Runtime(t, examples[0], coretest.Export("nathelper", m.(*nathelper.NATHelper)),
		coretest.Export("sl", &sl.SL{}), coretest.Export("registrar", reg))
	eng := core.NewEngine(rt, log, 0, "")

	raw := strings.Replace(req{method: "REGISTER", ruri: "sip:example.com", via: "192.168.1.10:5060",
		contact: []string{"<sip:alice@192.168.1.10:5060>"}}.raw(), "To: <sip:bob@", "To: <sip:alice@", 1)
	rm, rec := coretest.Msg(t, raw)
	setSource(t, rm, "203.0.113.5:40000", "udp")
	eng.Process(rm)
	if rec.Code() != 200 {
		t.Fatalf("REGISTER: %d", rec.Code())
	}
	if got, _ := nathelper.Received(rm); got != "sip:203.0.113.5:40000" {
		t.Fatalf("fix_nated_register recorded %q", got)
	}
	im, rec := req{ruri: "sip:alice@example.com", via: "198.51.100.9:5060", src: "198.51.100.9:5060",
		contact: []string{"<sip:bob@198.51.100.9:5060>"}}.msgRec(t)
	eng.Process(im)
	if rec.Code() != 302 || im.DstURI != "sip:203.0.113.5:40000;transport=udp" {
		t.Fatalf("lookup: %d, $du %q", rec.Code(), im.DstURI)
	}
}

// memoryStore keeps the usrloc module, compiled into these tests with
// the registrar, off the disk.
const memoryStore = "store: \"memory:\"\n"

func TestConfig(t *testing.T) {
	cases := []struct {
		name    string
		yaml    string
		want    int
		wantErr string
	}{
		{"default", "", 1, ""},
		{"zero", "modules:\n  nathelper:\n    nat_addr_mode: 0\n", 0, ""},
		{"out of range", "modules:\n  nathelper:\n    nat_addr_mode: 2\n", 0, "nat_addr_mode"},
		{"unknown key", "modules:\n  nathelper:\n    natping_intervall: 30\n", 0, "natping_intervall"},
		{"timeout longer than the interval", "modules:\n  nathelper:\n    natping_interval: 1\n    keepalive_timeout: 2\n", 0, "keepalive_timeout"},
		{"bad sipping_from", "modules:\n  nathelper:\n    sipping_from: nobody\n", 0, "sipping_from"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := coretest.LoadModule(t, memoryStore+tc.yaml, "nathelper")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := m.(*nathelper.NATHelper).NATAddrMode; got != tc.want {
				t.Fatalf("nat_addr_mode %d, want %d", got, tc.want)
			}
		})
	}
}
