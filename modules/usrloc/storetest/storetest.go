// Package storetest is the conformance suite every usrloc.Store backend
// runs against a real instance of itself:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) usrloc.Store { return memstore.New() })
//	}
//
// What the suite holds a store to, beyond the usrloc.Store doc comments:
//
//   - Times (Expires, Modified) are kept to at least the millisecond: the
//     suite compares them with time.Equal after truncating both sides to the
//     millisecond, so a store may truncate to the millisecond (SQL, Redis) or
//     keep them exactly, but must not round up. Locations are not compared.
//   - Every other Binding field is kept exactly, and an AoR's bindings come
//     back in the order fn returned them. A nil and an empty Path are equal.
//   - fn gets a copy of the current bindings: mutating it, the slice Get
//     returns, the slice Update returns, or the slice given to the store,
//     never changes what is stored.
//   - Update returns the bindings it stored, as Get would return them.
//   - Expire returns each expired binding with its table and AOR set.
//   - Changes may be nil. Context cancellation is not tested yet.
//
// Run the suite with -race: two subtests are concurrency tests.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/locus-sip/locus/modules/usrloc"
)

// Run runs the conformance suite. open must return a fresh, empty store for
// each subtest; the suite closes it.
func Run(t *testing.T, open func(t *testing.T) usrloc.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, st usrloc.Store)
	}{
		{"GetMissing", testGetMissing},
		{"UpdateInsertGet", testUpdateInsertGet},
		{"UpdateReplaces", testUpdateReplaces},
		{"TablesSeparate", testTablesSeparate},
		{"FnErrorAborts", testFnErrorAborts},
		{"EmptyResultDeletes", testEmptyResultDeletes},
		{"CopiesNotShared", testCopiesNotShared},
		{"ConcurrentSameAoR", testConcurrentSameAoR},
		{"ConcurrentManyAoRs", testConcurrentManyAoRs},
		{"Expire", testExpire},
		{"ListOrder", testListOrder},
		{"ListPrefix", testListPrefix},
		{"ListPaging", testListPaging},
		{"ListStop", testListStop},
		{"Changes", testChanges},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := open(t)
			if st == nil {
				t.Fatal("open returned a nil store")
			}
			t.Cleanup(func() {
				if err := st.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, st)
		})
	}
}

const (
	table  = "location"
	table2 = "location2"
)

// base is a fixed instant with a sub-millisecond part, so that stores that
// truncate to the millisecond are exercised.
var base = time.Date(2030, 5, 17, 10, 20, 30, 123_456_789, time.UTC)

// full returns a binding of aor with every field set to a non-zero value
// derived from n.
func full(aor string, n int) usrloc.Binding {
	return usrloc.Binding{
		AOR:       aor,
		Contact:   fmt.Sprintf("sip:u%d@198.51.100.%d:5060;transport=tcp;ob", n, n%250+1),
		Expires:   base.Add(time.Duration(n+1) * time.Hour),
		Q:         500 + n%500,
		CallID:    fmt.Sprintf("f81d4fae-7dec-11d0-a765-%012d", n),
		CSeq:      uint32(1_000_000 + n),
		Received:  fmt.Sprintf("tcp:203.0.113.%d:%d", n%250+1, 40000+n),
		Socket:    "tcp:192.0.2.1:5060",
		ConnID:    fmt.Sprintf("conn-%d", n),
		Path:      []string{fmt.Sprintf("<sip:edge%d.example.net;lr;ob>", n), "<sip:core.example.net;lr>"},
		Instance:  fmt.Sprintf("urn:uuid:00000000-0000-1000-8000-%012d", n),
		RegID:     1 + n%3,
		UserAgent: "Linphone/5.2.0 (belle-sip/5.2.0)",
		Methods:   "INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE",
		Flags:     0x8000_0001 | uint32(n)<<4,
		Modified:  base.Add(time.Duration(n) * time.Second),
		RUID:      fmt.Sprintf("uloc-64b2a1f0-%08x", n),
	}
}

