package memstore

import (
	"context"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/locus-sip/locus/modules/usrloc"
	"github.com/locus-sip/locus/modules/usrloc/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) usrloc.Store { return New() })
}

// TestConformanceCollisions runs the suite with AoR hashes that collide,
// so that AoRs are held both under their hash and under their string.
func TestConformanceCollisions(t *testing.T) {
	for name, hash := range map[string]func(string) uint64{
		"all":   func(string) uint64 { return 7 },
		"three": func(aor string) uint64 { return uint64(len(aor) % 3) },
	} {
		t.Run(name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) usrloc.Store {
				s := New()
				s.testHash = hash
				return s
			})
		})
	}
}

// TestCollisions moves AoRs that share a hash through inserts, updates
// and removals: each takes its own slot, and removing one leaves the others
// found.
func TestCollisions(t *testing.T) {
	s := New()
	s.testHash = func(string) uint64 { return 42 }
	ctx := context.Background()
	put := func(i int) {
		t.Helper()
		if _, err := s.Update(ctx, "location", aorOf(i), replace(binding(i))); err != nil {
			t.Fatal(err)
		}
	}
	del := func(i int) {
		t.Helper()
		if _, err := s.Update(ctx, "location", aorOf(i), removeAll); err != nil {
			t.Fatal(err)
		}
	}
	want := func(when string, present ...int) {
		t.Helper()
		n := 0
		if tbl := s.shard(42).tables["location"]; tbl != nil {
			n = tbl.n
			checkIndex(t, tbl)
		}
		if n != len(present) {
			t.Fatalf("%s: %d AoRs held, want %d", when, n, len(present))
		}
		for _, i := range present {
			got, err := s.Get(ctx, "location", aorOf(i))
			if err != nil || len(got) != 1 || got[0].Contact != binding(i).Contact {
				t.Fatalf("%s: Get(%s) = %+v, %v", when, aorOf(i), got, err)
			}
		}
		if aors, bindings, _ := s.Count(ctx); aors != len(present) || bindings != len(present) {
			t.Fatalf("%s: Count = %d AoRs, %d bindings; want %d", when, aors, bindings, len(present))
		}
	}
	put(1)
	put(2)
	put(3)
	want("three inserted", 1, 2, 3)
	del(1)
	want("the first removed", 2, 3)
	put(2)
	want("the others updated", 2, 3)
	put(4)
	want("a new AoR inserted", 2, 3, 4)
	del(2)
	del(3)
	want("two removed", 4)
	del(4)
	want("all removed")
	if sh := s.shard(42); len(sh.tables) != 0 || sh.last != nil || sh.home.name != "" || sh.home.slots != nil {
		t.Fatal("an empty table was kept")
	}
}

// checkIndex checks a table's index: n counts the slots in use, and every
// record is reached by a probe from its home slot, past no empty slot.
func checkIndex(t *testing.T, tbl *locTable) {
	t.Helper()
	n := 0
	mask := len(tbl.slots) - 1
	for i, sl := range tbl.slots {
		if sl.rec.data == "" {
			continue
		}
		n++
		for j := tbl.home(sl.h); j != i; j = (j + 1) & mask {
			if tbl.slots[j].rec.data == "" {
				t.Fatalf("slot %d (home %d) is past empty slot %d", i, tbl.home(sl.h), j)
			}
		}
	}
	if n != tbl.n {
		t.Fatalf("%d slots in use, n = %d", n, tbl.n)
	}
	if len(tbl.slots) > 0 && (len(tbl.slots)&mask != 0 || tbl.n*maxLoadDen > len(tbl.slots)*maxLoadNum) {
		t.Fatalf("%d slots for %d AoRs", len(tbl.slots), tbl.n)
	}
}

