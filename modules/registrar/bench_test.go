package registrar_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/core/coretest"
	"github.com/locus-sip/locus/modules/registrar"
	"github.com/locus-sip/locus/modules/store/memstore"
	"github.com/locus-sip/locus/modules/usrloc"
)

func benchRegistrar(b *testing.B, cache int64) *registrar.Registrar {
	ul, err := usrloc.NewWithStore(memstore.New(), cache, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = ul.Cleanup() })
	return registrar.NewWithService(ul, []string{"example.com"}, slog.New(slog.DiscardHandler))
}

func discard(*sip.Response) error { return nil }

// BenchmarkSave measures save() without Lua: parse the REGISTER's
// contacts, update the store, build the 200.
func BenchmarkSave(b *testing.B) {
	b.Run("refresh", func(b *testing.B) {
		benchSaves(b, []*sip.Request{coretest.Request(b, reg{contacts: []string{"<sip:alice@192.0.2.10:5060;transport=udp>"}}.String())})
	})
	// refresh3: an AoR with three devices, each refreshing in turn: the
	// other two bindings are compared with every REGISTER's contact.
	b.Run("refresh3", func(b *testing.B) {
		reqs := make([]*sip.Request, 3)
		for i := range reqs {
			reqs[i] = coretest.Request(b, reg{callID: fmt.Sprintf("dev%d@192.0.2.%d", i, 10+i),
				contacts: []string{fmt.Sprintf("<sip:alice@192.0.2.%d:5060;transport=udp>", 10+i)}}.String())
		}
		benchSaves(b, reqs)
	})
	b.Run("insert", func(b *testing.B) {
		reqs := make([]*sip.Request, 4096)
		for i := range reqs {
			reqs[i] = coretest.Request(b, reg{to: fmt.Sprintf("sip:user%d@example.com", i),
				contacts: []string{fmt.Sprintf("<sip:user%d@192.0.2.10:5060>", i)}}.String())
		}
		benchSaves(b, reqs)
	})
}

// benchSaves saves reqs in turn, each with the next CSeq, on a fresh
// registrar.
func benchSaves(b *testing.B, reqs []*sip.Request) {
	ctx := context.Background()
	r := benchRegistrar(b, 0)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		req := reqs[i%len(reqs)]
		req.CSeq().SeqNo = uint32(i + 1)
		i++
		if code, err := r.Save(ctx, core.NewMsg(req, discard), "location", 0, ""); err != nil || code < 0 {
			b.Fatalf("save: %d %v", code, err)
		}
	}
}

// BenchmarkLookup measures lookup(): find the AoR's bindings, pick the
// best, rewrite the R-URI.
func BenchmarkLookup(b *testing.B) {
	ctx := context.Background()
	for _, cache := range []int64{0, 1 << 16} {
		b.Run(fmt.Sprintf("cache=%v", cache > 0), func(b *testing.B) {
			r := benchRegistrar(b, cache)
			for i := 0; i < 1000; i++ {
				req := coretest.Request(b, reg{to: fmt.Sprintf("sip:user%d@example.com", i),
					contacts: []string{fmt.Sprintf("<sip:user%d@192.0.2.10:5060>", i)}}.String())
				if _, err := r.Save(ctx, core.NewMsg(req, discard), "location", 0, ""); err != nil {
					b.Fatal(err)
				}
			}
			inv := coretest.Request(b, invite)
			target := inv.Recipient
			target.User = "user7"
			b.ReportAllocs()
			for b.Loop() {
				inv.Recipient = target
				m := core.NewMsg(inv, discard)
				if code, err := r.Lookup(ctx, m, "location", ""); code != registrar.Found {
					b.Fatalf("lookup: %d %v", code, err)
				}
			}
		})
	}
}
