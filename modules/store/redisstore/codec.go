package redisstore

import (
	"encoding/binary"
	"errors"
	"math"
	"time"

	"github.com/locus-sip/locus/modules/usrloc"
)

// A record is the value of an AoR's key: all its bindings, in order, in a
// compact binary form. It starts with a header: the format version and an
// 8-byte generation, random for every write, that the update script
// compares to detect a concurrent writer (see store.go). Then a uvarint
// count, then per binding a uvarint mask of the fields present and those fields in bit order.
// Strings are a uvarint length and the bytes; integers are varints
// (uvarints for the unsigned ones); times are Unix milliseconds (the store
// keeps times to the millisecond). The AOR field is stored only when it
// differs from the AoR the key names.
//
// Records come from a server others can write to, so decoding checks every
// length and fails with errCorrupt instead of panicking.
const (
	recordVersion = 1
	headerLen     = 1 + 8
)

const (
	fAOR = 1 << iota
	fContact
	fExpires
	fQ
	fCallID
	fCSeq
	fReceived
	fSocket
	fConnID
	fPath
	fInstance
	fRegID
	fUserAgent
	fMethods
	fFlags
	fModified
	fRUID
	fAll = fRUID<<1 - 1
)

var errCorrupt = errors.New("redisstore: corrupt record")

// noExpiry is the earliest expiry of an empty record.
const noExpiry = math.MaxInt64

// appendRecord packs the bindings bs of aor onto buf with generation gen.
// It returns the earliest and latest expiry in Unix milliseconds (a zero
// Expires counts as long past), for the expiry index and the key's TTL.
func appendRecord(buf []byte, gen uint64, aor string, bs []usrloc.Binding) (out []byte, minExp, maxExp int64) {
	minExp, maxExp = noExpiry, math.MinInt64
	buf = append(buf, recordVersion)
	buf = binary.BigEndian.AppendUint64(buf, gen)
	buf = binary.AppendUvarint(buf, uint64(len(bs)))
	for i := range bs {
		b := &bs[i]
		var mask uint64
		set := func(bit uint64, ok bool) {
			if ok {
				mask |= bit
			}
		}
		set(fAOR, b.AOR != aor)
		set(fContact, b.Contact != "")
		set(fExpires, !b.Expires.IsZero())
		set(fQ, b.Q != 0)
		set(fCallID, b.CallID != "")
		set(fCSeq, b.CSeq != 0)
		set(fReceived, b.Received != "")
		set(fSocket, b.Socket != "")
		set(fConnID, b.ConnID != "")
		set(fPath, len(b.Path) > 0)
		set(fInstance, b.Instance != "")
		set(fRegID, b.RegID != 0)
		set(fUserAgent, b.UserAgent != "")
		set(fMethods, b.Methods != "")
		set(fFlags, b.Flags != 0)
		set(fModified, !b.Modified.IsZero())
		set(fRUID, b.RUID != "")

		buf = binary.AppendUvarint(buf, mask)
		if mask&fAOR != 0 {
			buf = appendString(buf, b.AOR)
		}
		if mask&fContact != 0 {
			buf = appendString(buf, b.Contact)
		}
		exp := b.Expires.UnixMilli() // floor: never rounds an expiry up
		if mask&fExpires != 0 {
			buf = binary.AppendVarint(buf, exp)
		}
		minExp, maxExp = min(minExp, exp), max(maxExp, exp)
		if mask&fQ != 0 {
			buf = binary.AppendVarint(buf, int64(b.Q))
		}
		if mask&fCallID != 0 {
			buf = appendString(buf, b.CallID)
		}
		if mask&fCSeq != 0 {
			buf = binary.AppendUvarint(buf, uint64(b.CSeq))
		}
		if mask&fReceived != 0 {
			buf = appendString(buf, b.Received)
		}
		if mask&fSocket != 0 {
			buf = appendString(buf, b.Socket)
		}
		if mask&fConnID != 0 {
			buf = appendString(buf, b.ConnID)
		}
		if mask&fPath != 0 {
			buf = binary.AppendUvarint(buf, uint64(len(b.Path)))
			for _, p := range b.Path {
				buf = appendString(buf, p)
			}
		}
		if mask&fInstance != 0 {
			buf = appendString(buf, b.Instance)
		}
		if mask&fRegID != 0 {
			buf = binary.AppendVarint(buf, int64(b.RegID))
		}
		if mask&fUserAgent != 0 {
			buf = appendString(buf, b.UserAgent)
		}
		if mask&fMethods != 0 {
			buf = appendString(buf, b.Methods)
		}
		if mask&fFlags != 0 {
			buf = binary.AppendUvarint(buf, uint64(b.Flags))
		}
		if mask&fModified != 0 {
			buf = binary.AppendVarint(buf, b.Modified.UnixMilli())
		}
		if mask&fRUID != 0 {
			buf = appendString(buf, b.RUID)
		}
	}
	return buf, minExp, maxExp
}

