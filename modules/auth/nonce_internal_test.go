package auth

import (
	"encoding/base64"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
)

func TestNonceSigner(t *testing.T) {
	s := newNonceSigner([]byte("0123456789abcdef"))
	n := s.issue("example.com", 1234567890)
	if len(n) != nonceLen {
		t.Fatalf("nonce %q is %d characters, want %d", n, len(n), nonceLen)
	}
	issued, tag, ok := s.verify(n, "example.com")
	if !ok || issued != 1234567890 || tag == 0 {
		t.Fatalf("verify: %d %x %v", issued, tag, ok)
	}
	if n2 := s.issue("example.com", 1234567890); n2 == n {
		t.Fatal("two nonces issued at the same time are equal")
	}
	cases := []struct {
		name, nonce, realm string
		signer             *nonceSigner
	}{
		{"other realm", n, "example.org", s},
		{"realm differing in case", n, "Example.com", s},
		{"other secret", n, "example.com", newNonceSigner([]byte("another secret!!"))},
		{"truncated", n[:nonceLen-1], "example.com", s},
		{"extended", n + "A", "example.com", s},
		{"tampered issue time", flip(n, 3), "example.com", s},
		{"tampered random part", flip(n, 15), "example.com", s},
		{"tampered MAC", flip(n, 30), "example.com", s},
		{"standard base64", strings.NewReplacer("-", "+", "_", "/").Replace(n) + "=", "example.com", s},
		{"empty", "", "example.com", s},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, ok := tc.signer.verify(tc.nonce, tc.realm); ok {
				t.Fatal("verified")
			}
		})
	}
}

// flip changes the character at i to another base64url character.
func flip(s string, i int) string {
	c := byte('A')
	if s[i] == 'A' {
		c = 'B'
	}
	return s[:i] + string(c) + s[i+1:]
}

func TestDecodeB64URL(t *testing.T) {
	for i := 0; i < 200; i++ {
		raw := make([]byte, nonceRawLen)
		for j := range raw {
			raw[j] = byte(rand.IntN(256))
		}
		s := base64.RawURLEncoding.EncodeToString(raw)
		got := make([]byte, nonceRawLen)
		if !decodeB64URL(got, s) || string(got) != string(raw) {
			t.Fatalf("decode %q: %x, want %x", s, got, raw)
		}
	}
	// The last character carries 4 spare bits: only one spelling decodes.
	s := base64.RawURLEncoding.EncodeToString(make([]byte, nonceRawLen))
	if decodeB64URL(make([]byte, nonceRawLen), s[:len(s)-1]+"B") {
		t.Fatal("non-canonical spelling accepted")
	}
}

func TestReplayTable(t *testing.T) {
	tab := newReplayTable(64)
	if got := tab.Capacity(); got != 64 {
		t.Fatalf("capacity %d", got)
	}
	steps := []struct {
		name    string
		tag     uint64
		issued  int64
		nc      uint32
		oneTime bool
		want    replayVerdict
	}{
		{"first use", 1, 100, 1, false, replayOK},
		{"same nc", 1, 100, 1, false, replayReused},
		{"next nc", 1, 100, 2, false, replayOK},
		{"lower nc", 1, 100, 1, false, replayReused},
		{"jump ahead", 1, 100, 10, false, replayOK},
		{"same tag, other issue time is another nonce", 1, 101, 1, false, replayOK},
		{"one-time first", 2, 100, 1, true, replayOK},
		{"one-time again, higher nc", 2, 100, 2, true, replayReused},
	}
	for _, s := range steps {
		if got := tab.use(s.tag, s.issued, s.nc, s.oneTime, 0); got != s.want {
			t.Fatalf("%s: verdict %d, want %d", s.name, got, s.want)
		}
	}
}