// short returns a binding with only the fields a plain UDP phone sets.
func short(aor, contact string, expires time.Time) usrloc.Binding {
	return usrloc.Binding{
		AOR:      aor,
		Contact:  contact,
		Expires:  expires,
		Q:        usrloc.QUnset,
		CallID:   "call-" + contact,
		CSeq:     1,
		Received: "udp:198.51.100.7:5060",
		Socket:   "udp:127.0.0.1:5060",
		Modified: base,
		RUID:     "ruid-" + contact,
	}
}

// put stores bs as the AoR's bindings, failing the test on error.
func put(t *testing.T, st usrloc.Store, tbl, aor string, bs ...usrloc.Binding) {
	t.Helper()
	in := slices.Clone(bs)
	if _, err := st.Update(context.Background(), tbl, aor, func([]usrloc.Binding) ([]usrloc.Binding, error) {
		return in, nil
	}); err != nil {
		t.Fatalf("Update(%s, %s): %v", tbl, aor, err)
	}
}

// get returns the AoR's bindings, failing the test on error.
func get(t *testing.T, st usrloc.Store, tbl, aor string) []usrloc.Binding {
	t.Helper()
	bs, err := st.Get(context.Background(), tbl, aor)
	if err != nil {
		t.Fatalf("Get(%s, %s): %v", tbl, aor, err)
	}
	return bs
}

// list returns the AoRs List visits with the given prefix and after.
func list(t *testing.T, st usrloc.Store, tbl, prefix, after string) []string {
	t.Helper()
	var aors []string
	err := st.List(context.Background(), tbl, prefix, after, func(aor string, bs []usrloc.Binding) bool {
		if len(bs) == 0 {
			t.Errorf("List(%s): %s has no bindings", tbl, aor)
		}
		aors = append(aors, aor)
		return true
	})
	if err != nil {
		t.Fatalf("List(%s, %q, %q): %v", tbl, prefix, after, err)
	}
	return aors
}

func sameTime(a, b time.Time) bool {
	return a.Truncate(time.Millisecond).Equal(b.Truncate(time.Millisecond))
}

// diffBinding describes how got differs from want, "" if it does not.
func diffBinding(got, want usrloc.Binding) string {
	var d []string
	str := func(name, g, w string) {
		if g != w {
			d = append(d, fmt.Sprintf("%s = %q, want %q", name, g, w))
		}
	}
	num := func(name string, g, w int64) {
		if g != w {
			d = append(d, fmt.Sprintf("%s = %d, want %d", name, g, w))
		}
	}
	tm := func(name string, g, w time.Time) {
		if !sameTime(g, w) {
			d = append(d, fmt.Sprintf("%s = %v, want %v (compared to the millisecond)", name, g, w))
		}
	}
	str("AOR", got.AOR, want.AOR)
	str("Contact", got.Contact, want.Contact)
	tm("Expires", got.Expires, want.Expires)
	num("Q", int64(got.Q), int64(want.Q))
	str("CallID", got.CallID, want.CallID)
	num("CSeq", int64(got.CSeq), int64(want.CSeq))
	str("Received", got.Received, want.Received)
	str("Socket", got.Socket, want.Socket)
	str("ConnID", got.ConnID, want.ConnID)
	if !slices.Equal(got.Path, want.Path) {
		d = append(d, fmt.Sprintf("Path = %q, want %q", got.Path, want.Path))
	}
	str("Instance", got.Instance, want.Instance)
	num("RegID", int64(got.RegID), int64(want.RegID))
	str("UserAgent", got.UserAgent, want.UserAgent)
	str("Methods", got.Methods, want.Methods)
	num("Flags", int64(got.Flags), int64(want.Flags))
	tm("Modified", got.Modified, want.Modified)
	str("RUID", got.RUID, want.RUID)
	return strings.Join(d, "; ")
}

