package permissions

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strconv"
	"strings"
)

// ErrRule is wrapped by the errors of ParseRule and ParseFile.
var ErrRule = errors.New("permissions: invalid address")

// Rule is one entry of an address group: a network (a host is a /32 or
// /128) and a port, 0 for any port.
type Rule struct {
	Prefix netip.Prefix
	Port   int
}

// ParseRule reads an address group entry: an IP address or a CIDR
// network, optionally with a port: "10.0.0.0/8", "192.0.2.1:5060",
// "2001:db8::/32", "[2001:db8::1]:5061", "[2001:db8::/32]:5060". Host
// bits of a network are cleared ("10.1.2.3/8" is 10.0.0.0/8); an
// IPv4-mapped IPv6 address is its IPv4 address.
func ParseRule(s string) (Rule, error) {
	s = strings.TrimSpace(s)
	addr, port, hasPort := s, "", false
	switch {
	case strings.HasPrefix(s, "["):
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return Rule{}, fmt.Errorf("%w %q: no closing ']'", ErrRule, s)
		}
		addr = s[1:end]
		rest := s[end+1:]
		if rest != "" {
			p, ok := strings.CutPrefix(rest, ":")
			if !ok {
				return Rule{}, fmt.Errorf("%w %q: want [address]:port", ErrRule, s)
			}
			port, hasPort = p, true
		}
	case strings.Count(s, ":") == 1:
		addr, port, hasPort = strings.Cut(s, ":")
	}
	var r Rule
	if strings.Contains(addr, "/") {
		p, err := netip.ParsePrefix(addr)
		if err != nil {
			return Rule{}, fmt.Errorf("%w %q: %v", ErrRule, s, err)
		}
		r.Prefix = p.Masked()
	} else {
		a, err := netip.ParseAddr(addr)
		if err != nil {
			return Rule{}, fmt.Errorf("%w %q: %v", ErrRule, s, err)
		}
		if a.Zone() != "" {
			return Rule{}, fmt.Errorf("%w %q: zones are not supported", ErrRule, s)
		}
		r.Prefix = netip.PrefixFrom(a, a.BitLen())
	}
	if a := r.Prefix.Addr(); a.Is4In6() && r.Prefix.Bits() >= 96 {
		r.Prefix = netip.PrefixFrom(a.Unmap(), r.Prefix.Bits()-96)
	}
	if hasPort {
		n, ok := parsePort(port)
		if !ok {
			return Rule{}, fmt.Errorf("%w %q: port %q is not 0-65535", ErrRule, s, port)
		}
		r.Port = n
	}
	return r, nil
}

func parsePort(s string) (int, bool) {
	if s == "" || len(s) > 5 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, n <= 65535
}

// String formats the rule as ParseRule reads it.
func (r Rule) String() string {
	a := r.Prefix.Addr()
	s := r.Prefix.String()
	if r.Prefix.IsSingleIP() {
		s = a.String()
	}
	if r.Port == 0 {
		return s
	}
	if a.Is6() {
		return "[" + s + "]:" + strconv.Itoa(r.Port)
	}
	return s + ":" + strconv.Itoa(r.Port)
}

// ParseFile reads an address groups file: one entry a line, the group
// number then the address ("1 10.0.0.0/8", "2 [2001:db8::1]:5060");
// blank lines and lines starting with '#' are ignored. Errors name the
// line.
func ParseFile(r io.Reader) (map[int][]Rule, error) {
	groups := map[int][]Rule{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] == '#' {
			continue
		}
		fields := strings.Fields(text)
		if len(fields) != 2 {
			return nil, fmt.Errorf("line %d: want \"group address\", got %q", line, clip(text))
		}
		g, err := strconv.Atoi(fields[0])
		if err != nil || g < 0 {
			return nil, fmt.Errorf("line %d: group %q is not a number 0 or above", line, clip(fields[0]))
		}
		rule, err := ParseRule(fields[1])
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		groups[g] = append(groups[g], rule)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", line+1, err)
	}
	return groups, nil
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// group is one compiled address group: hosts by address, networks by
// prefix, and the prefix lengths in use (longest first), so a lookup is
// one map probe per distinct length, not a scan of the networks.
type group struct {
	hosts   map[netip.Addr][]int // address → ports (0: any)
	nets    map[netip.Prefix][]int
	lengths [2][]int // prefix lengths in use: [0] IPv4, [1] IPv6
}

func newGroup(rules []Rule) *group {
	g := &group{hosts: map[netip.Addr][]int{}, nets: map[netip.Prefix][]int{}}
	seen := map[[2]int]bool{}
	for _, r := range rules {
		if r.Prefix.IsSingleIP() {
			g.hosts[r.Prefix.Addr()] = append(g.hosts[r.Prefix.Addr()], r.Port)
			continue
		}
		g.nets[r.Prefix] = append(g.nets[r.Prefix], r.Port)
		fam := family(r.Prefix.Addr())
		if k := [2]int{fam, r.Prefix.Bits()}; !seen[k] {
			seen[k] = true
			g.lengths[fam] = append(g.lengths[fam], r.Prefix.Bits())
		}
	}
	for _, ls := range g.lengths {
		sort.Sort(sort.Reverse(sort.IntSlice(ls)))
	}
	return g
}

func family(a netip.Addr) int {
	if a.Is4() {
		return 0
	}
	return 1
}

func anyPort(ports []int, port int) bool {
	for _, p := range ports {
		if p == 0 || p == port {
			return true
		}
	}
	return false
}

// Table is a compiled set of address groups. It is immutable: a reload
// builds a new one.
type Table struct {
	groups map[int]*group
	ids    []int // group numbers, ascending
	rules  int
}

// Compile builds the lookup table of groups.
func Compile(groups map[int][]Rule) *Table {
	t := &Table{groups: map[int]*group{}}
	for id, rules := range groups {
		t.groups[id] = newGroup(rules)
		t.ids = append(t.ids, id)
		t.rules += len(rules)
	}
	sort.Ints(t.ids)
	return t
}

// Len is the number of rules.
func (t *Table) Len() int { return t.rules }

// Groups are the group numbers, ascending.
func (t *Table) Groups() []int { return t.ids }

// Allow reports whether ip and port belong to group.
func (t *Table) Allow(id int, ip netip.Addr, port int) bool {
	g := t.groups[id]
	if g == nil || !ip.IsValid() {
		return false
	}
	return g.allow(ip.Unmap().WithZone(""), port)
}

func (g *group) allow(ip netip.Addr, port int) bool {
	if anyPort(g.hosts[ip], port) {
		return true
	}
	for _, bits := range g.lengths[family(ip)] {
		p, _ := ip.Prefix(bits)
		if anyPort(g.nets[p], port) {
			return true
		}
	}
	return false
}

// Group returns the lowest group that ip and port belong to, or -1.
func (t *Table) Group(ip netip.Addr, port int) int {
	if !ip.IsValid() {
		return -1
	}
	ip = ip.Unmap().WithZone("")
	for _, id := range t.ids {
		if t.groups[id].allow(ip, port) {
			return id
		}
	}
	return -1
}
