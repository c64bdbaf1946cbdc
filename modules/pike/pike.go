package pike

import (
	"encoding/binary"
	"math"
	"net/netip"
	"sync"
	"time"
)

// Result is the outcome of a check, valued as Kamailio's pike_check_req
// return codes.
type Result int

// Results of Check.
const (
	// OK: the source is within its rate (or the address was not valid:
	// as in Kamailio, an error never reports a flood).
	OK Result = 1
	// Flooding: the source was already known to flood.
	Flooding Result = -1
	// NewFlood: the source has just gone over its rate.
	NewFlood Result = -2
)

// Options configure a Detector.
type Options struct {
	// Unit is the sampling time unit (Kamailio's sampling_time_unit).
	Unit time.Duration
	// Density is how many requests a source may send per Unit
	// (reqs_density_per_unit).
	Density int
	// RemoveLatency is how long a source is remembered after its last
	// request (remove_latency).
	RemoveLatency time.Duration
	// MaxEntries bounds the sources remembered; beyond it the stalest is
	// evicted (0: unbounded).
	MaxEntries int
	// Shards is the number of lock shards, rounded down to a power of two
	// (default 64; at most MaxEntries).
	Shards int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// OnChange, when set, is told when a source starts (true) or stops
	// (false) flooding. It is called with a lock held: keep it short.
	OnChange func(ip netip.Addr, flooding bool)
}

// entry is the request history of one source: a sliding window made of
// the counts of the current and the previous sampling unit.
type entry struct {
	start   int64 // start of the current unit, unix nanoseconds
	last    int64 // time of the last request
	prev    uint32
	curr    uint32
	blocked bool
}

// Counters are a detector's totals.
type Counters struct {
	OK, Flooding, NewFlood uint64
	Evicted, Expired       uint64
	Tracked, Blocked       int
}

// pshard holds the sources whose address hashes to it. Its counters are
// updated under its lock, so counting costs no atomic operation.
type pshard struct {
	mu  sync.Mutex
	m   map[[16]byte]entry
	max int
	c   Counters
	_   [40]byte
}

// Detector finds sources that send requests faster than Density per Unit.
// Each source's rate is estimated over a sliding window of one Unit: the
// count of the current unit plus the previous unit's count weighted by the
// part of it still inside the window. It is safe for concurrent use.
type Detector struct {
	opts   Options
	shards []pshard
	shift  uint // 64 - log2(len(shards))
}

// NewDetector returns a detector with no history.
func NewDetector(o Options) *Detector {
	if o.Shards <= 0 {
		o.Shards = 64
	}
	if o.MaxEntries > 0 && o.Shards > o.MaxEntries {
		// Every shard holds at least one entry and the total stays
		// within MaxEntries.
		o.Shards = o.MaxEntries
	}
	n, shift := 1, uint(64)
	for n*2 <= o.Shards {
		n <<= 1
		shift--
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	d := &Detector{opts: o, shards: make([]pshard, n), shift: shift}
	per := 0
	if o.MaxEntries > 0 {
		per = max(o.MaxEntries/n, 1)
	}
	for i := range d.shards {
		d.shards[i].m = map[[16]byte]entry{}
		d.shards[i].max = per
	}
	return d
}

func (d *Detector) shard(key *[16]byte) *pshard {
	// Fold, mix, and take the top bits, which depend on every input bit
	// (an IPv4 address sits in the last four bytes).
	h := binary.LittleEndian.Uint64(key[:8]) ^ binary.LittleEndian.Uint64(key[8:])
	h ^= h >> 32
	h *= 0x9e3779b97f4a7c15
	return &d.shards[h>>d.shift]
}

// Check counts one request from ip and tells whether ip floods.
func (d *Detector) Check(ip netip.Addr) Result {
	if !ip.IsValid() {
		return OK
	}
	key := ip.Unmap().As16()
	now := d.opts.Now().UnixNano()
	unit := int64(d.opts.Unit)
	s := d.shard(&key)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[key]
	if !ok {
		if s.max > 0 && len(s.m) >= s.max {
			d.evict(s, now)
		}
		e.start = now
	}
	if elapsed := now - e.start; elapsed >= unit {
		n := elapsed / unit
		if n == 1 {
			e.prev = e.curr
		} else {
			e.prev = 0
		}
		e.curr = 0
		e.start += n * unit
	}
	if e.curr < math.MaxUint32 {
		e.curr++
	}
	e.last = now
	weight := 1 - float64(now-e.start)/float64(unit)
	rate := float64(e.prev)*weight + float64(e.curr)
	res := OK
	switch {
	case rate > float64(d.opts.Density) && e.blocked:
		res = Flooding
		s.c.Flooding++
	case rate > float64(d.opts.Density):
		res = NewFlood
		e.blocked = true
		s.c.NewFlood++
		s.c.Blocked++
		d.changed(ip, true)
	default:
		if e.blocked {
			e.blocked = false
			s.c.Blocked--
			d.changed(ip, false)
		}
		s.c.OK++
	}
	s.m[key] = e
	return res
}

func (d *Detector) changed(ip netip.Addr, flooding bool) {
	if d.opts.OnChange != nil {
		d.opts.OnChange(ip.Unmap(), flooding)
	}
}

// evictSample is how many entries eviction looks at: Go's map iteration
// starts at a random place, so this is a random sample, as Redis samples
// keys for its LRU.
const evictSample = 8

// evict removes one entry of s (locked): a stale one if the sample has
// one, else the least recently seen source that is not flooding, so a
// flood of new addresses cannot push the known floods out.
func (d *Detector) evict(s *pshard, now int64) {
	var victim [16]byte
	var best entry
	found := false
	i := 0
	for k, e := range s.m {
		if now-e.last > int64(d.opts.RemoveLatency) {
			victim, best, found = k, e, true
			break
		}
		if !found || e.blocked == best.blocked && e.last < best.last || best.blocked && !e.blocked {
			victim, best, found = k, e, true
		}
		if i++; i >= evictSample {
			break
		}
	}
	if !found {
		return
	}
	delete(s.m, victim)
	s.c.Evicted++
	if best.blocked {
		s.c.Blocked--
	}
}

// Sweep forgets the sources that sent nothing for RemoveLatency and
// returns how many it forgot.
func (d *Detector) Sweep() int {
	now := d.opts.Now().UnixNano()
	n := 0
	for i := range d.shards {
		s := &d.shards[i]
		s.mu.Lock()
		for k, e := range s.m {
			if now-e.last > int64(d.opts.RemoveLatency) {
				delete(s.m, k)
				s.c.Expired++
				if e.blocked {
					s.c.Blocked--
				}
				n++
			}
		}
		s.mu.Unlock()
	}
	return n
}

// Counters sums the shards' counters.
func (d *Detector) Counters() Counters {
	var c Counters
	for i := range d.shards {
		s := &d.shards[i]
		s.mu.Lock()
		c.OK += s.c.OK
		c.Flooding += s.c.Flooding
		c.NewFlood += s.c.NewFlood
		c.Evicted += s.c.Evicted
		c.Expired += s.c.Expired
		c.Blocked += s.c.Blocked
		c.Tracked += len(s.m)
		s.mu.Unlock()
	}
	return c
}

// Len is the number of sources remembered.
func (d *Detector) Len() int { return d.Counters().Tracked }
