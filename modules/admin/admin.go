package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/locus-sip/locus/core"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The API's JSON documents. locus ctl decodes the same types.

// Error is the body of every error response.
type Error struct {
	Error string `json:"error"`
}

// AORSummary is one AoR of a listing: how many live bindings it has.
type AORSummary struct {
	AOR      string `json:"aor"`
	Bindings int    `json:"bindings"`
}

// AORList is a page of GET /api/v1/aors. Next is the cursor of the next
// page (pass it as ?after=), "" on the last page.
type AORList struct {
	AORs []AORSummary `json:"aors"`
	Next string       `json:"next"`
}

// Binding is one binding with every stored field and its remaining
// lifetime.
type Binding struct {
	AOR       string    `json:"aor"`
	Contact   string    `json:"contact"`
	Expires   time.Time `json:"expires"`
	ExpiresIn int       `json:"expires_in"` // seconds left
	Q         *float64  `json:"q"`          // null when the contact gave none
	CallID    string    `json:"call_id"`
	CSeq      uint32    `json:"cseq"`
	Received  string    `json:"received"`
	Socket    string    `json:"socket"`
	ConnID    string    `json:"conn_id"`
	Path      []string  `json:"path"`
	Instance  string    `json:"instance"`
	RegID     int       `json:"reg_id"`
	UserAgent string    `json:"user_agent"`
	Methods   string    `json:"methods"`
	Flags     uint32    `json:"flags"`
	Modified  time.Time `json:"modified"`
	RUID      string    `json:"ruid"`
}

// AORDetail is GET /api/v1/aors/{aor}.
type AORDetail struct {
	AOR      string    `json:"aor"`
	Table    string    `json:"table"`
	Bindings []Binding `json:"bindings"`
}

// Removed answers the DELETE endpoints.
type Removed struct {
	AOR     string `json:"aor"`
	Table   string `json:"table"`
	RUID    string `json:"ruid,omitempty"`
	Removed int    `json:"removed"`
}

// Reload answers POST /api/v1/reload: the generation serving now, and
// whether the reload changed it. A refused reload is a 422 Error.
type Reload struct {
	Changed bool            `json:"changed"`
	Script  core.ScriptInfo `json:"script"`
	// Modules are the modules with data of their own (users file,
	// address groups file), reloaded with the script.
	Modules map[string]core.ModuleReload `json:"modules,omitempty"`
}

// Stats is GET /api/v1/stats.
type Stats struct {
	StartedAt     time.Time `json:"started_at"`
	UptimeSeconds int64     `json:"uptime_seconds"`
	// Requests counts requests by method and final status code ("0" for
	// none: ACK, dropped); only non-zero counts appear.
	Requests           map[string]map[string]uint64 `json:"requests"`
	RequestsTotal      uint64                       `json:"requests_total"`
	Inflight           int64                        `json:"inflight"`
	OverloadRejections uint64                       `json:"overload_rejections"`
	// Registrations counts REGISTER outcomes by result, when the
	// registrar counts them.
	Registrations map[string]uint64 `json:"registrations,omitempty"`
	// AORs and Bindings are what the store holds (expired bindings not
	// yet swept included); absent when the store cannot count.
	AORs      *int             `json:"aors,omitempty"`
	Bindings  *int             `json:"bindings,omitempty"`
	Listeners []string         `json:"listeners"`
	Script    *core.ScriptInfo `json:"script,omitempty"`
}

// ReadyCheck is one failed readiness check.
type ReadyCheck struct {
	Check string `json:"check"`
	Error string `json:"error"`
}

// Ready is the body of /readyz.
type Ready struct {
	Ready  bool         `json:"ready"`
	Error  string       `json:"error,omitempty"`
	Failed []ReadyCheck `json:"failed,omitempty"`
}