// TestIndex drives one shard's index through random inserts, updates,
// removals and sweeps, with hashes drawn from a small set so that clusters
// form, wrap around the end of the index and share hashes, and checks the
// store against a plain map after every step. The index grows past 64
// slots and shrinks back.
func TestIndex(t *testing.T) {
	for _, hashes := range []int{3, 40, 1 << 20} {
		t.Run(fmt.Sprint(hashes), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(hashes)))
			s := New()
			// The home slot is the hash's top bits, the shard its low byte:
			// spread the few hashes over the top bits, keep every AoR in
			// shard 5.
			s.testHash = func(aor string) uint64 {
				v := maphash.String(s.seed, aor) % uint64(hashes)
				return v*0x9e3779b97f4a7c15&^0xff | 5
			}
			ctx := context.Background()
			model := map[string]string{} // AoR: its binding's Contact
			now := time.Now()
			for step := range 4000 {
				// Keep about 60 AoRs around mid-run and few at the start and
				// the end, so the index grows and shrinks.
				users := 8 + 52*min(step, 4000-step)/1000
				i := rng.IntN(users)
				aor := aorOf(i)
				b := binding(i)
				b.Contact = fmt.Sprintf("sip:%d@192.0.2.1", step)
				switch op := rng.IntN(10); {
				case op < 6:
					if rng.IntN(4) == 0 {
						b.Expires = now.Add(-time.Second) // the next sweep takes it
					}
					if _, err := s.Update(ctx, "location", aor, replace(b)); err != nil {
						t.Fatal(err)
					}
					model[aor] = b.Contact
					if b.Expires.Before(now) {
						model[aor] = "expired:" + b.Contact
					}
				case op < 9:
					if _, err := s.Update(ctx, "location", aor, removeAll); err != nil {
						t.Fatal(err)
					}
					delete(model, aor)
				default:
					expired, err := s.Expire(ctx, now)
					if err != nil {
						t.Fatal(err)
					}
					for _, e := range expired {
						if c := model[e.AOR]; c != "expired:"+e.Binding.Contact {
							t.Fatalf("step %d: Expire returned %s %s, model has %q", step, e.AOR, e.Binding.Contact, c)
						}
						delete(model, e.AOR)
					}
					for aor, c := range model {
						if strings.HasPrefix(c, "expired:") {
							t.Fatalf("step %d: Expire left %s", step, aor)
						}
					}
				}
				tbl := s.shard(5).tables["location"]
				if tbl == nil {
					if len(model) != 0 {
						t.Fatalf("step %d: table dropped with %d AoRs", step, len(model))
					}
					continue
				}
				checkIndex(t, tbl)
				if tbl.n != len(model) {
					t.Fatalf("step %d: %d AoRs held, want %d", step, tbl.n, len(model))
				}
				for aor, c := range model {
					got, err := s.Get(ctx, "location", aor)
					if err != nil || len(got) != 1 || "expired:"+got[0].Contact != c && got[0].Contact != c {
						t.Fatalf("step %d: Get(%s) = %+v, %v; want %s", step, aor, got, err, c)
					}
				}
				if step == 2000 && len(tbl.slots) < 64 {
					t.Fatalf("mid-run index of %d slots for %d AoRs", len(tbl.slots), tbl.n)
				}
			}
			for aor := range model {
				if _, err := s.Update(ctx, "location", aor, removeAll); err != nil {
					t.Fatal(err)
				}
				delete(model, aor)
				if len(model) == 4 {
					break
				}
			}
			if tbl := s.shard(5).tables["location"]; tbl == nil || tbl.n != len(model) || len(tbl.slots) > 32 {
				t.Fatalf("index left for %d AoRs: %v", len(model), func() any {
					if tbl == nil {
						return "table dropped"
					}
					return fmt.Sprintf("%d slots for %d", len(tbl.slots), tbl.n)
				}())
			}
		})
	}
}

