// Package script runs the Lua routing script: it compiles the script once
// per generation, keeps a bounded pool of pre-warmed sandboxed states for
// it, runs each request's route under a deadline, and swaps generations on
// reload without disturbing requests in flight.
package script

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/internal/watch"
	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"
)

// RequestRoute is the entry point every request runs through.
const RequestRoute = "ksr_request_route"

// Errors a route can end with.
var (
	ErrTimeout = errors.New("script: route exceeded its deadline")
)

// Export is one KSR sub-table: KSR.<Name>. An empty Name puts the
// functions on KSR itself.
type Export struct {
	Name  string
	Funcs []core.LuaFunc
}

// Options configure a Runtime.
type Options struct {
	// File is the routing script.
	File string
	// Timeout bounds one route (default 100 ms).
	Timeout time.Duration
	// PoolSize is the most Lua states a generation keeps (default 32 per CPU, built as needed).
	PoolSize int
	// Exports are the module functions the script sees under KSR.
	Exports []Export
	// Log receives reload and error messages; the script's own logging
	// (KSR.info, print) goes to Log with module=script.
	Log *slog.Logger
}

// Runtime runs requests through the current script generation.
type Runtime struct {
	opts Options
	log  *slog.Logger // reload messages and the script's own logging

	cur     atomic.Pointer[Generation]
	nextID  atomic.Uint64
	reload  sync.Mutex // serialises reloads
	epoch   time.Time
	stopped sync.Once

	liveMu sync.Mutex
	live   map[*state]struct{}
	// watch runs cancelOverdue while routes run.
	watch *watch.Watch

	reloads        atomic.Uint64
	reloadFailures atomic.Uint64
	lastErrMu      sync.Mutex
	lastErr        string
}

// New compiles the script and warms its first generation. It fails when
// the script does not compile or has no ksr_request_route.
func New(opts Options) (*Runtime, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 100 * time.Millisecond
	}
	if opts.PoolSize <= 0 {
		opts.PoolSize = 32 * runtime.GOMAXPROCS(0)
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	r := &Runtime{
		opts:  opts,
		log:   opts.Log.With("module", "script"),
		epoch: time.Now(),
		live:  map[*state]struct{}{},
	}
	src, err := os.ReadFile(opts.File)
	if err != nil {
		return nil, fmt.Errorf("script: %w", err)
	}
	g, err := r.newGeneration(src)
	if err != nil {
		return nil, err
	}
	r.cur.Store(g)
	r.log.Info("script loaded", "file", opts.File, "generation", g.ID, "hash", g.Hash[:12])
	r.watch = watch.New(opts.Timeout, r.cancelOverdue)
	return r, nil
}

// Current returns the generation serving new requests.
func (r *Runtime) Current() *Generation { return r.cur.Load() }

// Stats reports reload counters and the last reload error ("" if none).
func (r *Runtime) Stats() (reloads, failures uint64, lastErr string) {
	r.lastErrMu.Lock()
	defer r.lastErrMu.Unlock()
	return r.reloads.Load(), r.reloadFailures.Load(), r.lastErr
}

// Close stops the deadline watch and retires the current generation.
func (r *Runtime) Close() {
	r.stopped.Do(func() {
		r.watch.Stop()
		if g := r.cur.Load(); g != nil {
			g.retire()
		}
	})
}

// Route runs ksr_request_route for m on the current generation.
func (r *Runtime) Route(m *core.Msg) error {
	return r.Call(m, RequestRoute)
}

// Call runs the global function fn of the current script with m as the
// current message. A function the script does not define is not an error.
func (r *Runtime) Call(m *core.Msg, fn string, args ...lua.LValue) error {
	g := r.cur.Load()
	st, err := g.get()
	for errors.Is(err, errRetired) {
		g = r.cur.Load()
		st, err = g.get()
	}
	if err != nil {
		return err
	}
	var f lua.LValue
	if fn == RequestRoute {
		f = st.route
	} else {
		f = st.L.GetGlobal(fn)
	}
	lf, ok := f.(*lua.LFunction)
	if !ok {
		g.put(st)
		return nil
	}
	st.env.Msg = m
	start := int64(time.Since(r.epoch)) | 1 // never 0: 0 means idle
	st.started.Store(start)
	r.watch.Arm()
	st.L.Push(lf)
	for _, a := range args {
		st.L.Push(a)
	}
	err = st.L.PCall(len(args), 0, nil)
	finished := st.started.CompareAndSwap(start, 0)
	st.env.Msg = nil
	if !finished {
		// The watchdog cancelled this state: it is not reused.
		g.discard(st)
		return fmt.Errorf("%w (%s)", ErrTimeout, r.opts.Timeout)
	}
	if err != nil {
		ae, ok := err.(*lua.ApiError) // what PCall returns; As for anything wrapped
		if !ok {
			_ = errors.As(err, &ae)
		}
		if ae == exitError || ae != nil && ae.Object == exitValue {
			st.L.SetTop(0)
			g.put(st)
			return nil
		}
		// A state that raised an error may hold half-done work: drop it.
		g.discard(st)
		return fmt.Errorf("script: %s", luaErrorText(err))
	}
	g.put(st)
	return nil
}

