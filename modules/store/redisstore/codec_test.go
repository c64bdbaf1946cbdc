package redisstore

import (
	"encoding/json"
	"math"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/locus-sip/locus/modules/usrloc"
)

func TestCodecRoundTrip(t *testing.T) {
	const aor = "sip:alice@example.com"
	exp := time.Date(2030, 5, 17, 10, 20, 30, 123_000_000, time.UTC)
	bs := []usrloc.Binding{
		{ // every field set
			AOR: aor, Contact: "sip:alice@198.51.100.7:5060;ob", Expires: exp, Q: 1000,
			CallID: "c1", CSeq: math.MaxUint32, Received: "tcp:198.51.100.7:40000",
			Socket: "tcp:192.0.2.1:5060", ConnID: "conn-7", Path: []string{"<sip:e1;lr>", ""},
			Instance: "urn:uuid:1", RegID: -3, UserAgent: "UA", Methods: "INVITE",
			Flags: math.MaxUint32, Modified: exp.Add(-time.Hour), RUID: "r1",
		},
		{AOR: aor, Contact: "sip:zero@x", Q: usrloc.QUnset}, // zero times and fields
		{AOR: "sip:other@example.com", Expires: time.UnixMilli(-1)},
		{}, // an empty AOR is kept empty
	}
	enc, minExp, maxExp := appendRecord(nil, 1, aor, bs)
	if minExp != (time.Time{}).UnixMilli() || maxExp != exp.UnixMilli() {
		t.Errorf("min, max expiry = %d, %d; want the zero time's and %d", minExp, maxExp, exp.UnixMilli())
	}
	got, err := decodeRecord(string(enc), aor)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(bs) {
		t.Fatalf("%d bindings back, want %d", len(got), len(bs))
	}
	for i := range bs {
		if !sameBinding(got[i], bs[i]) {
			t.Errorf("binding %d:\n got %+v\nwant %+v", i, got[i], bs[i])
		}
	}
	if len(enc) > 400 {
		t.Errorf("record of 4 bindings takes %d bytes", len(enc))
	}
	// The same bindings as JSON, for the README's size comparison.
	j, _ := json.Marshal(bs)
	t.Logf("record %d bytes, JSON %d bytes", len(enc), len(j))

	if _, minExp, maxExp := appendRecord(nil, 1, aor, nil); minExp != noExpiry || maxExp != math.MinInt64 {
		t.Errorf("empty record: min, max = %d, %d", minExp, maxExp)
	}
}

// sameBinding compares bindings with times to the millisecond and nil Path
// equal to an empty one.
func sameBinding(a, b usrloc.Binding) bool {
	ms := func(t time.Time) int64 {
		if t.IsZero() {
			return math.MinInt64
		}
		return t.UnixMilli()
	}
	if ms(a.Expires) != ms(b.Expires) || ms(a.Modified) != ms(b.Modified) || !slices.Equal(a.Path, b.Path) {
		return false
	}
	a.Expires, b.Expires, a.Modified, b.Modified, a.Path, b.Path = time.Time{}, time.Time{}, time.Time{}, time.Time{}, nil, nil
	return reflect.DeepEqual(a, b)
}

func TestDecodeCorrupt(t *testing.T) {
	const aor = "sip:a@x"
	good, _, _ := appendRecord(nil, 1, aor, []usrloc.Binding{{AOR: aor, Contact: "sip:c@x", Path: []string{"<sip:p;lr>"}}})
	hdr := string(good[:headerLen])
	for name, rec := range map[string]string{
		"empty":         "",
		"version":       "\x02" + string(good[1:]),
		"truncated":     string(good[:len(good)-1]),
		"trailing":      string(good) + "x",
		"short header":  "\x01\x00\x00",
		"huge count":    hdr + "\xff\xff\xff\xff\x0f",
		"unknown field": hdr + "\x01\x80\x80\x08",
		"long varint":   hdr + "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
	} {
		if bs, err := decodeRecord(rec, aor); err != errCorrupt {
			t.Errorf("%s: decodeRecord = %v, %v; want errCorrupt", name, bs, err)
		}
	}
}

// FuzzDecodeRecord: any bytes from the server decode or fail cleanly, and
// what decodes encodes back to the same bindings.
func FuzzDecodeRecord(f *testing.F) {
	const aor = "sip:a@x"
	rec, _, _ := appendRecord(nil, 1, aor, []usrloc.Binding{
		{AOR: aor, Contact: "sip:c@x", Expires: time.UnixMilli(1e12), Q: 500, Path: []string{"<sip:p;lr>"}, Flags: 7},
		{AOR: "sip:b@x", RegID: 1, CSeq: 9},
	})
	f.Add(rec)
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		bs, err := decodeRecord(string(data), aor)
		if err != nil {
			return
		}
		enc, _, _ := appendRecord(nil, 2, aor, bs)
		again, err := decodeRecord(string(enc), aor)
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if len(again) != len(bs) {
			t.Fatalf("%d bindings, then %d", len(bs), len(again))
		}
		for i := range bs {
			if !sameBinding(again[i], bs[i]) {
				t.Fatalf("binding %d: %+v, then %+v", i, bs[i], again[i])
			}
		}
	})
}

func BenchmarkCodec(b *testing.B) {
	bs := []usrloc.Binding{binding(1, time.Now().Add(time.Hour))}
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 1024)
		for b.Loop() {
			buf, _, _ = appendRecord(buf[:0], 1, bs[0].AOR, bs)
		}
	})
	b.Run("decode", func(b *testing.B) {
		rec, _, _ := appendRecord(nil, 1, bs[0].AOR, bs)
		s := string(rec)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeRecord(s, bs[0].AOR); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json-encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(bs); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json-decode", func(b *testing.B) {
		j, _ := json.Marshal(bs)
		b.ReportAllocs()
		for b.Loop() {
			var out []usrloc.Binding
			if err := json.Unmarshal(j, &out); err != nil {
				b.Fatal(err)
			}
		}
	})
}
