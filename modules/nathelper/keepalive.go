package nathelper

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/modules/usrloc"
	"github.com/prometheus/client_golang/prometheus"
)

// Keepalive is NAT keepalive pinging (Kamailio's natping): every
// natping_interval each binding behind NAT (or every binding) gets an
// OPTIONS, sent the way a call would reach it — over its own connection,
// or to the address it registered from — and spread over the interval so
// that pings never come in bursts. Any response counts as alive; a binding
// that fails to answer keepalive_failures pings in a row is removed.
type Keepalive struct {
	Interval  core.Duration `yaml:"natping_interval"`   // 0: off
	NATedOnly bool          `yaml:"ping_nated_only"`    // only bindings flagged NAT or on a connection
	From      string        `yaml:"sipping_from"`       // From URI of the pings
	Table     string        `yaml:"natping_table"`      // location table
	Timeout   core.Duration `yaml:"keepalive_timeout"`  // wait for an answer
	Failures  int           `yaml:"keepalive_failures"` // unanswered pings before removal; 0: never remove

	log     *slog.Logger
	loc     locations
	ping    pinger
	cancel  context.CancelFunc
	done    chan struct{}
	seq     atomic.Uint64
	mu      sync.Mutex
	missed  map[string]int // RUID → pings unanswered in a row
	metrics *kaMetrics
}

// locations is what keepalive needs of usrloc.
type locations interface {
	Store() usrloc.Store
	Update(ctx context.Context, table, aor string, fn func(cur []usrloc.Binding) ([]usrloc.Binding, error)) ([]usrloc.Binding, error)
}

// pinger is tm's Request.
type pinger interface {
	Request(ctx context.Context, req *sip.Request, target core.Target) (*sip.Response, error)
}

func defaultKeepalive() Keepalive {
	return Keepalive{
		NATedOnly: true, From: "sip:pinger@locus.invalid", Table: "location",
		Timeout: core.Duration(5 * time.Second), Failures: 3,
	}
}

func (k *Keepalive) validate() error {
	if k.Interval < 0 || k.Timeout <= 0 || k.Failures < 0 {
		return errors.New("nathelper: natping_interval and keepalive_failures must not be negative, keepalive_timeout must be positive")
	}
	if k.Interval > 0 && k.Timeout > k.Interval {
		return fmt.Errorf("nathelper: keepalive_timeout %s longer than natping_interval %s", time.Duration(k.Timeout), time.Duration(k.Interval))
	}
	var u sip.Uri
	if err := sip.ParseUri(k.From, &u); err != nil || u.Host == "" {
		return fmt.Errorf("nathelper: sipping_from %q is not a SIP URI", k.From)
	}
	return nil
}

type kaMetrics struct {
	pings   *prometheus.CounterVec
	removed prometheus.Counter
}

func newKAMetrics(reg *prometheus.Registry) *kaMetrics {
	m := &kaMetrics{
		pings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "locus_nathelper_pings_total", Help: "NAT keepalive pings, by result (answered, unanswered, error).",
		}, []string{"result"}),
		removed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "locus_nathelper_bindings_removed_total", Help: "Bindings removed after keepalive_failures unanswered pings.",
		}),
	}
	_ = reg.Register(m.pings)
	_ = reg.Register(m.removed)
	return m
}

func (m *kaMetrics) ping(result string) {
	if m != nil {
		m.pings.WithLabelValues(result).Inc()
	}
}

// start runs the pinger until stop.
func (k *Keepalive) start() {
	if k.Interval <= 0 || k.loc == nil || k.ping == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	k.cancel, k.done = cancel, make(chan struct{})
	k.missed = map[string]int{}
	go func() {
		defer close(k.done)
		// The first round starts one interval in: the sockets are up by then.
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Duration(k.Interval)):
		}
		for ctx.Err() == nil {
			k.round(ctx)
		}
	}()
}

func (k *Keepalive) stop() {
	if k.cancel != nil {
		k.cancel()
		<-k.done
	}
}

// round pings every binding due once, spread over one interval.
func (k *Keepalive) round(ctx context.Context) {
	interval := time.Duration(k.Interval)
	var due []usrloc.Binding
	err := k.loc.Store().List(ctx, k.Table, "", "", func(_ string, bs []usrloc.Binding) bool {
		now := time.Now()
		for _, b := range bs {
			if b.Expired(now) {
				continue
			}
			if !k.NATedOnly || b.Flags&usrloc.FlagNAT != 0 || b.ConnID != "" {
				due = append(due, b)
			}
		}
		return true
	})
	if err != nil {
		k.log.Warn("keepalive: listing bindings", "error", err)
	}
	k.forget(due)
	var wg sync.WaitGroup
	step := interval
	if len(due) > 0 {
		step = interval / time.Duration(len(due))
	}
	next := time.Now()
	for _, b := range due {
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-time.After(time.Until(next)):
		}
		next = next.Add(step)
		wg.Add(1)
		go func() {
			defer wg.Done()
			k.pingOne(ctx, b)
		}()
	}
	select {
	case <-ctx.Done():
	case <-time.After(time.Until(next)):
	}
	wg.Wait()
}

