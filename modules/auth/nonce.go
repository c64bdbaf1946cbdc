package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"hash"
	"hash/maphash"
	"strconv"
	"sync"

	"github.com/emiago/sipgo/sip"
)

// A nonce is stateless and signed, so that any locus node sharing the
// secret accepts it and none has to remember the nonces it issued:
//
//	base64url( issued (8 bytes, Unix ns) | random (8) | MAC (16) )
//	MAC = HMAC-SHA-256(secret, issued | random | realm), first 16 bytes
//
// The realm is signed but not carried: a nonce issued for one realm does
// not verify for another. 32 bytes give 43 characters.
const (
	nonceRawLen = 32
	nonceLen    = 43
	macLen      = 16
)

// nonceSigner issues and verifies nonces with one secret.
type nonceSigner struct {
	macs sync.Pool // *nonceMAC
}

type nonceMAC struct {
	h   hash.Hash
	buf []byte
	sum [sha256.Size]byte
}

func newNonceSigner(secret []byte) *nonceSigner {
	key := append([]byte(nil), secret...)
	s := &nonceSigner{}
	s.macs.New = func() any { return &nonceMAC{h: hmac.New(sha256.New, key)} }
	return s
}

// mac computes the MAC of the first 16 bytes of raw and realm into
// raw[16:32].
func (s *nonceSigner) mac(raw *[nonceRawLen]byte, realm string) {
	m := s.macs.Get().(*nonceMAC)
	m.h.Reset()
	m.buf = append(append(m.buf[:0], raw[:16]...), realm...)
	m.h.Write(m.buf)
	m.h.Sum(m.sum[:0])
	copy(raw[16:], m.sum[:macLen])
	s.macs.Put(m)
}

// issue returns a new nonce for realm issued at now (Unix ns).
func (s *nonceSigner) issue(realm string, now int64) string {
	var raw [nonceRawLen]byte
	binary.BigEndian.PutUint64(raw[:8], uint64(now))
	_, _ = rand.Read(raw[8:16]) // never fails (crypto/rand panics instead)
	s.mac(&raw, realm)
	return base64.RawURLEncoding.EncodeToString(raw[:])
}

// verify checks that nonce was issued by a holder of the secret for
// realm, and returns when it was issued and a tag identifying it (for
// the replay table).
func (s *nonceSigner) verify(nonce, realm string) (issued int64, tag uint64, ok bool) {
	var raw, want [nonceRawLen]byte
	if len(nonce) != nonceLen || !decodeB64URL(raw[:], nonce) {
		return 0, 0, false
	}
	copy(want[:16], raw[:16])
	s.mac(&want, realm)
	if !hmac.Equal(want[16:], raw[16:]) {
		return 0, 0, false
	}
	return int64(binary.BigEndian.Uint64(raw[:8])), binary.BigEndian.Uint64(raw[16:24]), true
}

// b64url maps base64url characters to their values; 0xff elsewhere.
var b64url = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = byte(i)
	}
	return t
}()

// decodeB64URL decodes unpadded base64url s into dst, which must be
// exactly its decoded length, without allocating. Non-canonical trailing
// bits are refused, so one nonce has one spelling.
func decodeB64URL(dst []byte, s string) bool {
	if len(s) != (len(dst)*8+5)/6 {
		return false
	}
	var acc uint32
	bits, j := 0, 0
	for i := 0; i < len(s); i++ {
		v := b64url[s[i]]
		if v == 0xff {
			return false
		}
		acc = acc<<6 | uint32(v)
		bits += 6
		if bits >= 8 {
			bits -= 8
			dst[j] = byte(acc >> bits)
			j++
			acc &= 1<<bits - 1
		}
	}
	return acc == 0
}

// The replay table remembers, for nonces that authenticated a request,
// the highest nonce count accepted. It is a fixed-size set-associative
// table: a nonce's tag picks one bucket of replayWays entries, so a
// lookup or an update touches one small array under one lock, whatever
// the load, and memory never grows.
//
// When a bucket is full the oldest entry (by issue time) is dropped and
// the bucket's watermark is raised to that entry's issue time. A nonce
// not found in its bucket and issued at or before the watermark may have
// been dropped: it is refused as stale (the client is challenged again
// and answers with a fresh nonce), never accepted a second time.
const replayWays = 8