// cancelOverdue cancels the states whose route overran the deadline and
// returns how long until the next running route would, 0 when none runs.
// One timer for all states, running only while routes do, is far cheaper
// than a timer per request, and than a ticker that wakes an idle server.
func (r *Runtime) cancelOverdue() time.Duration {
	now := int64(time.Since(r.epoch))
	limit := int64(r.opts.Timeout)
	var next time.Duration
	r.liveMu.Lock()
	defer r.liveMu.Unlock()
	for st := range r.live {
		s := st.started.Load()
		if s <= 0 {
			continue
		}
		left := time.Duration(limit - (now - s))
		if left <= 0 {
			if st.started.CompareAndSwap(s, -1) {
				st.cancel()
			}
			continue
		}
		if next == 0 || left < next {
			next = left
		}
	}
	return next
}

// exitValue marks the error KSR.x.exit raises to stop the route.
var exitValue = &lua.LUserData{}

// exitError is what KSR.x.exit raises: a ready error with a stack trace
// already set, which PCall (called without a message handler) hands back
// as it is. Nothing is allocated and no traceback is formatted: an exit
// is the normal end of most routes. It is never modified (gopher-lua only
// fills in an empty StackTrace), so every state shares it.
var exitError = &lua.ApiError{Type: lua.ApiErrorRun, Object: exitValue, StackTrace: "KSR.x.exit"}

// Generation is one compiled version of the script with its state pool.
type Generation struct {
	ID       uint64
	Hash     string
	File     string
	LoadedAt time.Time

	rt    *Runtime
	proto *lua.FunctionProto
	pool  chan *state
	slots chan struct{} // one token per state that may exist
	// retired is set when a newer generation took over: states coming back
	// are closed instead of pooled, and done wakes requests waiting here.
	retired  atomic.Bool
	done     chan struct{}
	doneOnce sync.Once
}

type state struct {
	L      *lua.LState
	env    *core.Env
	route  *lua.LFunction
	cancel context.CancelFunc
	// started is the route's start (ns since the runtime's epoch), 0 when
	// idle, -1 once the watchdog cancelled it.
	started atomic.Int64
}

func (r *Runtime) newGeneration(src []byte) (*Generation, error) {
	sum := sha256.Sum256(src)
	proto, err := compile(src, r.opts.File, knownFuncs(r.opts.Exports))
	if err != nil {
		return nil, err
	}
	g := &Generation{
		ID:       r.nextID.Add(1),
		Hash:     hex.EncodeToString(sum[:]),
		File:     r.opts.File,
		LoadedAt: time.Now(),
		rt:       r,
		proto:    proto,
		pool:     make(chan *state, r.opts.PoolSize),
		slots:    make(chan struct{}, r.opts.PoolSize),
		done:     make(chan struct{}),
	}
	// Warm a few states (the first is the canary that proves the script
	// loads); the rest are built on demand up to PoolSize.
	warm := min(r.opts.PoolSize, runtime.GOMAXPROCS(0))
	for i := 0; i < warm; i++ {
		st, err := g.newState()
		if err != nil {
			g.retire()
			return nil, err
		}
		g.slots <- struct{}{}
		g.pool <- st
	}
	return g, nil
}

func (g *Generation) newState() (*state, error) {
	r := g.rt
	ctx, cancel := context.WithCancel(context.Background())
	env := &core.Env{Ctx: ctx, Log: r.log}
	L := lua.NewState(lua.Options{SkipOpenLibs: true})
	st := &state{L: L, env: env, cancel: cancel}
	openSandbox(L, r.log)
	installKSR(L, env, r.opts.Exports)
	// The top-level chunk runs under the route deadline too: a script
	// that loops at load time is refused, not hung on.
	loadCtx, loadCancel := context.WithTimeout(ctx, r.opts.Timeout)
	L.SetContext(loadCtx)
	L.Push(L.NewFunctionFromProto(g.proto))
	err := L.PCall(0, 0, nil)
	loadCancel()
	if err != nil {
		st.close()
		return nil, fmt.Errorf("script: load %s", luaErrorText(err))
	}
	L.SetContext(ctx)
	route, ok := L.GetGlobal(RequestRoute).(*lua.LFunction)
	if !ok {
		st.close()
		return nil, fmt.Errorf("script: %s: no function %s", g.File, RequestRoute)
	}
	st.route = route
	r.liveMu.Lock()
	r.live[st] = struct{}{}
	r.liveMu.Unlock()
	return st, nil
}