// forget drops failure counts of bindings that are gone.
func (k *Keepalive) forget(due []usrloc.Binding) {
	live := make(map[string]bool, len(due))
	for _, b := range due {
		live[b.RUID] = true
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for ruid := range k.missed {
		if !live[ruid] {
			delete(k.missed, ruid)
		}
	}
}

// pingOne sends one OPTIONS and counts the outcome.
func (k *Keepalive) pingOne(ctx context.Context, b usrloc.Binding) {
	target, req, err := k.pingRequest(ctx, b)
	if err != nil {
		k.metrics.ping("error")
		k.log.Debug("keepalive: no target", "aor", b.AOR, "contact", b.Contact, "error", err)
		return
	}
	pctx, cancel := context.WithTimeout(ctx, time.Duration(k.Timeout))
	defer cancel()
	_, err = k.ping.Request(pctx, req, target)
	if ctx.Err() != nil {
		return // shutting down
	}
	k.mu.Lock()
	if err == nil {
		delete(k.missed, b.RUID)
		k.mu.Unlock()
		k.metrics.ping("answered")
		return
	}
	k.missed[b.RUID]++
	n := k.missed[b.RUID]
	k.mu.Unlock()
	k.metrics.ping("unanswered")
	if k.Failures == 0 || n < k.Failures {
		return
	}
	k.remove(ctx, b, n)
}

func (k *Keepalive) remove(ctx context.Context, b usrloc.Binding, n int) {
	removed := false
	_, err := k.loc.Update(ctx, k.Table, b.AOR, func(cur []usrloc.Binding) ([]usrloc.Binding, error) {
		removed = false
		out := make([]usrloc.Binding, 0, len(cur))
		for _, c := range cur {
			if c.RUID == b.RUID {
				removed = true
				continue
			}
			out = append(out, c)
		}
		return out, nil
	})
	if err != nil {
		k.log.Warn("keepalive: removing binding", "aor", b.AOR, "error", err)
		return
	}
	k.mu.Lock()
	delete(k.missed, b.RUID)
	k.mu.Unlock()
	if removed {
		if k.metrics != nil {
			k.metrics.removed.Inc()
		}
		k.log.Info("keepalive: binding removed, pings unanswered", "aor", b.AOR, "contact", b.Contact, "pings", n)
	}
}

// pingRequest builds the OPTIONS for a binding and where it goes: its
// connection, else the address it registered from when it is behind NAT,
// else its contact.
func (k *Keepalive) pingRequest(ctx context.Context, b usrloc.Binding) (core.Target, *sip.Request, error) {
	var ru sip.Uri
	if err := sip.ParseUri(b.Contact, &ru); err != nil {
		return core.Target{}, nil, err
	}
	var target core.Target
	switch {
	case b.ConnID != "":
		proto, addr, _ := strings.Cut(b.ConnID, ":")
		target = core.Target{Proto: proto, Addr: addr, Flow: true}
	case b.Flags&usrloc.FlagNAT != 0 && b.Received != "":
		proto, addr, _ := strings.Cut(b.Received, ":")
		target = core.Target{Proto: proto, Addr: addr}
	default:
		t, err := core.TargetOf(ctx, &ru)
		if err != nil {
			return core.Target{}, nil, err
		}
		target = t
	}
	var from sip.Uri
	_ = sip.ParseUri(k.From, &from)
	n := k.seq.Add(1)
	req := sip.NewRequest(sip.OPTIONS, ru)
	fromH := &sip.FromHeader{Address: from, Params: sip.NewParams()}
	fromH.Params.Add("tag", "ka"+strconv.FormatUint(n, 36))
	req.AppendHeader(fromH)
	req.AppendHeader(&sip.ToHeader{Address: ru, Params: sip.NewParams()})
	callID := sip.CallIDHeader("ka-" + strconv.FormatUint(n, 36) + "@" + from.Host)
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.OPTIONS})
	req.AppendHeader(sip.NewHeader("Max-Forwards", "70"))
	req.AppendHeader(sip.NewHeader("Content-Length", "0"))
	return target, req, nil
}