// TestReplayRetransmission: the same request again (same nonce count, same
// transaction) is accepted as a retransmission; another request with that
// count is a replay, and once a higher count was used the old request is
// not accepted again either.
func TestReplayRetransmission(t *testing.T) {
	tab := newReplayTable(64)
	steps := []struct {
		name    string
		nc      uint32
		oneTime bool
		txn     uint32
		want    replayVerdict
	}{
		{"first use", 1, false, 7, replayOK},
		{"retransmission", 1, false, 7, replayOK},
		{"retransmission again", 1, false, 7, replayOK},
		{"same nc, other request", 1, false, 8, replayReused},
		{"next nc", 2, false, 9, replayOK},
		{"the first request again", 1, false, 7, replayReused},
		{"next nc retransmitted", 2, false, 9, replayOK},
		{"no transaction identity never matches", 2, false, 0, replayReused},
	}
	for _, s := range steps {
		if got := tab.use(5, 500, s.nc, s.oneTime, s.txn); got != s.want {
			t.Fatalf("%s: verdict %d, want %d", s.name, got, s.want)
		}
	}
	// A one-time nonce: its request may be retransmitted, nothing else.
	if got := tab.use(6, 600, 1, true, 3); got != replayOK {
		t.Fatalf("one-time first use: %d", got)
	}
	if got := tab.use(6, 600, 1, true, 3); got != replayOK {
		t.Fatalf("one-time retransmission: %d", got)
	}
	if got := tab.use(6, 600, 1, true, 4); got != replayReused {
		t.Fatalf("one-time, other request: %d", got)
	}
}

// TestReplayEviction fills one bucket past its ways: dropped nonces come
// back as evicted (stale), never as accepted.
func TestReplayEviction(t *testing.T) {
	tab := newReplayTable(replayWays) // one bucket
	for i := 1; i <= replayWays+3; i++ {
		if got := tab.use(uint64(i), int64(i*10), 1, false, 0); got != replayOK {
			t.Fatalf("nonce %d: verdict %d", i, got)
		}
	}
	// The three oldest were dropped: the watermark covers them.
	for i := 1; i <= 3; i++ {
		if got := tab.use(uint64(i), int64(i*10), 2, false, 0); got != replayEvicted {
			t.Fatalf("dropped nonce %d: verdict %d, want evicted", i, got)
		}
	}
	// The others are still tracked.
	for i := 4; i <= replayWays+3; i++ {
		if got := tab.use(uint64(i), int64(i*10), 1, false, 0); got != replayReused {
			t.Fatalf("nonce %d: verdict %d, want reused", i, got)
		}
	}
	// A nonce issued after the watermark is new.
	if got := tab.use(99, 1000, 1, false, 0); got != replayOK {
		t.Fatalf("new nonce: verdict %d", got)
	}
}

// TestReplayNeverTwice drives a small table with random uses from many
// goroutines: no (nonce, nc) is ever accepted twice, and the counts a
// nonce is accepted with strictly increase.
func TestReplayNeverTwice(t *testing.T) {
	tab := newReplayTable(32)
	const nonces, workers, ops = 200, 8, 4000
	var mu sync.Mutex
	accepted := map[[2]uint64]bool{}
	last := map[uint64]uint32{}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, seed))
			for i := 0; i < ops; i++ {
				n := uint64(r.IntN(nonces) + 1)
				nc := uint32(r.IntN(6) + 1)
				// Hold the model's lock across the call so that the
				// model sees uses in the table's order.
				mu.Lock()
				if tab.use(n*0x9e3779b97f4a7c15, int64(n), nc, false, uint32(seed)<<20|uint32(i)+1) == replayOK {
					k := [2]uint64{n, uint64(nc)}
					if accepted[k] {
						mu.Unlock()
						t.Errorf("nonce %d nc %d accepted twice", n, nc)
						return
					}
					if nc <= last[n] {
						mu.Unlock()
						t.Errorf("nonce %d accepted nc %d after %d", n, nc, last[n])
						return
					}
					accepted[k], last[n] = true, nc
				}
				mu.Unlock()
			}
		}(uint64(w))
	}
	wg.Wait()
}

// TestReplayConcurrentSameNonce: one nonce and nc raced by many
// goroutines is accepted exactly once.
func TestReplayConcurrentSameNonce(t *testing.T) {
	tab := newReplayTable(1024)
	for round := uint32(1); round <= 50; round++ {
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok := 0
		for i := 0; i < 16; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if tab.use(42, 4242, round, false, uint32(i)+1) == replayOK {
					mu.Lock()
					ok++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if ok != 1 {
			t.Fatalf("nc %d accepted %d times", round, ok)
		}
	}
}