func (st *state) close() {
	st.cancel()
	st.L.Close()
}

// get borrows a state: an idle one, or a new one while the pool has room,
// or it waits for either up to MaxWait. errRetired tells the caller to
// try the generation that replaced this one.
func (g *Generation) get() (*state, error) {
	select {
	case st := <-g.pool:
		return st, nil
	default:
	}
	t := time.NewTimer(max(g.rt.opts.Timeout, MaxWait))
	defer t.Stop()
	select {
	case st := <-g.pool:
		return st, nil
	case g.slots <- struct{}{}:
		st, err := g.newState()
		if err != nil {
			<-g.slots
			return nil, err
		}
		return st, nil
	case <-g.done:
		return nil, errRetired
	case <-t.C:
		return nil, core.ErrBusy
	}
}

var errRetired = errors.New("script: generation retired")

// MaxWait bounds how long a request waits for a free Lua state (at least
// the route timeout) before it is answered 503: a burst queues briefly
// instead of being refused.
const MaxWait = time.Second

func (g *Generation) put(st *state) {
	if g.retired.Load() {
		g.discard(st)
		return
	}
	g.pool <- st
}

func (g *Generation) discard(st *state) {
	g.rt.liveMu.Lock()
	delete(g.rt.live, st)
	g.rt.liveMu.Unlock()
	st.close()
	<-g.slots
}

// retire stops pooling: idle states are closed now, busy ones when they
// come back.
func (g *Generation) retire() {
	g.retired.Store(true)
	g.doneOnce.Do(func() { close(g.done) })
	for {
		select {
		case st := <-g.pool:
			g.discard(st)
		default:
			return
		}
	}
}

// Compile parses and compiles a script. Errors read "file:line: message".
func Compile(src []byte, file string) (*lua.FunctionProto, error) {
	return compile(src, file, nil)
}

// compile is Compile with calls of the KSR functions that known reports
// hoisted (see hoistKSR); nil hoists none.
func compile(src []byte, file string, known func(mod, fn string) bool) (*lua.FunctionProto, error) {
	chunk, err := parse.Parse(strings.NewReader(string(src)), file)
	if err != nil {
		return nil, fmt.Errorf("script: %s", parseErrorText(err, file))
	}
	chunk, _ = exitReturns(chunk)
	if known != nil {
		if hoisted, n := hoistKSR(chunk, known); n > 0 {
			// The locals may take registers the script needed: then
			// compile it as it is, parsed again (hoistKSR rewrote the
			// calls in place).
			if proto, err := lua.Compile(hoisted, file); err == nil {
				return proto, nil
			}
			if chunk, err = parse.Parse(strings.NewReader(string(src)), file); err != nil {
				return nil, fmt.Errorf("script: %s", parseErrorText(err, file))
			}
			chunk, _ = exitReturns(chunk)
		}
	}
	proto, err := lua.Compile(chunk, file)
	if err != nil {
		return nil, fmt.Errorf("script: %s: %w", file, err)
	}
	return proto, nil
}

// Check compiles a script and loads it into a sandboxed state with the
// given exports, as a reload would, and reports the first problem.
func Check(file string, exports []Export) error {
	r, err := New(Options{File: file, Exports: exports, PoolSize: 1})
	if err != nil {
		return err
	}
	r.Close()
	return nil
}

// gopher-lua reports syntax errors as "file line:3(column:5) near 'x':   msg".
var parseErrRe = regexp.MustCompile(`line:(\d+)\(column:(\d+)\) near '(.*)':\s*(.*)`)

func parseErrorText(err error, file string) string {
	s := err.Error()
	if m := parseErrRe.FindStringSubmatch(s); m != nil {
		return fmt.Sprintf("%s:%s: %s near '%s'", file, m[1], strings.TrimSpace(m[4]), m[3])
	}
	return file + ": " + strings.TrimSpace(s)
}

// luaErrorText keeps the first line of a Lua error ("file:12: message")
// without gopher-lua's stack traceback.
func luaErrorText(err error) string {
	var ae *lua.ApiError
	if errors.As(err, &ae) {
		s := ae.Object.String()
		if ae.Type == lua.ApiErrorPanic {
			s = "panic: " + s
		}
		if i := strings.Index(s, "\nstack traceback"); i >= 0 {
			s = s[:i]
		}
		return s
	}
	return err.Error()
}

// ExportsOf lists the Lua functions of mods, each under its
// module's name: what a runtime for that host exports as KSR.
func ExportsOf(mods []core.NamedModule) []Export {
	var out []Export
	for _, nm := range mods {
		if ex, ok := nm.Module.(core.LuaExporter); ok {
			out = append(out, Export{Name: nm.Name, Funcs: ex.LuaExports()})
		}
	}
	return out
}
