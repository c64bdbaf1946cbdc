package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/modules/registrar"
	"github.com/locus-sip/locus/modules/usrloc"
)

// Pagination and input bounds of the API.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
	DefaultTable = "location"
	// maxParam bounds an AoR, prefix or cursor.
	maxParam = 1024
	// requestTimeout bounds the store work of one API request.
	requestTimeout = 10 * time.Second
	// readyTimeout bounds each module's readiness check.
	readyTimeout = time.Second
)

// errNoMatch aborts a DELETE's update when nothing is to be removed.
var errNoMatch = errors.New("admin: no binding matched")

func (a *Admin) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// readyz: SIP listeners up, the script loaded, and every module that can
// tell (core.Readiness: a store it must reach) ready within readyTimeout.
func (a *Admin) readyz(w http.ResponseWriter, r *http.Request) {
	var failed []ReadyCheck
	if len(a.host.Listeners()) == 0 {
		failed = append(failed, ReadyCheck{Check: "listeners", Error: "no SIP listener is up"})
	}
	if a.host.Script() == nil {
		failed = append(failed, ReadyCheck{Check: "script", Error: "the routing script is not loaded"})
	}
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for _, nm := range a.host.Modules() {
		rd, ok := nm.Module.(core.Readiness)
		if !ok {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := checkReady(r.Context(), rd); err != nil {
				mu.Lock()
				failed = append(failed, ReadyCheck{Check: "module " + nm.Name, Error: err.Error()})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(failed) > 0 {
		writeJSON(w, http.StatusServiceUnavailable, Ready{Error: "not ready", Failed: failed})
		return
	}
	writeJSON(w, http.StatusOK, Ready{Ready: true})
}

// checkReady runs one readiness check, giving up after readyTimeout even
// when the module ignores its context.
func checkReady(ctx context.Context, rd core.Readiness) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- rd.Ready(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("no answer within %v", readyTimeout)
	}
}

func (a *Admin) listAORs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := DefaultLimit
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxLimit {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("limit %q: want a number from 1 to %d", s, MaxLimit))
			return
		}
		limit = n
	}
	table, ok := tableParam(w, r)
	if !ok {
		return
	}
	prefix, after := q.Get("prefix"), q.Get("after")
	if len(prefix) > maxParam || len(after) > maxParam {
		writeError(w, http.StatusBadRequest, "prefix or after too long")
		return
	}
	st := a.store()
	if st == nil {
		writeError(w, http.StatusServiceUnavailable, "the location service is not available")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	now := a.now()
	page := make([]AORSummary, 0, min(limit, 128))
	more := false
	err := st.List(ctx, table, prefix, after, func(aor string, bs []usrloc.Binding) bool {
		n := 0
		for i := range bs {
			if !bs[i].Expired(now) {
				n++
			}
		}
		if n == 0 {
			return true // expired, not yet swept: not an AoR any more
		}
		if len(page) == limit {
			more = true
			return false
		}
		page = append(page, AORSummary{AOR: aor, Bindings: n})
		return true
	})
	if err != nil {
		a.storeError(w, "list", "", err)
		return
	}
	out := AORList{AORs: page}
	if more {
		out.Next = page[len(page)-1].AOR
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *Admin) showAOR(w http.ResponseWriter, r *http.Request) {
	aor, table, ok := a.aorParams(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	bs, err := a.ul.Lookup(ctx, table, aor)
	if err != nil {
		a.storeError(w, "lookup", aor, err)
		return
	}
	if len(bs) == 0 {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no live binding for %s in table %s", aor, table))
		return
	}
	now := a.now()
	out := AORDetail{AOR: aor, Table: table, Bindings: make([]Binding, 0, len(bs))}
	for i := range bs {
		out.Bindings = append(out.Bindings, bindingJSON(&bs[i], now))
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *Admin) deleteAOR(w http.ResponseWriter, r *http.Request) {
	aor, table, ok := a.aorParams(w, r)
	if !ok {
		return
	}
	a.remove(w, r, table, aor, "")
}

func (a *Admin) deleteBinding(w http.ResponseWriter, r *http.Request) {
	aor, table, ok := a.aorParams(w, r)
	if !ok {
		return
	}
	ruid := r.PathValue("ruid")
	if ruid == "" || len(ruid) > maxParam {
		writeError(w, http.StatusBadRequest, "bad RUID")
		return
	}
	a.remove(w, r, table, aor, ruid)
}

// remove deletes the AoR's bindings, or only the one with ruid, through
// usrloc's Update so that the cache is invalidated before the answer.
func (a *Admin) remove(w http.ResponseWriter, r *http.Request, table, aor, ruid string) {
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	removed := 0
	_, err := a.ul.Update(ctx, table, aor, func(cur []usrloc.Binding) ([]usrloc.Binding, error) {
		keep := make([]usrloc.Binding, 0, len(cur))
		for _, b := range cur {
			if ruid == "" || b.RUID == ruid {
				continue
			}
			keep = append(keep, b)
		}
		removed = len(cur) - len(keep)
		if removed == 0 {
			return nil, errNoMatch
		}
		return keep, nil
	})
	switch {
	case errors.Is(err, errNoMatch):
		if ruid != "" {
			writeError(w, http.StatusNotFound, fmt.Sprintf("no live binding of %s with RUID %s in table %s", aor, ruid, table))
		} else {
			writeError(w, http.StatusNotFound, fmt.Sprintf("no live binding for %s in table %s", aor, table))
		}
		return
	case err != nil:
		a.storeError(w, "remove", aor, err)
		return
	}
	a.log.Info("bindings removed through the admin API", "aor", aor, "table", table, "ruid", ruid, "removed", removed, "src", r.RemoteAddr)
	writeJSON(w, http.StatusOK, Removed{AOR: aor, Table: table, RUID: ruid, Removed: removed})
}

// reloadFailure is the 422 body of a refused reload.
type reloadFailure struct {
	Error   string                       `json:"error"`
	Script  core.ScriptInfo              `json:"script"`
	Modules map[string]core.ModuleReload `json:"modules,omitempty"`
}

func (a *Admin) reload(w http.ResponseWriter, r *http.Request) {
	sc, ok := a.scriptControl(w)
	if !ok {
		return
	}
	a.log.Info("script reload requested through the admin API", "src", r.RemoteAddr)
	info, changed, err := sc.ReloadScript()
	mods := a.host.ReloadModules()
	if err != nil {
		writeJSON(w, http.StatusUnprocessableEntity, reloadFailure{Error: err.Error(), Script: info, Modules: mods})
		return
	}
	writeJSON(w, http.StatusOK, Reload{Changed: changed, Script: info, Modules: mods})
}

func (a *Admin) script(w http.ResponseWriter, _ *http.Request) {
	sc, ok := a.scriptControl(w)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, sc.Info())
}

// scriptControl is the routing script, looked up at request time: it is
// loaded after the modules.
func (a *Admin) scriptControl(w http.ResponseWriter) (core.ScriptControl, bool) {
	s := a.host.Script()
	if s == nil {
		writeError(w, http.StatusServiceUnavailable, "the routing script is not loaded yet")
		return nil, false
	}
	sc, ok := s.(core.ScriptControl)
	if !ok {
		writeError(w, http.StatusNotImplemented, "the script runtime does not support reload")
		return nil, false
	}
	return sc, true
}

// aorParams reads the {aor} path value (canonicalised as the registrar
// does: "alice@example.com" is "sip:alice@example.com") and ?table=.
func (a *Admin) aorParams(w http.ResponseWriter, r *http.Request) (aor, table string, ok bool) {
	raw := r.PathValue("aor")
	if len(raw) > maxParam {
		writeError(w, http.StatusBadRequest, "AoR too long")
		return "", "", false
	}
	aor, err := parseAOR(raw, a.caseSensitive)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("bad AoR %q: %v", raw, err))
		return "", "", false
	}
	if table, ok = tableParam(w, r); !ok {
		return "", "", false
	}
	if a.ul == nil {
		writeError(w, http.StatusServiceUnavailable, "the location service is not available")
		return "", "", false
	}
	return aor, table, true
}

