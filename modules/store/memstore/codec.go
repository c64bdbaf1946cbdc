package memstore

import (
	"encoding/binary"
	"math"
	"time"

	"github.com/locus-sip/locus/modules/usrloc"
)

// A record is one AoR and all its bindings packed into one immutable
// string: the AoR (which the index checks every hit against), a uvarint
// count, then per binding a uvarint mask of the fields present and
// those fields in bit order. Strings are a uvarint length and the bytes;
// integers are varints; times are Unix milliseconds (the store keeps times to
// the millisecond). Socket, UserAgent and Methods are intern ids when they
// fit in the intern table. A typical UDP binding packs into ~150 bytes where
// a usrloc.Binding with its strings takes ~450.
//
// Decoded strings are substrings of the record, so Get allocates only the
// []Binding (and Path slices). That is safe because a record is never
// written after it is built: Update always stores a new one.
const (
	fAORInline = 1 << iota // AOR differs from the key it is stored under
	fContact
	fExpires
	fQ
	fCallID
	fCSeq
	fReceived
	fSocketID
	fSocket
	fConnID
	fPath
	fInstance
	fRegID
	fUserAgentID
	fUserAgent
	fMethodsID
	fMethods
	fFlags
	fModified
	fRUID
)

// appendRecord packs aor and its bindings bs onto buf. It returns the
// earliest expiry in Unix milliseconds, for Expire to skip records cheaply.
func appendRecord(buf []byte, in *interns, aor string, bs []usrloc.Binding) ([]byte, int64) {
	minExp := int64(math.MaxInt64)
	buf = appendString(buf, aor)
	buf = binary.AppendUvarint(buf, uint64(len(bs)))
	for i := range bs {
		b := &bs[i]
		var mask uint64
		if b.AOR != aor {
			mask |= fAORInline
		}
		if b.Contact != "" {
			mask |= fContact
		}
		if !b.Expires.IsZero() {
			mask |= fExpires
		}
		if b.Q != 0 {
			mask |= fQ
		}
		if b.CallID != "" {
			mask |= fCallID
		}
		if b.CSeq != 0 {
			mask |= fCSeq
		}
		if b.Received != "" {
			mask |= fReceived
		}
		socketID, socketOK := internOpt(in, b.Socket, &mask, fSocketID, fSocket)
		if b.ConnID != "" {
			mask |= fConnID
		}
		if len(b.Path) > 0 {
			mask |= fPath
		}
		if b.Instance != "" {
			mask |= fInstance
		}
		if b.RegID != 0 {
			mask |= fRegID
		}
		uaID, uaOK := internOpt(in, b.UserAgent, &mask, fUserAgentID, fUserAgent)
		methodsID, methodsOK := internOpt(in, b.Methods, &mask, fMethodsID, fMethods)
		if b.Flags != 0 {
			mask |= fFlags
		}
		if !b.Modified.IsZero() {
			mask |= fModified
		}
		if b.RUID != "" {
			mask |= fRUID
		}

		buf = binary.AppendUvarint(buf, mask)
		if mask&fAORInline != 0 {
			buf = appendString(buf, b.AOR)
		}
		if mask&fContact != 0 {
			buf = appendString(buf, b.Contact)
		}
		exp := b.Expires.UnixMilli()
		if mask&fExpires != 0 {
			buf = binary.AppendVarint(buf, exp)
		}
		minExp = min(minExp, exp) // a zero Expires is long expired
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
		buf = appendInterned(buf, b.Socket, socketID, socketOK)
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
		buf = appendInterned(buf, b.UserAgent, uaID, uaOK)
		buf = appendInterned(buf, b.Methods, methodsID, methodsOK)
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
	return buf, minExp
}

// internOpt sets the id bit or the inline bit of a non-empty interned field.
func internOpt(in *interns, s string, mask *uint64, idBit, inlineBit uint64) (uint32, bool) {
	if s == "" {
		return 0, false
	}
	id, ok := in.id(s)
	if ok {
		*mask |= idBit
	} else {
		*mask |= inlineBit
	}
	return id, ok
}

func appendInterned(buf []byte, s string, id uint32, ok bool) []byte {
	switch {
	case s == "":
		return buf
	case ok:
		return binary.AppendUvarint(buf, uint64(id))
	default:
		return appendString(buf, s)
	}
}

func appendString(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

// recordAOR returns the AoR of a record: a substring of it.
func recordAOR(rec string) string {
	d := decoder{rec: rec}
	return d.string()
}

// decodeRecord unpacks a record built by appendRecord.
func decodeRecord(rec string, in *interns) []usrloc.Binding {
	d := decoder{rec: rec}
	aor := d.string()
	bs := make([]usrloc.Binding, d.uvarint())
	for i := range bs {
		d.binding(&bs[i], in, aor)
	}
	return bs
}

// decodeRecordInto is decodeRecord into the empty slice room when it has
// the capacity, else into a new slice.
func decodeRecordInto(room []usrloc.Binding, rec string, in *interns) []usrloc.Binding {
	d := decoder{rec: rec}
	aor := d.string()
	n := int(d.uvarint())
	var bs []usrloc.Binding
	if cap(room) >= n {
		bs = room[:n]
	} else {
		bs = make([]usrloc.Binding, n)
	}
	for i := range bs {
		d.binding(&bs[i], in, aor)
	}
	return bs
}

// decoder reads a record. Records are built by appendRecord and never
// change, so it does not check for malformed input.
type decoder struct {
	rec string
	off int
}

func (d *decoder) binding(b *usrloc.Binding, in *interns, aor string) {
	mask := d.uvarint()
	b.AOR = aor
	if mask&fAORInline != 0 {
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
	b.Socket = d.interned(in, mask, fSocketID, fSocket)
	if mask&fConnID != 0 {
		b.ConnID = d.string()
	}
	if mask&fPath != 0 {
		b.Path = make([]string, d.uvarint())
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
	b.UserAgent = d.interned(in, mask, fUserAgentID, fUserAgent)
	b.Methods = d.interned(in, mask, fMethodsID, fMethods)
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

func (d *decoder) interned(in *interns, mask, idBit, inlineBit uint64) string {
	switch {
	case mask&idBit != 0:
		return in.str(uint32(d.uvarint()))
	case mask&inlineBit != 0:
		return d.string()
	}
	return ""
}

func (d *decoder) uvarint() uint64 {
	var x uint64
	for shift := 0; ; shift += 7 {
		c := d.rec[d.off]
		d.off++
		x |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return x
		}
	}
}

func (d *decoder) varint() int64 {
	u := d.uvarint()
	return int64(u>>1) ^ -int64(u&1)
}

func (d *decoder) string() string {
	n := int(d.uvarint())
	s := d.rec[d.off : d.off+n]
	d.off += n
	return s
}