// TestRemoveWraps removes the head of a cluster that wraps around the
// end of the index: every later AoR shifts back, across the wrap.
func TestRemoveWraps(t *testing.T) {
	s := New()
	homes := map[string]uint64{aorOf(1): 7, aorOf(2): 7, aorOf(3): 7, aorOf(4): 0, aorOf(5): 2}
	s.testHash = func(aor string) uint64 { return homes[aor]<<61 | 9 } // 8 slots: home = top 3 bits
	ctx := context.Background()
	for i := 1; i <= 5; i++ {
		if _, err := s.Update(ctx, "location", aorOf(i), replace(binding(i))); err != nil {
			t.Fatal(err)
		}
	}
	tbl := s.shard(9).tables["location"]
	where := func() []string {
		var got []string
		for _, sl := range tbl.slots {
			aor := ""
			if sl.rec.data != "" {
				aor = recordAOR(sl.rec.data)[len("sip:user0000"):][:2]
			}
			got = append(got, aor)
		}
		return got
	}
	// Homes 7, 7, 7, 0, 2 in 8 slots: 1 at 7, 2 at 0, 3 at 1, 4 at 2, 5 at 3.
	if got, want := where(), []string{"02", "03", "04", "05", "", "", "", "01"}; !slices.Equal(got, want) {
		t.Fatalf("slots %q, want %q", got, want)
	}
	if _, err := s.Update(ctx, "location", aorOf(1), removeAll); err != nil {
		t.Fatal(err)
	}
	// Each later AoR moves back one slot, across the end: 2 to 7, 3 to 0,
	// 4 to 1 (its home is 0), 5 to its home 2.
	if got, want := where(), []string{"03", "04", "05", "", "", "", "", "02"}; !slices.Equal(got, want) {
		t.Fatalf("after removing 1: slots %q, want %q", got, want)
	}
	checkIndex(t, tbl)
}

// TestShardSize checks that each shard takes exactly its two cache lines.
func TestShardSize(t *testing.T) {
	if got := unsafe.Sizeof(shard{}); got != shardSize {
		t.Fatalf("shard is %d bytes, want %d", got, shardSize)
	}
}