type replayEntry struct {
	tag    uint64
	issued int64 // 0: empty
	nc     uint32
	// txn identifies the request that last used the nonce (see txnOf):
	// the same request again is a retransmission, not a replay.
	txn uint32
}

type replayBucket struct {
	mu        sync.Mutex
	watermark int64
	e         [replayWays]replayEntry
}

type replayTable struct {
	b    []replayBucket
	mask uint64
	seed maphash.Seed // for txnOf
}

// replayEntryBytes is the memory one entry costs, bucket overhead shared.
const replayEntryBytes = 24 + 16/replayWays

// newReplayTable returns a table for at least size nonces (rounded up to
// a power of two buckets).
func newReplayTable(size int) *replayTable {
	n := 1
	for n*replayWays < size {
		n <<= 1
	}
	return &replayTable{b: make([]replayBucket, n), mask: uint64(n - 1), seed: maphash.MakeSeed()}
}

// Capacity is the number of nonces the table tracks.
func (t *replayTable) Capacity() int { return len(t.b) * replayWays }

type replayVerdict uint8

const (
	replayOK      replayVerdict = iota
	replayReused                // the nonce count did not increase, or a one-time nonce came back
	replayEvicted               // the nonce may have been dropped: treat it as stale
)

// use records that nonce (tag, issued) authenticated a request with
// nonce count nc, if nc is higher than any accepted before for it.
// oneTime refuses any second use. A request that repeats the last use
// exactly (same nonce count and the same txn, the request's transaction
// identity) is a retransmission of that request: it is accepted again, as
// a transaction layer would have answered it with the response it already
// sent (RFC 3261 §17.2.2). txn 0 never matches.
func (t *replayTable) use(tag uint64, issued int64, nc uint32, oneTime bool, txn uint32) replayVerdict {
	b := &t.b[tag&t.mask]
	b.mu.Lock()
	defer b.mu.Unlock()
	victim := 0
	for i := range b.e {
		e := &b.e[i]
		if e.issued == issued && e.tag == tag {
			if nc == e.nc && txn != 0 && txn == e.txn {
				return replayOK // a retransmission
			}
			if oneTime || nc <= e.nc {
				return replayReused
			}
			e.nc, e.txn = nc, txn
			return replayOK
		}
		if e.issued < b.e[victim].issued {
			victim = i
		}
	}
	if issued <= b.watermark {
		return replayEvicted
	}
	// The oldest entry goes (an empty one first: its issue time is 0).
	// Expired entries are the oldest and cost nothing to drop: the
	// expiry check refuses their nonces before this table is asked.
	v := &b.e[victim]
	if v.issued > b.watermark {
		b.watermark = v.issued
	}
	*v = replayEntry{tag: tag, issued: issued, nc: nc, txn: txn}
	return replayOK
}

// txnOf identifies req's transaction for the replay table: its source, top
// Via branch and sent-by, Call-ID, From tag and CSeq. A retransmission has
// all of them; another request, or the same one replayed from elsewhere,
// does not. It is never 0.
func (t *replayTable) txnOf(req *sip.Request) uint32 {
	var h maphash.Hash
	h.SetSeed(t.seed)
	h.WriteString(req.Source())
	if v := req.Via(); v != nil {
		b, _ := v.Params.Get("branch")
		h.WriteString(b)
		h.WriteByte(0)
		h.WriteString(v.Host)
		h.WriteByte(0)
		var port [8]byte
		h.Write(strconv.AppendInt(port[:0], int64(v.Port), 10))
	}
	if c := req.CallID(); c != nil {
		h.WriteByte(0)
		h.WriteString(string(*c))
	}
	if f := req.From(); f != nil {
		tag, _ := f.Params.Get("tag")
		h.WriteByte(0)
		h.WriteString(tag)
	}
	if c := req.CSeq(); c != nil {
		var n [24]byte
		h.WriteByte(0)
		h.Write(strconv.AppendUint(n[:0], uint64(c.SeqNo), 10))
		h.WriteString(string(c.MethodName))
	}
	return uint32(h.Sum64()) | 1
}
