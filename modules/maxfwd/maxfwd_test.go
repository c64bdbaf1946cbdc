package maxfwd_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/core/coretest"
	"github.com/locus-sip/locus/modules/maxfwd"
)

// request is coretest.Register with its Max-Forwards line replaced by mf
// ("" removes it). A value sipgo would refuse is set afterwards as a
// generic header, as a script could.
func request(t *testing.T, mf string, generic bool) *sip.Request {
	t.Helper()
	raw := strings.Replace(coretest.Register, "Max-Forwards: 70\n", "", 1)
	if mf != "" && !generic {
		raw = strings.Replace(raw, "CSeq:", "Max-Forwards: "+mf+"\nCSeq:", 1)
	}
	req := coretest.Request(t, raw)
	if generic {
		req.AppendHeader(sip.NewHeader("max-forwards", mf))
	}
	return req
}

func maxForwards(t *testing.T, req *sip.Request) []string {
	t.Helper()
	var vals []string
	for _, h := range req.GetHeaders("Max-Forwards") {
		vals = append(vals, h.Value())
	}
	return vals
}

func TestProcess(t *testing.T) {
	cases := []struct {
		name     string
		header   string // "" for none
		generic  bool
		maxLimit int
		limit    int
		want     maxfwd.Result
		wantErr  error
		after    string // header value afterwards, "" for none
	}{
		{"missing header is added with the limit", "", false, 70, 10, maxfwd.Added, nil, "10"},
		{"missing header with limit 0", "", false, 70, 0, maxfwd.Added, nil, "0"},
		{"decremented", "70", false, 70, 10, maxfwd.Decremented, nil, "69"},
		{"one becomes zero", "1", false, 70, 10, maxfwd.Decremented, nil, "0"},
		{"zero is exhausted and left alone", "0", false, 70, 10, maxfwd.Exhausted, nil, "0"},
		{"above max_limit is set to max_limit", "200", false, 70, 10, maxfwd.Decremented, nil, "70"},
		{"just above max_limit", "71", false, 70, 10, maxfwd.Decremented, nil, "70"},
		{"large value", "65535", false, 16, 10, maxfwd.Decremented, nil, "16"},
		{"max_limit 0 lowers everything to 0", "5", false, 0, 10, maxfwd.Decremented, nil, "0"},
		{"limit below range", "70", false, 70, -1, maxfwd.Exhausted, maxfwd.ErrLimit, "70"},
		{"limit above range", "", false, 70, 256, maxfwd.Exhausted, maxfwd.ErrLimit, ""},
		{"generic numeric header is decremented", " 12 ", true, 70, 10, maxfwd.Decremented, nil, "11"},
		{"generic non-numeric header", "abc", true, 70, 10, maxfwd.Invalid, maxfwd.ErrInvalid, "abc"},
		{"generic empty header", "", true, 70, 10, maxfwd.Invalid, maxfwd.ErrInvalid, ""},
		{"more than five digits", "000070", true, 70, 10, maxfwd.Invalid, maxfwd.ErrInvalid, "000070"},
		{"above 16 bits", "70000", true, 70, 10, maxfwd.Invalid, maxfwd.ErrInvalid, "70000"},
		{"negative", "-1", true, 70, 10, maxfwd.Invalid, maxfwd.ErrInvalid, "-1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := request(t, tc.header, tc.generic)
			f := &maxfwd.MaxFwd{MaxLimit: tc.maxLimit}
			got, err := f.Process(req, tc.limit)
			if got != tc.want {
				t.Errorf("result %d, want %d", got, tc.want)
			}
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("error %v, want %v", err, tc.wantErr)
			}
			vals := maxForwards(t, req)
			switch {
			case tc.after == "" && !tc.generic && len(vals) != 0:
				t.Errorf("Max-Forwards %q, want none", vals)
			case (tc.after != "" || tc.generic) && (len(vals) != 1 || strings.TrimSpace(vals[0]) != tc.after):
				t.Errorf("Max-Forwards %q, want [%q]", vals, tc.after)
			}
			// The serialised request and sipgo's typed accessor agree.
			if tc.want > 0 {
				if s := req.String(); !strings.Contains(s, "Max-Forwards: "+tc.after+"\r\n") {
					t.Errorf("request does not carry Max-Forwards: %s\n%s", tc.after, s)
				}
				if mf := req.MaxForwards(); mf == nil || mf.Value() != tc.after {
					t.Errorf("req.MaxForwards() = %v, want %s", mf, tc.after)
				}
			}
		})
	}
}

func TestProcessAddsAfterVia(t *testing.T) {
	req := request(t, "", false)
	if _, err := maxfwd.New().Process(req, 10); err != nil {
		t.Fatal(err)
	}
	hdrs := req.Headers()
	if len(hdrs) < 2 || hdrs[0].Name() != "Via" || hdrs[1].Name() != "Max-Forwards" {
		t.Fatalf("header order %v, want Via then Max-Forwards", names(hdrs))
	}
}

func TestProcessTwice(t *testing.T) {
	req := request(t, "3", false)
	f := maxfwd.New()
	for _, want := range []maxfwd.Result{maxfwd.Decremented, maxfwd.Decremented, maxfwd.Decremented, maxfwd.Exhausted} {
		if got, _ := f.Process(req, 10); got != want {
			t.Fatalf("got %d, want %d (Max-Forwards %v)", got, want, maxForwards(t, req))
		}
	}
}

func TestLessThan(t *testing.T) {
	cases := []struct {
		name    string
		header  string
		generic bool
		limit   int
		want    int
		wantErr error
	}{
		{"below", "3", false, 5, 1, nil},
		{"equal is not below", "5", false, 5, -1, nil},
		{"above", "70", false, 5, -1, nil},
		{"missing", "", false, 5, -2, nil},
		{"not a number", "x", true, 5, -3, maxfwd.ErrInvalid},
		{"limit out of range", "3", false, 300, -1, maxfwd.ErrLimit},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := maxfwd.New().LessThan(request(t, tc.header, tc.generic), tc.limit)
			if got != tc.want || !errors.Is(err, tc.wantErr) {
				t.Fatalf("got %d, %v; want %d, %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func names(hs []sip.Header) []string {
	var out []string
	for _, h := range hs {
		out = append(out, h.Name())
	}
	return out
}
