// Package tm is locus's transaction module: KSR.tm, stateful forwarding
// after Kamailio's tm module. t_relay sends a request to every target the
// script set (the Request-URI and the branches lookup added), keeps a
// server transaction towards the caller and a client transaction per
// branch (RFC 3261 §16 and §17), picks the best response, cancels what is
// left when a branch answers 2xx or 6xx, and runs the script's failure
// and reply routes.
package tm

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/core"
	"github.com/prometheus/client_golang/prometheus"
)

func init() {
	core.RegisterModule(core.ModuleInfo{Name: "tm", New: func() core.Module { return New() }})
}

// TM is the transaction layer and its configuration (modules.tm).
type TM struct {
	// FrTimer bounds the wait for a final response when no provisional
	// came (Kamailio's fr_timer); the branch then ends with 408.
	FrTimer core.Duration `yaml:"fr_timer"`
	// FrInvTimer bounds the wait for a final response to an INVITE once a
	// provisional came (fr_inv_timer, RFC 3261 Timer C): the branch is
	// cancelled and ends with 408.
	FrInvTimer core.Duration `yaml:"fr_inv_timer"`
	// T1 and T2 are RFC 3261's retransmission timers (UDP).
	T1 core.Duration `yaml:"t1"`
	T2 core.Duration `yaml:"t2"`
	// WaitTimer is how long a finished transaction stays to absorb
	// retransmissions and pass late 2xx (wait_timer).
	WaitTimer core.Duration `yaml:"wait_timer"`
	// AutoInv100 sends 100 Trying as soon as an INVITE is relayed.
	AutoInv100 bool `yaml:"auto_inv_100"`
	// MaxTransactions bounds the transactions in progress; t_relay
	// refuses more (the script answers 503).
	MaxTransactions int `yaml:"max_transactions"`

	host    *core.Host
	log     *slog.Logger
	out     core.Outbound // set in tests; else the host's
	script  core.ScriptCaller
	flows   flowLoser
	metrics *metrics

	mu     sync.Mutex
	server map[serverKey]*txn
	client map[string]*branch
	uac    map[string]chan *sip.Response // Request's own transactions
	waits  waitQueue                     // finished transactions until their wait is over
	seq    atomic.Uint64
	count  atomic.Int64
	closed atomic.Bool
}

// flowLoser is usrloc's handle_lost_tcp.
type flowLoser interface {
	LostFlow(ctx context.Context, table, aor, ruid string) (bool, error)
}

// New returns the module with Kamailio's defaults.
func New() *TM {
	return &TM{
		FrTimer:         core.Duration(30 * time.Second),
		FrInvTimer:      core.Duration(120 * time.Second),
		T1:              core.Duration(500 * time.Millisecond),
		T2:              core.Duration(4 * time.Second),
		WaitTimer:       core.Duration(5 * time.Second),
		AutoInv100:      true,
		MaxTransactions: 100000,
		log:             slog.New(slog.DiscardHandler),
		server:          map[serverKey]*txn{},
		client:          map[string]*branch{},
		uac:             map[string]chan *sip.Response{},
	}
}

// Provision finds the logger, the metrics registry and usrloc.
func (t *TM) Provision(_ context.Context, h *core.Host) error {
	t.host = h
	t.log = h.Log.With("module", "tm")
	if h.Metrics != nil {
		t.metrics = newMetrics(h.Metrics, t)
	}
	if mod, ok := h.Module("usrloc"); ok {
		if m, ok := mod.(flowLoser); ok {
			t.flows = m
		}
	}
	return nil
}

// Validate checks the configuration.
func (t *TM) Validate() error {
	for name, d := range map[string]core.Duration{"fr_timer": t.FrTimer, "fr_inv_timer": t.FrInvTimer, "t1": t.T1, "t2": t.T2} {
		if d <= 0 {
			return fmt.Errorf("tm: %s must be positive", name)
		}
	}
	if t.T2 < t.T1 {
		return fmt.Errorf("tm: t2 (%s) below t1 (%s)", time.Duration(t.T2), time.Duration(t.T1))
	}
	if t.WaitTimer < 0 || t.MaxTransactions < 0 {
		return fmt.Errorf("tm: wait_timer and max_transactions must not be negative")
	}
	return nil
}

// Cleanup stops every timer; transactions in progress are abandoned.
func (t *TM) Cleanup() error {
	t.closed.Store(true)
	t.waits.close()
	t.mu.Lock()
	txs := make([]*txn, 0, len(t.server))
	for _, x := range t.server {
		txs = append(txs, x)
	}
	t.mu.Unlock()
	for _, x := range txs {
		x.mu.Lock()
		x.stopTimers()
		x.mu.Unlock()
	}
	return nil
}

// SetOutbound replaces the sender (tests).
func (t *TM) SetOutbound(o core.Outbound) { t.out = o }

// SetScript replaces the routing script for failure and reply routes (tests).
func (t *TM) SetScript(s core.ScriptCaller) { t.script = s }

func (t *TM) outbound() core.Outbound {
	if t.out != nil {
		return t.out
	}
	if t.host != nil {
		return t.host.Outbound()
	}
	return nil
}

func (t *TM) scriptCaller() core.ScriptCaller {
	if t.script != nil {
		return t.script
	}
	if t.host != nil {
		return t.host.Script()
	}
	return nil
}

// Active is the number of transactions in progress.
func (t *TM) Active() int64 { return t.count.Load() }

type metrics struct {
	relayed *prometheus.CounterVec
	local   *prometheus.CounterVec
	forward *prometheus.CounterVec
}

func newMetrics(reg *prometheus.Registry, t *TM) *metrics {
	m := &metrics{
		relayed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "locus_tm_relayed_total", Help: "Requests relayed statefully, by method.",
		}, []string{"method"}),
		local: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "locus_tm_local_replies_total", Help: "Final replies tm generated itself (408 timeout, 480 lost flow, 503 send failure, 487 cancelled), by code.",
		}, []string{"code"}),
		forward: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "locus_tm_replies_total", Help: "Final replies sent upstream by transactions, by code class.",
		}, []string{"class"}),
	}
	active := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "locus_tm_transactions", Help: "Transactions in progress.",
	}, func() float64 { return float64(t.Active()) })
	for _, c := range []prometheus.Collector{m.relayed, m.local, m.forward, active} {
		_ = reg.Register(c)
	}
	return m
}

func (m *metrics) relay(method sip.RequestMethod) {
	if m != nil {
		m.relayed.WithLabelValues(string(method)).Inc()
	}
}

func (m *metrics) localReply(code int) {
	if m != nil {
		m.local.WithLabelValues(fmt.Sprint(code)).Inc()
	}
}

func (m *metrics) final(code int) {
	if m != nil {
		m.forward.WithLabelValues(fmt.Sprintf("%dxx", code/100)).Inc()
	}
}

// Interface guards.
var (
	_ core.Provisioner     = (*TM)(nil)
	_ core.Validator       = (*TM)(nil)
	_ core.CleanerUpper    = (*TM)(nil)
	_ core.LuaExporter     = (*TM)(nil)
	_ core.Interceptor     = (*TM)(nil)
	_ core.ResponseHandler = (*TM)(nil)
)