// parseAOR is registrar.ParseAOR, which reads "alice@example.com" as
// "sip:alice@example.com", refusing other URI schemes first: ParseAOR
// would read "tel:+15551234" as sip:tel.
func parseAOR(raw string, caseSensitive bool) (string, error) {
	s := strings.TrimPrefix(strings.TrimSpace(raw), "<")
	if scheme, _, ok := strings.Cut(s, ":"); ok && !strings.ContainsAny(scheme, ".@[") {
		if !strings.EqualFold(scheme, "sip") && !strings.EqualFold(scheme, "sips") {
			return "", fmt.Errorf("unsupported URI scheme %q", scheme)
		}
	}
	return registrar.ParseAOR(raw, caseSensitive)
}

// tableParam reads ?table=, a location table name.
func tableParam(w http.ResponseWriter, r *http.Request) (string, bool) {
	t := r.URL.Query().Get("table")
	if t == "" {
		return DefaultTable, true
	}
	if len(t) > 64 {
		writeError(w, http.StatusBadRequest, "table name too long")
		return "", false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("table %q: letters, digits, _ - . only", t))
			return "", false
		}
	}
	return t, true
}

func (a *Admin) store() usrloc.Store {
	if a.stores == nil {
		return nil
	}
	return a.stores.Store()
}

// storeError answers a failed store operation: 503 for an outage, 500
// otherwise; the error is logged too.
func (a *Admin) storeError(w http.ResponseWriter, op, aor string, err error) {
	a.log.Warn("admin API: store operation failed", "op", op, "aor", aor, "error", err)
	code := http.StatusInternalServerError
	if errors.Is(err, usrloc.ErrStoreUnavailable) || errors.Is(err, context.DeadlineExceeded) {
		code = http.StatusServiceUnavailable
	}
	writeError(w, code, err.Error())
}

func bindingJSON(b *usrloc.Binding, now time.Time) Binding {
	out := Binding{
		AOR: b.AOR, Contact: b.Contact, Expires: b.Expires.UTC(), ExpiresIn: b.Remaining(now),
		CallID: b.CallID, CSeq: b.CSeq, Received: b.Received, Socket: b.Socket, ConnID: b.ConnID,
		Path: append([]string{}, b.Path...), Instance: b.Instance, RegID: b.RegID, UserAgent: b.UserAgent,
		Methods: b.Methods, Flags: b.Flags, Modified: b.Modified.UTC(), RUID: b.RUID,
	}
	if b.Q != usrloc.QUnset {
		q := float64(b.Q) / 1000
		out.Q = &q
	}
	return out
}