func TestOpen(t *testing.T) {
	for _, tc := range []struct {
		dsn     string
		wantErr bool
	}{
		{"memory:", false},
		{"memory://", false},
		{"memory:shards=4", true},
	} {
		st, err := usrloc.Open(context.Background(), tc.dsn)
		if (err != nil) != tc.wantErr {
			t.Errorf("Open(%q): err = %v, want error %v", tc.dsn, err, tc.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		if _, ok := st.(*Store); !ok {
			t.Errorf("Open(%q) = %T, want *memstore.Store", tc.dsn, st)
		}
		if err := st.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
}

func TestClosed(t *testing.T) {
	s := New()
	put := func(bs []usrloc.Binding) ([]usrloc.Binding, error) {
		return []usrloc.Binding{binding(1)}, nil
	}
	if _, err := s.Update(context.Background(), "location", aorOf(1), put); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(context.Background(), "location", aorOf(1)); err != ErrClosed {
		t.Errorf("Get after Close: %v, want ErrClosed", err)
	}
	if _, err := s.Update(context.Background(), "location", aorOf(1), put); err != ErrClosed {
		t.Errorf("Update after Close: %v, want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestInterning checks that the low-cardinality strings are shared, and
// that strings past the intern table's bounds are still stored.
func TestInterning(t *testing.T) {
	s := New()
	long := strings.Repeat("x", maxInternLen+1)
	in := []usrloc.Binding{binding(1), binding(2)}
	in[1].UserAgent = long
	in[0].Socket = "udp:127.0.0.1:" + fmt.Sprint(5060) // built at run time: not the constant's memory
	socket := in[0].Socket                             // Update writes its result over in
	got, err := s.Update(context.Background(), "location", aorOf(1), func([]usrloc.Binding) ([]usrloc.Binding, error) { return in, nil })
	if err != nil {
		t.Fatal(err)
	}
	if got[1].UserAgent != long {
		t.Errorf("long UserAgent not kept")
	}
	if got[0].Socket != got[1].Socket || unsafeData(got[0].Socket) != unsafeData(got[1].Socket) {
		t.Errorf("Socket not shared between bindings")
	}
	if unsafeData(got[0].Socket) == unsafeData(socket) {
		t.Errorf("interned Socket points into the caller's string")
	}

	// Fill the table: the rest is stored inline and read back unchanged.
	for i := range maxInterned + 10 {
		b := binding(i)
		b.UserAgent = fmt.Sprintf("UA %d", i)
		aor := aorOf(i % 1000)
		got, err := s.Update(context.Background(), "location", aor, func([]usrloc.Binding) ([]usrloc.Binding, error) {
			return []usrloc.Binding{b}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if got[0].UserAgent != b.UserAgent {
			t.Fatalf("UserAgent %q read back as %q", b.UserAgent, got[0].UserAgent)
		}
	}
	if s.interns.n != maxInterned {
		t.Errorf("intern table holds %d strings, want its bound %d", s.interns.n, maxInterned)
	}
}

// TestUpdateResultInPlace checks that Update decodes its result into the
// slice fn returned, whatever fn did to its copy of the current bindings:
// the result equals what Get returns, its strings point into the stored
// record rather than into what fn built the bindings from, and changing
// the result changes nothing stored.
func TestUpdateResultInPlace(t *testing.T) {
	s := New()
	ctx := context.Background()
	aor := aorOf(1)
	b1, b2, b3 := binding(1), binding(1), binding(1)
	b2.Contact, b3.Contact = "sip:two@198.51.100.8", "sip:three@198.51.100.9"
	// A contact built in a larger buffer, as one parsed from a request.
	request := "REGISTER ... Contact: <sip:four@198.51.100.10>\r\n"
	b4 := binding(1)
	b4.Contact = request[strings.Index(request, "<")+1 : strings.Index(request, ">")]
	if _, err := s.Update(ctx, "location", aor, func([]usrloc.Binding) ([]usrloc.Binding, error) {
		return []usrloc.Binding{b1, b2}, nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		fn   func(cur []usrloc.Binding) []usrloc.Binding
		want []string // contacts stored
	}{
		{"modified in place", func(cur []usrloc.Binding) []usrloc.Binding { cur[0].CSeq = 99; return cur }, []string{b1.Contact, b2.Contact}},
		{"shortened", func(cur []usrloc.Binding) []usrloc.Binding { return cur[1:] }, []string{b2.Contact}},
		{"grown", func(cur []usrloc.Binding) []usrloc.Binding { return append(cur, b3, b1) }, []string{b2.Contact, b3.Contact, b1.Contact}},
		{"replaced", func([]usrloc.Binding) []usrloc.Binding { return []usrloc.Binding{b4} }, []string{b4.Contact}},
	} {
		var returned []usrloc.Binding
		ret, err := s.Update(ctx, "location", aor, func(cur []usrloc.Binding) ([]usrloc.Binding, error) {
			returned = tc.fn(cur)
			return returned, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(ret) == 0 || &ret[0] != &returned[0] {
			t.Errorf("%s: the result is not in the slice fn returned", tc.name)
		}
		got, _ := s.Get(ctx, "location", aor)
		var contacts []string
		for i := range ret {
			contacts = append(contacts, ret[i].Contact)
			if !reflect.DeepEqual(ret[i], got[i]) {
				t.Errorf("%s: result %d differs from Get: %+v, %+v", tc.name, i, ret[i], got[i])
			}
			if p := unsafe.StringData(ret[i].Contact); p == unsafe.StringData(b4.Contact) {
				t.Errorf("%s: result %d points into the caller's string", tc.name, i)
			}
		}
		if !slices.Equal(contacts, tc.want) || len(got) != len(ret) {
			t.Errorf("%s: stored %v, want %v", tc.name, contacts, tc.want)
		}
		for i := range ret {
			ret[i].Contact, ret[i].CSeq = "sip:mutated@invalid", 12345
		}
		if again, _ := s.Get(ctx, "location", aor); !reflect.DeepEqual(again, got) {
			t.Errorf("%s: changing the result changed the store", tc.name)
		}
	}
}

func aorOf(i int) string { return fmt.Sprintf("sip:user%06d@example.com", i) }

// binding returns the realistic UDP binding the memory figures are for.
func binding(i int) usrloc.Binding {
	now := time.Now()
	return usrloc.Binding{
		AOR:       aorOf(i),
		Contact:   fmt.Sprintf("sip:user%06d@198.51.100.7:5060;transport=udp", i),
		Expires:   now.Add(time.Hour),
		Q:         usrloc.QUnset,
		CallID:    fmt.Sprintf("a84b4c76e66710-%08d-%012d", i, i),
		CSeq:      uint32(i%1000 + 1),
		Received:  "udp:198.51.100.7:5060",
		Socket:    "udp:127.0.0.1:5060",
		UserAgent: "Zoiper rv2.10",
		Modified:  now,
		RUID:      fmt.Sprintf("uloc-6780a1b2-%06d", i),
	}
}

func replace(b usrloc.Binding) func([]usrloc.Binding) ([]usrloc.Binding, error) {
	return func([]usrloc.Binding) ([]usrloc.Binding, error) { return []usrloc.Binding{b}, nil }
}

// removeAll is an update that deletes the AoR.
func removeAll([]usrloc.Binding) ([]usrloc.Binding, error) { return nil, nil }

// BenchmarkBindingMemory inserts 1,000,000 AoRs of one binding each and
// reports the live heap they take. Run it with -benchtime=1x.
func BenchmarkBindingMemory(b *testing.B) {
	const n = 1_000_000
	bs := make([]usrloc.Binding, n)
	for i := range bs {
		bs[i] = binding(i)
	}
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s := New()
		b.StartTimer()
		start := time.Now()
		for i := range bs {
			if _, err := s.Update(ctx, "location", bs[i].AOR, replace(bs[i])); err != nil {
				b.Fatal(err)
			}
		}
		elapsed := time.Since(start)
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(s)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/binding")
		b.ReportMetric(float64(elapsed.Nanoseconds())/n, "ns/insert")
		b.StartTimer()
	}
	runtime.KeepAlive(bs)
}

const benchAoRs = 100_000

func filled(b *testing.B) (*Store, []usrloc.Binding) {
	s := New()
	bs := make([]usrloc.Binding, benchAoRs)
	for i := range bs {
		bs[i] = binding(i)
		if _, err := s.Update(context.Background(), "location", bs[i].AOR, replace(bs[i])); err != nil {
			b.Fatal(err)
		}
	}
	return s, bs
}

// BenchmarkUpdate is a re-REGISTER: replace an AoR's one binding.
func BenchmarkUpdate(b *testing.B) {
	s, bs := filled(b)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		x := &bs[i%benchAoRs]
		x.CSeq++
		if _, err := s.Update(ctx, "location", x.AOR, replace(*x)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkUpdateHot is BenchmarkUpdate over 1,000 AoRs, whose records
// stay in the CPU caches: the store's own work without the memory stalls.
func BenchmarkUpdateHot(b *testing.B) {
	s, bs := filled(b)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		x := &bs[i%1000]
		x.CSeq++
		if _, err := s.Update(ctx, "location", x.AOR, replace(*x)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkUpdateParallel(b *testing.B) {
	s, bs := filled(b)
	ctx := context.Background()
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer() // RunParallel, unlike b.Loop, counts the setup
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(7919))
		for pb.Next() {
			x := bs[i%benchAoRs]
			if _, err := s.Update(ctx, "location", x.AOR, replace(x)); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

func BenchmarkGet(b *testing.B) {
	s, bs := filled(b)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		got, err := s.Get(ctx, "location", bs[i%benchAoRs].AOR)
		if err != nil || len(got) != 1 {
			b.Fatal(err, len(got))
		}
		i++
	}
}

func BenchmarkGetParallel(b *testing.B) {
	s, bs := filled(b)
	ctx := context.Background()
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer() // RunParallel, unlike b.Loop, counts the setup
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(7919))
		for pb.Next() {
			got, err := s.Get(ctx, "location", bs[i%benchAoRs].AOR)
			if err != nil || len(got) != 1 {
				b.Fatal(err, len(got))
			}
			i++
		}
	})
}

func unsafeData(s string) *byte { return unsafe.StringData(s) }

// BenchmarkExpireScan is one sweep of 100,000 AoRs with nothing due: the
// cost of a sweeper tick on an idle store.
func BenchmarkExpireScan(b *testing.B) {
	s, _ := filled(b)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if expired, err := s.Expire(context.Background(), now); err != nil || len(expired) != 0 {
			b.Fatal(err, len(expired))
		}
	}
}

// BenchmarkListPage reads one page of 100 AoRs from the middle of 100,000.
func BenchmarkListPage(b *testing.B) {
	s, _ := filled(b)
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		err := s.List(context.Background(), "location", "sip:", aorOf(50_000), func(string, []usrloc.Binding) bool {
			n++
			return n < 100
		})
		if err != nil || n != 100 {
			b.Fatal(err, n)
		}
	}
}