// checkBindings fails the test unless got holds exactly want, in order.
func checkBindings(t *testing.T, what string, got, want []usrloc.Binding) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d bindings, want %d", what, len(got), len(want))
		return
	}
	for i := range want {
		if d := diffBinding(got[i], want[i]); d != "" {
			t.Errorf("%s: binding %d: %s", what, i, d)
		}
	}
}

func testGetMissing(t *testing.T, st usrloc.Store) {
	bs, err := st.Get(context.Background(), table, "sip:nobody@example.com")
	if err != nil {
		t.Fatalf("Get of a missing AoR: %v, want nil error", err)
	}
	if len(bs) != 0 {
		t.Fatalf("Get of a missing AoR: %d bindings, want 0", len(bs))
	}
	if aors := list(t, st, table, "", ""); len(aors) != 0 {
		t.Fatalf("List of an empty store: %q, want nothing", aors)
	}
}

func testUpdateInsertGet(t *testing.T, st usrloc.Store) {
	const aor = "sip:alice@example.com"
	want := []usrloc.Binding{
		full(aor, 1),
		full(aor, 2),
		short(aor, "sip:alice@198.51.100.9:5060", base.Add(time.Hour)),
	}
	want[1].Q = 0 // q=0 is a valid value, distinct from QUnset
	want[1].Expires = time.Date(2031, 1, 2, 3, 4, 5, 999_999_999, time.FixedZone("CET", 3600))
	var calls int
	ret, err := st.Update(context.Background(), table, aor, func(cur []usrloc.Binding) ([]usrloc.Binding, error) {
		calls++
		if len(cur) != 0 {
			t.Errorf("fn for a new AoR got %d bindings, want 0", len(cur))
		}
		return slices.Clone(want), nil
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if calls == 0 {
		t.Fatal("Update did not call fn")
	}
	checkBindings(t, "Update's result", ret, want)
	checkBindings(t, "Get after insert", get(t, st, table, aor), want)

	// The next update sees exactly what was stored.
	_, err = st.Update(context.Background(), table, aor, func(cur []usrloc.Binding) ([]usrloc.Binding, error) {
		checkBindings(t, "fn's current bindings", cur, want)
		return cur, nil
	})
	if err != nil {
		t.Fatalf("second Update: %v", err)
	}
	checkBindings(t, "Get after an unchanged update", get(t, st, table, aor), want)
	if got := get(t, st, table, "sip:alice@example.co"); len(got) != 0 {
		t.Errorf("Get of a prefix of a stored AoR: %d bindings, want 0", len(got))
	}
}

func testUpdateReplaces(t *testing.T, st usrloc.Store) {
	const aor = "sip:bob@example.com"
	put(t, st, table, aor, full(aor, 1), full(aor, 2), full(aor, 3))
	want := []usrloc.Binding{full(aor, 3), full(aor, 1)}
	want[0].CSeq++
	want[0].Expires = want[0].Expires.Add(time.Minute)
	want[1].Path = nil
	want[1].UserAgent = "other UA"
	ret, err := st.Update(context.Background(), table, aor, func(cur []usrloc.Binding) ([]usrloc.Binding, error) {
		if len(cur) != 3 {
			t.Errorf("fn got %d bindings, want 3", len(cur))
		}
		return slices.Clone(want), nil
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	checkBindings(t, "Update's result", ret, want)
	checkBindings(t, "Get after replace", get(t, st, table, aor), want)
}

func testTablesSeparate(t *testing.T, st usrloc.Store) {
	const aor = "sip:carol@example.com"
	one := []usrloc.Binding{full(aor, 1)}
	two := []usrloc.Binding{full(aor, 2), full(aor, 3)}
	put(t, st, table, aor, one...)
	if got := get(t, st, table2, aor); len(got) != 0 {
		t.Fatalf("Get from %s after a write to %s: %d bindings, want 0", table2, table, len(got))
	}
	put(t, st, table2, aor, two...)
	checkBindings(t, "Get from "+table, get(t, st, table, aor), one)
	checkBindings(t, "Get from "+table2, get(t, st, table2, aor), two)

	put(t, st, table2, "sip:dave@example.com", full("sip:dave@example.com", 4))
	if got := list(t, st, table, "", ""); !slices.Equal(got, []string{aor}) {
		t.Errorf("List(%s) = %q, want [%s]", table, got, aor)
	}
	if got, want := list(t, st, table2, "", ""), []string{aor, "sip:dave@example.com"}; !slices.Equal(got, want) {
		t.Errorf("List(%s) = %q, want %q", table2, got, want)
	}

	put(t, st, table, aor) // delete from the first table only
	if got := get(t, st, table, aor); len(got) != 0 {
		t.Errorf("Get from %s after delete: %d bindings, want 0", table, len(got))
	}
	checkBindings(t, "Get from "+table2+" after delete in "+table, get(t, st, table2, aor), two)
}

var errAbort = errors.New("storetest: abort")

func testFnErrorAborts(t *testing.T, st usrloc.Store) {
	const aor = "sip:erin@example.com"
	want := []usrloc.Binding{full(aor, 1)}
	put(t, st, table, aor, want...)

	_, err := st.Update(context.Background(), table, aor, func(cur []usrloc.Binding) ([]usrloc.Binding, error) {
		return nil, fmt.Errorf("too many contacts: %w", errAbort)
	})
	if !errors.Is(err, errAbort) {
		t.Fatalf("Update with failing fn (delete): err = %v, want one wrapping %v", err, errAbort)
	}
	checkBindings(t, "Get after an aborted delete", get(t, st, table, aor), want)

	_, err = st.Update(context.Background(), table, aor, func(cur []usrloc.Binding) ([]usrloc.Binding, error) {
		return append(slices.Clone(cur), full(aor, 2)), errAbort
	})
	if !errors.Is(err, errAbort) {
		t.Fatalf("Update with failing fn (append): err = %v, want %v", err, errAbort)
	}
	checkBindings(t, "Get after an aborted append", get(t, st, table, aor), want)

	const fresh = "sip:frank@example.com"
	_, err = st.Update(context.Background(), table, fresh, func(cur []usrloc.Binding) ([]usrloc.Binding, error) {
		return []usrloc.Binding{full(fresh, 3)}, errAbort
	})
	if !errors.Is(err, errAbort) {
		t.Fatalf("Update of a new AoR with failing fn: err = %v, want %v", err, errAbort)
	}
	if got := get(t, st, table, fresh); len(got) != 0 {
		t.Errorf("Get after an aborted insert: %d bindings, want 0", len(got))
	}
	if got := list(t, st, table, "", ""); !slices.Equal(got, []string{aor}) {
		t.Errorf("List after an aborted insert = %q, want [%s]", got, aor)
	}
}

func testEmptyResultDeletes(t *testing.T, st usrloc.Store) {
	for _, tc := range []struct {
		name  string
		empty []usrloc.Binding
	}{
		{"nil", nil},
		{"empty", []usrloc.Binding{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			aor := "sip:" + tc.name + "@example.com"
			put(t, st, table, aor, full(aor, 1), full(aor, 2))
			put(t, st, table, "sip:zed@example.com", full("sip:zed@example.com", 3))
			ret, err := st.Update(context.Background(), table, aor, func(cur []usrloc.Binding) ([]usrloc.Binding, error) {
				return tc.empty, nil
			})
			if err != nil {
				t.Fatalf("Update to empty: %v", err)
			}
			if len(ret) != 0 {
				t.Errorf("Update to empty returned %d bindings, want 0", len(ret))
			}
			if got := get(t, st, table, aor); len(got) != 0 {
				t.Errorf("Get after delete: %d bindings, want 0", len(got))
			}
			if got := list(t, st, table, "", ""); slices.Contains(got, aor) {
				t.Errorf("List after delete = %q, still shows %s", got, aor)
			}
			// The AoR comes back as new.
			_, err = st.Update(context.Background(), table, aor, func(cur []usrloc.Binding) ([]usrloc.Binding, error) {
				if len(cur) != 0 {
					t.Errorf("fn after delete got %d bindings, want 0", len(cur))
				}
				return nil, nil
			})
			if err != nil {
				t.Fatalf("Update of a deleted AoR: %v", err)
			}
		})
	}
}

func testCopiesNotShared(t *testing.T, st usrloc.Store) {
	const aor = "sip:grace@example.com"
	want := []usrloc.Binding{full(aor, 1), full(aor, 2)}
	in := slices.Clone(want)
	for i := range in {
		in[i].Path = slices.Clone(in[i].Path)
	}
	ret, err := st.Update(context.Background(), table, aor, func([]usrloc.Binding) ([]usrloc.Binding, error) {
		return in, nil
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	mutate := func(bs []usrloc.Binding) {
		for i := range bs {
			bs[i].Contact = "sip:mutated@invalid"
			bs[i].CSeq = 999
			bs[i].Expires = time.Time{}
			if len(bs[i].Path) > 0 {
				bs[i].Path[0] = "<sip:mutated;lr>"
			}
		}
	}

	mutate(in)
	checkBindings(t, "Get after mutating the slice fn returned", get(t, st, table, aor), want)
	mutate(ret)
	checkBindings(t, "Get after mutating Update's result", get(t, st, table, aor), want)
	got := get(t, st, table, aor)
	mutate(got)
	checkBindings(t, "Get after mutating an earlier Get's result", get(t, st, table, aor), want)

	_, err = st.Update(context.Background(), table, aor, func(cur []usrloc.Binding) ([]usrloc.Binding, error) {
		mutate(cur)
		return nil, errAbort
	})
	if !errors.Is(err, errAbort) {
		t.Fatalf("Update: err = %v, want %v", err, errAbort)
	}
	checkBindings(t, "Get after fn mutated its bindings and failed", get(t, st, table, aor), want)
	err = st.List(context.Background(), table, "", "", func(_ string, bs []usrloc.Binding) bool {
		mutate(bs)
		return true
	})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	checkBindings(t, "Get after mutating List's bindings", get(t, st, table, aor), want)
}

// appendOne returns an update fn that appends b to the current bindings
// without touching cur.
func appendOne(b usrloc.Binding) func([]usrloc.Binding) ([]usrloc.Binding, error) {
	return func(cur []usrloc.Binding) ([]usrloc.Binding, error) {
		out := make([]usrloc.Binding, len(cur), len(cur)+1)
		copy(out, cur)
		return append(out, b), nil
	}
}

func testConcurrentSameAoR(t *testing.T, st usrloc.Store) {
	const (
		aor        = "sip:hot@example.com"
		goroutines = 8
		updates    = 100
	)
	exp := base.Add(time.Hour)
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*updates)
	for g := range goroutines {
		wg.Go(func() {
			for i := range updates {
				b := short(aor, fmt.Sprintf("sip:g%d-%d@198.51.100.7", g, i), exp)
				if _, err := st.Update(context.Background(), table, aor, appendOne(b)); err != nil {
					errs <- err
				}
				if i%10 == 0 { // readers race the writers
					if _, err := st.Get(context.Background(), table, aor); err != nil {
						errs <- err
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent Update: %v", err)
	}
	got := get(t, st, table, aor)
	if len(got) != goroutines*updates {
		t.Fatalf("after %d concurrent appends: %d bindings (lost updates)", goroutines*updates, len(got))
	}
	seen := map[string]bool{}
	for _, b := range got {
		if seen[b.Contact] {
			t.Errorf("contact %s stored twice", b.Contact)
		}
		seen[b.Contact] = true
	}
	for g := range goroutines {
		for i := range updates {
			if c := fmt.Sprintf("sip:g%d-%d@198.51.100.7", g, i); !seen[c] {
				t.Errorf("contact %s missing", c)
			}
		}
	}
}

func testConcurrentManyAoRs(t *testing.T, st usrloc.Store) {
	const (
		goroutines = 8
		updates    = 250
		aors       = 50
	)
	aor := func(i int) string { return fmt.Sprintf("sip:user%03d@example.com", i) }
	exp := base.Add(time.Hour)
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*updates)
	for g := range goroutines {
		wg.Go(func() {
			for i := range updates {
				a := aor((g*7 + i) % aors)
				tbl := table
				if i%5 == 0 {
					tbl = table2
				}
				b := short(a, fmt.Sprintf("sip:g%d-%d@198.51.100.7", g, i), exp)
				if _, err := st.Update(context.Background(), tbl, a, appendOne(b)); err != nil {
					errs <- err
				}
				switch i % 25 {
				case 1:
					if _, err := st.Get(context.Background(), tbl, aor(i%aors)); err != nil {
						errs <- err
					}
				case 2:
					if err := st.List(context.Background(), table, "", "", func(string, []usrloc.Binding) bool { return true }); err != nil {
						errs <- err
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent Update: %v", err)
	}
	counts := map[string]int{}
	var total int
	for _, tbl := range []string{table, table2} {
		for i := range aors {
			for _, b := range get(t, st, tbl, aor(i)) {
				if b.AOR != aor(i) {
					t.Errorf("%s %s holds a binding of %s", tbl, aor(i), b.AOR)
				}
				counts[tbl+" "+b.Contact]++
				total++
			}
		}
	}
	if total != goroutines*updates {
		t.Fatalf("after %d concurrent appends: %d bindings (lost updates)", goroutines*updates, total)
	}
	for k, n := range counts {
		if n != 1 {
			t.Errorf("%s stored %d times", k, n)
		}
	}
	if got := list(t, st, table, "", ""); len(got) != aors {
		t.Errorf("List after concurrent updates: %d AoRs, want %d", len(got), aors)
	}
}

func testExpire(t *testing.T, st usrloc.Store) {
	now := base.Truncate(time.Millisecond)
	past, future := now.Add(-time.Minute), now.Add(time.Minute)
	const a, b, c, d = "sip:a@example.com", "sip:b@example.com", "sip:c@example.com", "sip:d@example.com"

	put(t, st, table, a, short(a, "sip:a1@x", past), short(a, "sip:a2@x", now))
	put(t, st, table, b,
		short(b, "sip:b1@x", future),
		short(b, "sip:b2@x", now), // at now: expired
		short(b, "sip:b3@x", now.Add(time.Millisecond)),
		short(b, "sip:b4@x", past),
		short(b, "sip:b5@x", time.Time{}), // never given an expiry: long expired
	)
	put(t, st, table, c, short(c, "sip:c1@x", future))
	put(t, st, table2, d, short(d, "sip:d1@x", past), short(d, "sip:d2@x", future))
	put(t, st, table2, a, short(a, "sip:a3@x", past))

	expired, err := st.Expire(context.Background(), now)
	if err != nil {
		t.Fatalf("Expire: %v", err)
	}
	type key struct{ table, aor, contact string }
	var got []key
	for _, x := range expired {
		got = append(got, key{x.Table, x.AOR, x.Contact})
		if x.Expires.After(now) {
			t.Errorf("Expire returned %s with Expires %v after now %v", x.Contact, x.Expires, now)
		}
		if x.CallID != "call-"+x.Contact || x.Received != "udp:198.51.100.7:5060" {
			t.Errorf("Expire returned %s without its fields: %+v", x.Contact, x)
		}
	}
	want := []key{{table, a, "sip:a1@x"}, {table, a, "sip:a2@x"}, {table, b, "sip:b2@x"}, {table, b, "sip:b4@x"}, {table, b, "sip:b5@x"}, {table2, a, "sip:a3@x"}, {table2, d, "sip:d1@x"}}
	cmp := func(x, y key) int {
		return strings.Compare(x.table+" "+x.aor+" "+x.contact, y.table+" "+y.aor+" "+y.contact)
	}
	slices.SortFunc(got, cmp)
	if !slices.Equal(got, want) {
		t.Errorf("Expire returned %v, want %v", got, want)
	}

	if got := get(t, st, table, a); len(got) != 0 {
		t.Errorf("Get(%s) after Expire: %d bindings, want 0", a, len(got))
	}
	if got := get(t, st, table2, a); len(got) != 0 {
		t.Errorf("Get(%s, %s) after Expire: %d bindings, want 0", table2, a, len(got))
	}
	checkBindings(t, "Get(b) after Expire", get(t, st, table, b),
		[]usrloc.Binding{short(b, "sip:b1@x", future), short(b, "sip:b3@x", now.Add(time.Millisecond))})
	checkBindings(t, "Get(c) after Expire", get(t, st, table, c), []usrloc.Binding{short(c, "sip:c1@x", future)})
	checkBindings(t, "Get(d) after Expire", get(t, st, table2, d), []usrloc.Binding{short(d, "sip:d2@x", future)})
	if got, want := list(t, st, table, "", ""), []string{b, c}; !slices.Equal(got, want) {
		t.Errorf("List after Expire = %q, want %q", got, want)
	}
	if got, want := list(t, st, table2, "", ""), []string{d}; !slices.Equal(got, want) {
		t.Errorf("List(%s) after Expire = %q, want %q", table2, got, want)
	}

	again, err := st.Expire(context.Background(), now)
	if err != nil {
		t.Fatalf("second Expire: %v", err)
	}
	if len(again) != 0 {
		t.Errorf("second Expire at the same instant returned %d bindings, want 0", len(again))
	}
	later, err := st.Expire(context.Background(), now.Add(time.Millisecond))
	if err != nil {
		t.Fatalf("third Expire: %v", err)
	}
	if len(later) != 1 || later[0].Contact != "sip:b3@x" || later[0].AOR != b {
		t.Errorf("Expire one millisecond later returned %+v, want only sip:b3@x of %s", later, b)
	}
}

func testListOrder(t *testing.T, st usrloc.Store) {
	var want []string
	for i := range 40 {
		want = append(want, fmt.Sprintf("sip:%c%d@example.com", 'a'+rune(i%26), i))
	}
	want = append(want, "sip:Z@example.com", "sip:a@example.com", "sip:a@example.comm", "tel:+15551234")
	shuffled := slices.Clone(want)
	rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	for i, aor := range shuffled {
		put(t, st, table, aor, full(aor, i), full(aor, i+1000))
	}
	slices.Sort(want)

	var got []string
	err := st.List(context.Background(), table, "", "", func(aor string, bs []usrloc.Binding) bool {
		i := slices.Index(shuffled, aor)
		checkBindings(t, "List's bindings of "+aor, bs, []usrloc.Binding{full(aor, i), full(aor, i+1000)})
		got = append(got, aor)
		return true
	})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("List order:\n got %q\nwant %q", got, want)
	}
	if got := list(t, st, table, "", want[10]); !slices.Equal(got, want[11:]) {
		t.Errorf("List after %s = %q, want %q", want[10], got, want[11:])
	}
	if got := list(t, st, table, "", want[len(want)-1]); len(got) != 0 {
		t.Errorf("List after the last AoR = %q, want nothing", got)
	}
	first := slices.IndexFunc(want, func(s string) bool { return s > "sip:a" })
	if got := list(t, st, table, "", "sip:a"); !slices.Equal(got, want[first:]) {
		t.Errorf("List after an AoR that is not stored = %q, want %q", got, want[first:])
	}
}

func testListPrefix(t *testing.T, st usrloc.Store) {
	aors := []string{
		"sip:alice@a.example", "sip:alice2@a.example", "sip:alicf@a.example",
		"sip:bob@a.example", "sips:alice@a.example", "sip:al@a.example",
	}
	for i, aor := range aors {
		put(t, st, table, aor, full(aor, i))
	}
	put(t, st, table2, "sip:alice3@a.example", full("sip:alice3@a.example", 9))
	for _, tc := range []struct {
		prefix, after string
		want          []string
	}{
		{"sip:alice", "", []string{"sip:alice2@a.example", "sip:alice@a.example"}},
		{"sip:alice", "sip:alice2@a.example", []string{"sip:alice@a.example"}},
		{"sip:al", "", []string{"sip:al@a.example", "sip:alice2@a.example", "sip:alice@a.example", "sip:alicf@a.example"}},
		{"sips:", "", []string{"sips:alice@a.example"}},
		{"sip:carol", "", nil},
		{"sip:bob@a.example", "", []string{"sip:bob@a.example"}},
		{"sip:bob@a.example", "sip:bob@a.example", nil},
	} {
		if got := list(t, st, table, tc.prefix, tc.after); !slices.Equal(got, tc.want) {
			t.Errorf("List(prefix %q, after %q) = %q, want %q", tc.prefix, tc.after, got, tc.want)
		}
	}
}

func testListPaging(t *testing.T, st usrloc.Store) {
	const n, page = 250, 100
	var want []string
	for i := range n {
		aor := fmt.Sprintf("sip:user%06d@example.com", (i*7919)%100000)
		want = append(want, aor)
		put(t, st, table, aor, short(aor, "sip:c@x", base))
	}
	put(t, st, table, "tel:+15551234", short("tel:+15551234", "sip:c@x", base))
	slices.Sort(want)

	var got []string
	var sizes []int
	after := ""
	for range 10 {
		var pageAoRs []string
		err := st.List(context.Background(), table, "sip:user", after, func(aor string, bs []usrloc.Binding) bool {
			pageAoRs = append(pageAoRs, aor)
			return len(pageAoRs) < page
		})
		if err != nil {
			t.Fatalf("List page after %q: %v", after, err)
		}
		if len(pageAoRs) == 0 {
			break
		}
		sizes = append(sizes, len(pageAoRs))
		got = append(got, pageAoRs...)
		after = pageAoRs[len(pageAoRs)-1]
	}
	if !slices.Equal(sizes, []int{100, 100, 50}) {
		t.Errorf("page sizes %v, want [100 100 50]", sizes)
	}
	if !slices.Equal(got, want) {
		t.Errorf("paging returned %d AoRs, want the %d stored in order", len(got), len(want))
	}
}

func testListStop(t *testing.T, st usrloc.Store) {
	for i := range 20 {
		aor := fmt.Sprintf("sip:u%02d@example.com", i)
		put(t, st, table, aor, short(aor, "sip:c@x", base))
	}
	var calls int
	var first string
	err := st.List(context.Background(), table, "", "", func(aor string, bs []usrloc.Binding) bool {
		calls++
		first = aor
		return false
	})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if calls != 1 || first != "sip:u00@example.com" {
		t.Errorf("List with fn returning false: %d calls, first %q; want 1 call with sip:u00@example.com", calls, first)
	}
	// fn may call back into the store.
	err = st.List(context.Background(), table, "", "", func(aor string, bs []usrloc.Binding) bool {
		if _, err := st.Get(context.Background(), table, aor); err != nil {
			t.Errorf("Get from inside List: %v", err)
		}
		return aor < "sip:u05@example.com"
	})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
}

func testChanges(t *testing.T, st usrloc.Store) {
	// Changes may be nil (a store only this node writes to); calling it
	// twice must be safe either way.
	c1, c2 := st.Changes(), st.Changes()
	if (c1 == nil) != (c2 == nil) {
		t.Errorf("Changes returned nil once and a channel once")
	}
}