func (a *Admin) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", a.healthz)
	mux.HandleFunc("GET /readyz", a.readyz)
	mux.Handle("GET /metrics", a.metricsHandler())
	mux.HandleFunc("GET /api/v1/aors", a.listAORs)
	mux.HandleFunc("GET /api/v1/aors/{aor}", a.showAOR)
	mux.HandleFunc("DELETE /api/v1/aors/{aor}", a.deleteAOR)
	mux.HandleFunc("DELETE /api/v1/aors/{aor}/bindings/{ruid}", a.deleteBinding)
	mux.HandleFunc("POST /api/v1/reload", a.reload)
	mux.HandleFunc("GET /api/v1/stats", a.stats)
	mux.HandleFunc("GET /api/v1/script", a.script)
	if a.PProf {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return mux
}

func (a *Admin) metricsHandler() http.Handler {
	if a.host == nil || a.host.Metrics == nil {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			writeError(w, http.StatusServiceUnavailable, "no metrics registry")
		})
	}
	return promhttp.HandlerFor(a.host.Metrics, promhttp.HandlerOpts{
		ErrorLog:      promLogger{a},
		ErrorHandling: promhttp.ContinueOnError,
		Timeout:       10 * time.Second,
	})
}

type promLogger struct{ a *Admin }

func (l promLogger) Println(v ...any) {
	l.a.log.Warn("metrics scrape", "error", strings.TrimSpace(fmt.Sprintln(v...)))
}

// ServeHTTP checks the token, then dispatches. Unknown paths and wrong
// methods get JSON errors like every other failure.
func (a *Admin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	// A web page the operator visits must not reach the API on loopback:
	// no cross-site POST or DELETE (CSRF) and, without a token, no
	// request for a host name (DNS rebinding makes evil.example resolve
	// to 127.0.0.1 and the browser then reads the answers).
	if err := new(http.CrossOriginProtection).Check(r); err != nil {
		writeError(w, http.StatusForbidden, "cross-origin request refused")
		return
	}
	if a.token == nil && (strings.HasPrefix(r.URL.Path, "/api/") || strings.HasPrefix(r.URL.Path, "/debug/")) && !literalHost(r.Host) {
		writeError(w, http.StatusForbidden, "without a token the API answers only requests for an IP address or localhost (Host "+r.Host+")")
		return
	}
	if a.needsToken(r.URL.Path) && !a.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="locus admin"`)
		writeError(w, http.StatusUnauthorized, "missing or bad bearer token")
		return
	}
	h, pattern := a.mux.Handler(r)
	if pattern == "" {
		// The mux's own answer: 404, 405 (with Allow) or a redirect.
		rec := &headRecorder{h: http.Header{}}
		h.ServeHTTP(rec, r)
		for k, v := range rec.h {
			if k != "Content-Type" && k != "X-Content-Type-Options" {
				w.Header()[k] = v
			}
		}
		switch rec.code {
		case http.StatusNotFound:
			writeError(w, rec.code, "no such endpoint: "+r.URL.Path)
		case http.StatusMethodNotAllowed:
			writeError(w, rec.code, "method "+r.Method+" not allowed on "+r.URL.Path+" (allowed: "+rec.h.Get("Allow")+")")
		default:
			w.WriteHeader(rec.code)
		}
		return
	}
	a.mux.ServeHTTP(w, r)
}

// needsToken: every /api/ and /debug/ path when a token is set, and /metrics when
// protect_metrics is on.
func (a *Admin) needsToken(path string) bool {
	if a.token == nil {
		return false
	}
	return strings.HasPrefix(path, "/api/") || strings.HasPrefix(path, "/debug/") ||
		(a.ProtectMetrics && path == "/metrics")
}

// authorized compares the bearer token in constant time; hashing both
// sides first hides the token's length too.
func (a *Admin) authorized(r *http.Request) bool {
	auth := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	want := sha256.Sum256(a.token)
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

// literalHost reports whether a Host header names an IP address or
// localhost, which DNS rebinding cannot make a page's own origin.
func literalHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return strings.EqualFold(host, "localhost") || net.ParseIP(host) != nil
}

// headRecorder captures the status and headers of the mux's fallback
// handlers; their text body is dropped.
type headRecorder struct {
	h    http.Header
	code int
}

func (r *headRecorder) Header() http.Header { return r.h }
func (r *headRecorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}

func (r *headRecorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return len(b), nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, Error{Error: msg})
}
