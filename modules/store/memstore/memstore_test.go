package memstore

import (
	"context"
	"fmt"
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

// TestCollisions moves AoRs that share a hash through every path: the
// first takes the hash, the others are held by their string; removing the
// first leaves the others where they are, and a new AoR takes the free hash.
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
		if _, err := s.Update(ctx, "location", aorOf(i), func([]usrloc.Binding) ([]usrloc.Binding, error) { return nil, nil }); err != nil {
			t.Fatal(err)
		}
	}
	want := func(when string, present ...int) {
		t.Helper()
		tbl := s.shard(42).tables["location"]
		n := 0
		if tbl != nil {
			n = len(tbl.aors) + len(tbl.collided)
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
	if tbl := s.shard(42).tables["location"]; len(tbl.aors) != 1 || len(tbl.collided) != 2 {
		t.Fatalf("held %d by hash and %d by string, want 1 and 2", len(tbl.aors), len(tbl.collided))
	}
	del(1)
	want("the hash holder removed", 2, 3)
	put(2) // an update of an AoR held by its string stays there
	want("the others updated", 2, 3)
	put(4)
	want("a new AoR inserted", 2, 3, 4)
	if tbl := s.shard(42).tables["location"]; len(tbl.aors) != 1 || len(tbl.collided) != 2 || recordAOR(tbl.aors[42].data) != aorOf(4) {
		t.Fatalf("held %d by hash and %d by string, want the new AoR by hash and the others by string", len(tbl.aors), len(tbl.collided))
	}
	del(2)
	del(3)
	want("two removed", 4)
	if tbl := s.shard(42).tables["location"]; tbl.collided != nil {
		t.Fatalf("empty collided map kept: %v", tbl.collided)
	}
	del(4)
	want("all removed")
	if len(s.shard(42).tables) != 0 || s.shard(42).last != nil {
		t.Fatal("an empty table was kept")
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
	if unsafeData(got[0].Socket) == unsafeData(in[0].Socket) {
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

// TestUpdateSharedAllocation checks that fn's copy and Update's result,
// which share one allocation, never reach each other: whatever fn does with
// its copy, and keeps of it, the result is what Get returns, and changing
// one leaves the other alone.
func TestUpdateSharedAllocation(t *testing.T) {
	s := New()
	ctx := context.Background()
	aor := aorOf(1)
	b1, b2, b3 := binding(1), binding(1), binding(1)
	b2.Contact, b3.Contact = "sip:two@198.51.100.8", "sip:three@198.51.100.9"
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
		{"replaced", func([]usrloc.Binding) []usrloc.Binding { return []usrloc.Binding{b3} }, []string{b3.Contact}},
	} {
		var kept, keptCopy []usrloc.Binding
		ret, err := s.Update(ctx, "location", aor, func(cur []usrloc.Binding) ([]usrloc.Binding, error) {
			next := tc.fn(cur)
			kept, keptCopy = cur, slices.Clone(cur)
			return next, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := s.Get(ctx, "location", aor)
		var contacts []string
		for i := range ret {
			contacts = append(contacts, ret[i].Contact)
			if !reflect.DeepEqual(ret[i], got[i]) {
				t.Errorf("%s: result %d differs from Get: %+v, %+v", tc.name, i, ret[i], got[i])
			}
		}
		if !slices.Equal(contacts, tc.want) || len(got) != len(ret) {
			t.Errorf("%s: stored %v, want %v", tc.name, contacts, tc.want)
		}
		if !reflect.DeepEqual(kept, keptCopy) {
			t.Errorf("%s: making the result changed fn's copy", tc.name)
		}
		for i := range ret {
			ret[i].Contact, ret[i].CSeq = "sip:mutated@invalid", 12345
		}
		if !reflect.DeepEqual(kept, keptCopy) {
			t.Errorf("%s: changing the result changed fn's copy", tc.name)
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

// TestKeyInRecord checks that an AoR held under its AoR string (one whose
// hash another AoR holds) is keyed by a substring of its record, never the
// caller's string (which may point into a whole request), after an insert,
// an update and an Expire that rewrites the record.
func TestKeyInRecord(t *testing.T) {
	s := New()
	s.testHash = func(string) uint64 { return 7 } // every AoR collides
	ctx := context.Background()
	if _, err := s.Update(ctx, "location", aorOf(1), replace(binding(1))); err != nil {
		t.Fatal(err) // aorOf(1) takes the hash, so aorOf(7) goes by its string
	}
	request := "REGISTER sip:example.com SIP/2.0\r\nTo: <" + aorOf(7) + ">\r\n"
	aor := request[strings.Index(request, "<")+1 : strings.Index(request, ">")]
	check := func(when string) {
		t.Helper()
		n := 0
		for key, rec := range s.shard(7).tables["location"].collided {
			if key != aor {
				continue
			}
			n++
			k, d := uintptr(unsafe.Pointer(unsafe.StringData(key))), uintptr(unsafe.Pointer(unsafe.StringData(rec.data)))
			if k < d || k+uintptr(len(key)) > d+uintptr(len(rec.data)) {
				t.Errorf("%s: key is not inside its record", when)
			}
		}
		if n != 1 {
			t.Fatalf("%s: AoR stored %d times under its string, want 1", when, n)
		}
	}
	b1, b2 := binding(7), binding(7)
	b2.Contact = "sip:other@198.51.100.8"
	b2.Expires = time.Now().Add(-time.Second)
	if _, err := s.Update(ctx, "location", aor, replace(b1)); err != nil {
		t.Fatal(err)
	}
	check("after insert")
	if _, err := s.Update(ctx, "location", strings.Clone(aor), func([]usrloc.Binding) ([]usrloc.Binding, error) {
		return []usrloc.Binding{b1, b2}, nil
	}); err != nil {
		t.Fatal(err)
	}
	check("after update")
	expired, err := s.Expire(ctx, time.Now())
	if err != nil || len(expired) != 1 {
		t.Fatalf("Expire = %d bindings, %v; want 1", len(expired), err)
	}
	check("after Expire")
}

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
