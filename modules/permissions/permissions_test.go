package permissions_test

import (
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/locus-sip/locus/modules/permissions"
)

func TestParseRule(t *testing.T) {
	cases := []struct {
		in, prefix string
		port       int
		str        string // String(), "" for in
		bad        bool
	}{
		{"192.0.2.1", "192.0.2.1/32", 0, "", false},
		{" 192.0.2.1:5060 ", "192.0.2.1/32", 5060, "192.0.2.1:5060", false},
		{"10.0.0.0/8", "10.0.0.0/8", 0, "", false},
		{"10.1.2.3/8", "10.0.0.0/8", 0, "10.0.0.0/8", false},
		{"10.0.0.0/8:5060", "10.0.0.0/8", 5060, "", false},
		{"192.0.2.1:0", "192.0.2.1/32", 0, "192.0.2.1", false},
		{"2001:db8::1", "2001:db8::1/128", 0, "", false},
		{"2001:db8::/32", "2001:db8::/32", 0, "", false},
		{"[2001:db8::1]:5061", "2001:db8::1/128", 5061, "", false},
		{"[2001:db8::/32]:5060", "2001:db8::/32", 5060, "", false},
		{"[2001:db8::1]", "2001:db8::1/128", 0, "2001:db8::1", false},
		{"::ffff:192.0.2.1", "192.0.2.1/32", 0, "192.0.2.1", false},
		{"::ffff:10.0.0.0/104", "10.0.0.0/8", 0, "10.0.0.0/8", false},
		{"", "", 0, "", true},
		{"example.com", "", 0, "", true},
		{"192.0.2.1:70000", "", 0, "", true},
		{"192.0.2.1:+50", "", 0, "", true},
		{"192.0.2.1:", "", 0, "", true},
		{"10.0.0.0/33", "", 0, "", true},
		{"[2001:db8::1", "", 0, "", true},
		{"[2001:db8::1]5060", "", 0, "", true},
		{"fe80::1%eth0", "", 0, "", true},
		{"192.0.2.1/32/1", "", 0, "", true},
		{"[2001:db8::1]:", "", 0, "", true},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			r, err := permissions.ParseRule(tc.in)
			if tc.bad {
				if !errors.Is(err, permissions.ErrRule) {
					t.Fatalf("got %v, %v; want ErrRule", r, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Prefix.String() != tc.prefix || r.Port != tc.port {
				t.Fatalf("got %s port %d, want %s port %d", r.Prefix, r.Port, tc.prefix, tc.port)
			}
			want := tc.str
			if want == "" {
				want = strings.TrimSpace(tc.in)
			}
			if r.String() != want {
				t.Fatalf("String %q, want %q", r.String(), want)
			}
		})
	}
}

func TestParseFile(t *testing.T) {
	good := "# offices\n1 10.0.0.0/8\n\n1\t192.0.2.1:5060\n  2 [2001:db8::1]:5061  \n"
	g, err := permissions.ParseFile(strings.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	if len(g[1]) != 2 || len(g[2]) != 1 || g[2][0].Port != 5061 {
		t.Fatalf("groups %v", g)
	}
	for _, tc := range []struct{ in, want string }{
		{"1 10.0.0.0/8\n1\n", "line 2: want"},
		{"x 10.0.0.0/8\n", "line 1: group"},
		{"-1 10.0.0.0/8\n", "line 1: group"},
		{"1 10.0.0.0/8 5060\n", "line 1: want"},
		{"\n\n1 nowhere\n", "line 3: permissions: invalid address"},
		{"1 " + strings.Repeat("1", 70000) + "\n", "line 1: bufio.Scanner: token too long"},
	} {
		if _, err := permissions.ParseFile(strings.NewReader(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%.30q: error %v, want %q", tc.in, err, tc.want)
		}
	}
}

func compile(t *testing.T, groups map[int][]string) *permissions.Table {
	t.Helper()
	g := map[int][]permissions.Rule{}
	for id, rs := range groups {
		for _, s := range rs {
			r, err := permissions.ParseRule(s)
			if err != nil {
				t.Fatal(err)
			}
			g[id] = append(g[id], r)
		}
	}
	return permissions.Compile(g)
}

func TestAllow(t *testing.T) {
	tab := compile(t, map[int][]string{
		1: {"10.0.0.0/8", "192.0.2.1:5060", "192.0.2.1:5070", "2001:db8::/32"},
		2: {"[2001:db8::1]:5061", "10.1.0.0/16:5060", "198.51.100.7"},
		3: {"0.0.0.0/0:5080"},
	})
	cases := []struct {
		group int
		ip    string
		port  int
		want  bool
	}{
		{1, "10.9.8.7", 1234, true},
		{1, "11.0.0.1", 5060, false},
		{1, "192.0.2.1", 5060, true},
		{1, "192.0.2.1", 5070, true},
		{1, "192.0.2.1", 5061, false},
		{1, "::ffff:10.0.0.1", 5060, true},
		{1, "2001:db8:ffff::1", 5060, true},
		{1, "2001:db9::1", 5060, false},
		{2, "2001:db8::1", 5061, true},
		{2, "2001:db8::1", 5060, false},
		{2, "10.1.2.3", 5060, true},
		{2, "10.1.2.3", 5061, false},
		{2, "10.2.0.1", 5060, false},
		{2, "198.51.100.7", 1, true},
		{3, "203.0.113.9", 5080, true},
		{3, "203.0.113.9", 5060, false},
		{3, "2001:db8::1", 5080, false}, // an IPv4 network never holds IPv6
		{9, "10.0.0.1", 5060, false},    // no such group
	}
	for _, tc := range cases {
		if got := tab.Allow(tc.group, netip.MustParseAddr(tc.ip), tc.port); got != tc.want {
			t.Errorf("Allow(%d, %s, %d) = %v, want %v", tc.group, tc.ip, tc.port, got, tc.want)
		}
	}
	if tab.Allow(1, netip.Addr{}, 0) {
		t.Error("invalid address allowed")
	}
	groups := []struct {
		ip   string
		port int
		want int
	}{
		{"10.1.2.3", 5060, 1}, // in 1 and 2: the lowest
		{"2001:db8::1", 5061, 1},
		{"198.51.100.7", 9, 2},
		{"203.0.113.9", 5080, 3},
		{"203.0.113.9", 5060, -1},
	}
	for _, tc := range groups {
		if got := tab.Group(netip.MustParseAddr(tc.ip), tc.port); got != tc.want {
			t.Errorf("Group(%s, %d) = %d, want %d", tc.ip, tc.port, got, tc.want)
		}
	}
	if tab.Len() != 8 || len(tab.Groups()) != 3 {
		t.Errorf("len %d, groups %v", tab.Len(), tab.Groups())
	}
}

// TestConcurrentReload: lookups run while the table is swapped; run with
// -race.
func TestConcurrentReload(t *testing.T) {
	p := permissions.NewWithTable(compile(t, map[int][]string{1: {"10.0.0.0/8"}}), nil)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	ip := netip.MustParseAddr("10.0.0.1")
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if !p.Allow(1, ip, 5060) {
					t.Error("10.0.0.1 denied during reloads")
					return
				}
			}
		}()
	}
	for i := range 200 {
		extra := []string{"10.0.0.0/8"}
		if i%2 == 0 {
			extra = append(extra, "192.0.2.0/24")
		}
		permissions.SwapTable(p, compile(t, map[int][]string{1: extra}))
	}
	close(stop)
	wg.Wait()
}