func appendString(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

// decodeRecord unpacks a record of aor. The strings of the bindings are
// substrings of rec, which must not change afterwards.
func decodeRecord(rec string, aor string) ([]usrloc.Binding, error) {
	d := decoder{rec: rec}
	if len(rec) < headerLen || rec[0] != recordVersion {
		return nil, errCorrupt
	}
	d.off = headerLen
	n := d.uvarint()
	// Each binding takes at least one byte: a bogus count cannot make us
	// allocate more than the record's size.
	if n > uint64(len(rec)) {
		return nil, errCorrupt
	}
	bs := make([]usrloc.Binding, n)
	for i := range bs {
		d.binding(&bs[i], aor)
	}
	if d.bad || d.off != len(rec) {
		return nil, errCorrupt
	}
	return bs, nil
}

// decoder reads a record; bad is set, and reads return zero values, once
// the record ends early or holds an impossible value.
type decoder struct {
	rec string
	off int
	bad bool
}

func (d *decoder) binding(b *usrloc.Binding, aor string) {
	mask := d.uvarint()
	if mask&^fAll != 0 {
		d.bad = true
		return
	}
	b.AOR = aor
	if mask&fAOR != 0 {
		b.AOR = d.string()
	}
	if mask&fContact != 0 {
		b.Contact = d.string()
	}
	if mask&fExpires != 0 {
		b.Expires = time.UnixMilli(d.varint())
	}
	if mask&fQ != 0 {
		b.Q = int(d.varint())
	}
	if mask&fCallID != 0 {
		b.CallID = d.string()
	}
	if mask&fCSeq != 0 {
		b.CSeq = uint32(d.uvarint())
	}
	if mask&fReceived != 0 {
		b.Received = d.string()
	}
	if mask&fSocket != 0 {
		b.Socket = d.string()
	}
	if mask&fConnID != 0 {
		b.ConnID = d.string()
	}
	if mask&fPath != 0 {
		n := d.uvarint()
		if n > uint64(len(d.rec)-d.off) { // each entry takes a byte at least
			d.bad = true
			return
		}
		b.Path = make([]string, n)
		for j := range b.Path {
			b.Path[j] = d.string()
		}
	}
	if mask&fInstance != 0 {
		b.Instance = d.string()
	}
	if mask&fRegID != 0 {
		b.RegID = int(d.varint())
	}
	if mask&fUserAgent != 0 {
		b.UserAgent = d.string()
	}
	if mask&fMethods != 0 {
		b.Methods = d.string()
	}
	if mask&fFlags != 0 {
		b.Flags = uint32(d.uvarint())
	}
	if mask&fModified != 0 {
		b.Modified = time.UnixMilli(d.varint())
	}
	if mask&fRUID != 0 {
		b.RUID = d.string()
	}
}

func (d *decoder) uvarint() uint64 {
	if d.bad {
		return 0
	}
	var x uint64
	for shift := uint(0); shift < 64; shift += 7 {
		if d.off >= len(d.rec) {
			break
		}
		c := d.rec[d.off]
		d.off++
		x |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return x
		}
	}
	d.bad = true
	return 0
}

func (d *decoder) varint() int64 {
	u := d.uvarint()
	return int64(u>>1) ^ -int64(u&1)
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.bad || n > uint64(len(d.rec)-d.off) {
		d.bad = true
		return ""
	}
	s := d.rec[d.off : d.off+int(n)]
	d.off += int(n)
	return s
}
