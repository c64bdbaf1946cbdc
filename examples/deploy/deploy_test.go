// Package deploy holds deployment examples; its tests check that they
// load and agree with each other and with locus's metrics.
package deploy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/core/coretest"
	"github.com/locus-sip/locus/core/script"
	"go.yaml.in/yaml/v3"

	// The modules compiled into locus (cmd/locus/modules.go), so that
	// their config sections decode and their metrics register.
	_ "github.com/locus-sip/locus/modules/admin"
	_ "github.com/locus-sip/locus/modules/auth"
	_ "github.com/locus-sip/locus/modules/auth_db"
	_ "github.com/locus-sip/locus/modules/hdr"
	_ "github.com/locus-sip/locus/modules/maxfwd"
	_ "github.com/locus-sip/locus/modules/pv"
	_ "github.com/locus-sip/locus/modules/registrar"
	_ "github.com/locus-sip/locus/modules/sanity"
	_ "github.com/locus-sip/locus/modules/sl"
	_ "github.com/locus-sip/locus/modules/store/memstore"
	_ "github.com/locus-sip/locus/modules/usrloc"
)

// storeSchemes are the location store DSN schemes locus has (usrloc's
// README). The stores are not opened here: Redis needs a server.
var storeSchemes = []string{"memory", "sqlite", "redis", "rediss", "postgres", "postgresql"}

// configFiles are the example configs.
var configFiles = []string{"locus.yaml", "two-node/node1.yaml", "two-node/node2.yaml"}

// loadConfig loads a config as "locus run" does (strict YAML, defaults,
// validation), then decodes every module section strictly into a fresh
// module and validates it, without provisioning (no store is opened).
func loadConfig(t *testing.T, path string) *core.Config {
	t.Helper()
	cfg, err := core.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	scheme, rest, ok := strings.Cut(cfg.Store, ":")
	if !ok || !slices.Contains(storeSchemes, scheme) {
		t.Errorf("%s: store %q: unknown scheme", path, cfg.Store)
	}
	switch scheme {
	case "sqlite":
		if !filepath.IsAbs(rest) {
			t.Errorf("%s: store %q: want an absolute path in production", path, cfg.Store)
		}
	case "redis", "rediss":
		u, err := url.Parse(cfg.Store)
		if err != nil || u.Host == "" {
			t.Errorf("%s: store %q: want redis://HOST:PORT/DB (%v)", path, cfg.Store, err)
		}
	}
	for name, node := range cfg.Modules {
		info, ok := core.LookupModule(name)
		if !ok {
			t.Errorf("%s: modules.%s: no such module", path, name)
			continue
		}
		m := info.New()
		if err := decodeStrict(node, m); err != nil {
			t.Errorf("%s: modules.%s: %v", path, name, err)
			continue
		}
		if v, ok := m.(core.Validator); ok {
			if err := v.Validate(); err != nil {
				t.Errorf("%s: modules.%s: %v", path, name, err)
			}
		}
	}
	return cfg
}

// decodeStrict decodes a module section as core.LoadModules does:
// unknown keys are errors.
func decodeStrict(n yaml.Node, v any) error {
	b, err := yaml.Marshal(&n)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// moduleField reads one scalar of a module section.
func moduleField(t *testing.T, cfg *core.Config, module, key string) string {
	t.Helper()
	var m map[string]any
	n := cfg.Modules[module]
	if err := n.Decode(&m); err != nil {
		t.Fatal(err)
	}
	s, _ := m[key].(string)
	return s
}

func TestConfigs(t *testing.T) {
	for _, f := range configFiles {
		t.Run(f, func(t *testing.T) {
			cfg := loadConfig(t, f)
			if cfg.Admin == "off" || moduleField(t, cfg, "admin", "token_file") == "" {
				t.Errorf("admin %q, token_file %q: a production node serves the admin API with a token",
					cfg.Admin, moduleField(t, cfg, "admin", "token_file"))
			}
			if cfg.Log.Format != "json" {
				t.Errorf("log format %q, want json", cfg.Log.Format)
			}
			if len(cfg.Modules["registrar"].Content) == 0 {
				t.Error("no modules.registrar: the served domains must be set")
			}
		})
	}
	// Every example config is tested.
	var found []string
	_ = filepath.WalkDir(".", func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".yaml") && !strings.HasPrefix(p, "prometheus") {
			found = append(found, filepath.ToSlash(p))
		}
		return err
	})
	slices.Sort(found)
	want := slices.Clone(configFiles)
	slices.Sort(want)
	if !slices.Equal(found, want) {
		t.Errorf("config files %v, tested %v", found, want)
	}
}

func TestTwoNodes(t *testing.T) {
	n1, n2 := loadConfig(t, "two-node/node1.yaml"), loadConfig(t, "two-node/node2.yaml")
	if n1.Store != "redis://127.0.0.1:6379/0" || n2.Store != n1.Store {
		t.Errorf("stores %q and %q: want the same Redis", n1.Store, n2.Store)
	}
	s1, s2 := moduleField(t, n1, "auth", "secret"), moduleField(t, n2, "auth", "secret")
	if len(s1) < 16 || s1 != s2 {
		t.Errorf("auth secrets %q and %q: want one shared secret of at least 16 bytes", s1, s2)
	}
	if n1.Admin == n2.Admin || n1.Listen[0].Socket == n2.Listen[0].Socket {
		t.Errorf("the nodes share an address: admin %s/%s, listen %s/%s", n1.Admin, n2.Admin, n1.Listen[0].Socket, n2.Listen[0].Socket)
	}

	// The zone's SRV targets are the nodes: their A records are the
	// addresses the nodes listen on, and their ports the SIP ports.
	zone := parseZone(t, "two-node/example.com.zone")
	nodes := map[string]string{} // advertised name → listen host:port
	for _, n := range []*core.Config{n1, n2} {
		for _, l := range n.Listen {
			nodes[l.Advertise+"."] = l.Addr()
		}
	}
	for _, svc := range []string{"_sip._udp.example.com.", "_sip._tcp.example.com."} {
		srvs := zone.records(svc, "SRV")
		if len(srvs) != 2 {
			t.Errorf("%s: %d SRV records, want 2", svc, len(srvs))
		}
		var targets []string
		for _, r := range srvs {
			if len(r) != 4 {
				t.Errorf("%s SRV %v: want priority weight port target", svc, r)
				continue
			}
			for _, f := range r[:3] {
				if _, err := strconv.ParseUint(f, 10, 16); err != nil {
					t.Errorf("%s SRV %v: %q is not a 16-bit number", svc, r, f)
				}
			}
			target := r[3]
			targets = append(targets, target)
			addr, ok := nodes[target]
			if !ok {
				t.Errorf("%s SRV target %s is not a node's advertised name (%v)", svc, target, nodes)
				continue
			}
			host, port, _ := net.SplitHostPort(addr)
			if port != r[2] {
				t.Errorf("%s SRV %v: port %s, but %s listens on %s", svc, r, r[2], target, addr)
			}
			if a := zone.records(target, "A"); len(a) != 1 || a[0][0] != host {
				t.Errorf("%s: A records %v, want %s", target, a, host)
			}
		}
		slices.Sort(targets)
		if len(targets) == 2 && targets[0] == targets[1] {
			t.Errorf("%s: both SRV records name %s", svc, targets[0])
		}
	}
	for _, r := range zone.records("example.com.", "NAPTR") {
		repl := r[len(r)-1]
		if len(zone.records(repl, "SRV")) == 0 {
			t.Errorf("NAPTR %v: no SRV records for %s", r, repl)
		}
	}
	if len(zone.records("example.com.", "NAPTR")) != 2 {
		t.Error("want NAPTR records for UDP and TCP")
	}
}

// zone is a parsed zone file: owner and type → the records' data fields.
type zone map[[2]string][][]string

func (z zone) records(owner, typ string) [][]string { return z[[2]string{owner, typ}] }

// parseZone reads the master-file subset the example uses: $ORIGIN,
// $TTL, one record per line, ";" comments, relative owners.
func parseZone(t *testing.T, path string) zone {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	z := zone{}
	origin := ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	for line := 1; sc.Scan(); line++ {
		text, _, _ := strings.Cut(sc.Text(), ";")
		f := strings.Fields(text)
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "$ORIGIN":
			origin = f[1]
			continue
		case "$TTL":
			if _, err := strconv.Atoi(f[1]); err != nil {
				t.Errorf("%s:%d: $TTL %q", path, line, f[1])
			}
			continue
		}
		if strings.HasPrefix(text, " ") || strings.HasPrefix(text, "\t") {
			t.Fatalf("%s:%d: records without an owner are not used here", path, line)
		}
		owner := f[0]
		switch {
		case owner == "@":
			owner = origin
		case !strings.HasSuffix(owner, "."):
			owner += "." + origin
		}
		i := 1
		if _, err := strconv.Atoi(f[i]); err == nil {
			i++ // TTL
		}
		if f[i] != "IN" || len(f) < i+3 {
			t.Fatalf("%s:%d: want OWNER [TTL] IN TYPE DATA", path, line)
		}
		typ, data := f[i+1], f[i+2:]
		last := data[len(data)-1]
		if (typ == "SRV" || typ == "NAPTR") && !strings.HasSuffix(last, ".") {
			t.Errorf("%s:%d: %s target %q is not absolute", path, line, typ, last)
		}
		if typ == "A" && net.ParseIP(data[0]).To4() == nil {
			t.Errorf("%s:%d: A %q", path, line, data[0])
		}
		z[[2]string{owner, typ}] = append(z[[2]string{owner, typ}], data)
	}
	if origin == "" {
		t.Fatalf("%s: no $ORIGIN", path)
	}
	return z
}

// unitFile is a parsed systemd unit: section → key → values in order.
type unitFile map[string]map[string][]string

func parseUnit(t *testing.T, path string) unitFile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	u := unitFile{}
	section := ""
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" || strings.HasSuffix(line, "\\") {
				t.Fatalf("%s:%d: %q is not KEY=VALUE in a section", path, i+1, line)
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	return u
}

func TestSystemdUnit(t *testing.T) {
	const path = "locus.service"
	u := parseUnit(t, path)
	for _, s := range []string{"Unit", "Service", "Install"} {
		if u[s] == nil {
			t.Errorf("no [%s] section", s)
		}
	}
	want := map[string]string{
		"ExecStart":               "/usr/local/bin/locus run --config /etc/locus/locus.yaml",
		"ExecReload":              "/bin/kill -HUP $MAINPID",
		"Restart":                 "on-failure",
		"User":                    "locus",
		"NoNewPrivileges":         "yes",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"MemoryDenyWriteExecute":  "yes",
		"LockPersonality":         "yes",
		"RestrictNamespaces":      "yes",
		"CapabilityBoundingSet":   "", // 5060 is not a privileged port
		"AmbientCapabilities":     "",
		"ReadWritePaths":          "/var/lib/locus",
		"StateDirectory":          "locus",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX AF_NETLINK",
	}
	for k, v := range want {
		if got := u["Service"][k]; len(got) != 1 || got[0] != v {
			t.Errorf("[Service] %s=%q, want %q", k, got, v)
		}
	}
	if f := u["Service"]["SystemCallFilter"]; !slices.Contains(f, "@system-service") {
		t.Errorf("SystemCallFilter %q, want @system-service", f)
	}
	if w := u["Install"]["WantedBy"]; !slices.Equal(w, []string{"multi-user.target"}) {
		t.Errorf("WantedBy %q", w)
	}

	// The unit and the production config agree: the store is in the
	// writable state directory, the credentials the config reads are
	// loaded, and systemd waits longer than locus's shutdown.
	cfg := loadConfig(t, "locus.yaml")
	if dir := filepath.Dir(strings.TrimPrefix(cfg.Store, "sqlite:")); dir != "/var/lib/locus" {
		t.Errorf("store %s outside ReadWritePaths /var/lib/locus", cfg.Store)
	}
	creds := map[string]bool{}
	for _, lc := range u["Service"]["LoadCredential"] {
		name, _, _ := strings.Cut(lc, ":")
		creds[name] = true
	}
	b, _ := os.ReadFile("locus.yaml")
	for _, m := range regexp.MustCompile(`/run/credentials/locus\.service/([\w.-]+)`).FindAllStringSubmatch(string(b), -1) {
		if !creds[m[1]] {
			t.Errorf("locus.yaml reads credential %s, which the unit does not load", m[1])
		}
	}
	stop, err := time.ParseDuration(strings.Join(u["Service"]["TimeoutStopSec"], ""))
	if err != nil || stop <= time.Duration(cfg.ShutdownTimeout) {
		t.Errorf("TimeoutStopSec %v (%v), want more than shutdown_timeout %v", stop, err, time.Duration(cfg.ShutdownTimeout))
	}

	// systemd's own check, where systemd is installed. It checks that
	// ExecStart is executable, so the copy runs an executable that
	// exists; unknown keys are warnings with status 0, so any output
	// about the unit fails the test.
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze not installed: the unit was checked as INI only")
		return
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(t.TempDir(), "locus.service")
	if err := os.WriteFile(tmp, bytes.ReplaceAll(src, []byte("/usr/local/bin/locus"), []byte(exe)), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, analyze, "verify", tmp).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "locus.service") {
			t.Errorf("systemd-analyze verify: %s", line)
		}
	}
}

// metricInfo is what the registries say about one metric name.
type metricInfo struct {
	labels map[string]map[string]bool // label → values seen
}

// knownMetrics registers every metric locus serves on one registry, as
// "locus run" does (modules, engine, script runtime), and returns them by
// name; a histogram's _bucket, _sum and _count series are included.
func knownMetrics(t *testing.T) map[string]*metricInfo {
	t.Helper()
	dir := t.TempDir()
	cfg := &core.Config{}
	if err := core.ParseConfig([]byte("admin: \"off\"\nstore: \"memory:\"\nmodules: {auth_db: {db_url: \"file:"+filepath.Join(dir, "users")+"\"}}\n"), cfg); err != nil {
		t.Fatal(err)
	}
	cfg.ApplyDefaults()
	log := slog.New(slog.DiscardHandler)
	h, err := core.LoadModules(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Cleanup() })
	route := filepath.Join(dir, "route.lua")
	if err := os.WriteFile(route, []byte("function ksr_request_route() end\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rt, err := script.New(script.Options{File: route, PoolSize: 1, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rt.Close)
	rt.RegisterMetrics(h.Metrics)
	eng := core.NewEngine(rt, log, 0, "")
	eng.SetMetrics(core.NewMetrics(h.Metrics, eng))

	fams, err := h.Metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]*metricInfo{}
	add := func(name string) *metricInfo {
		if known[name] == nil {
			known[name] = &metricInfo{labels: map[string]map[string]bool{}}
		}
		return known[name]
	}
	for _, f := range fams {
		names := []string{f.GetName()}
		if f.GetType().String() == "HISTOGRAM" {
			names = append(names, f.GetName()+"_bucket", f.GetName()+"_sum", f.GetName()+"_count")
		}
		for _, n := range names {
			mi := add(n)
			for _, m := range f.GetMetric() {
				for _, l := range m.GetLabel() {
					if mi.labels[l.GetName()] == nil {
						mi.labels[l.GetName()] = map[string]bool{}
					}
					mi.labels[l.GetName()][l.GetValue()] = true
				}
			}
			if strings.HasSuffix(n, "_bucket") {
				mi.labels["le"] = nil // any value
			}
		}
	}
	return known
}

// promAlerts is the part of a Prometheus rules file the test reads.
type promAlerts struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

var (
	// selectorRe finds a metric name and its label matchers.
	selectorRe = regexp.MustCompile(`\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?`)
	matcherRe  = regexp.MustCompile(`(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"`)
	wordsRe    = regexp.MustCompile(`^[a-z0-9_]+(\|[a-z0-9_]+)*$`)
	// promNonMetrics are the PromQL words of the rules that are not metrics.
	promNonMetrics = map[string]bool{
		"sum": true, "rate": true, "increase": true, "by": true, "and": true, "on": true, "or": true,
		"offset": true, "histogram_quantile": true, "changes": true, "count": true, "absent": true,
	}
	// promBuiltin are the series Prometheus itself adds.
	promBuiltin = map[string]bool{"up": true}
)

func TestPrometheus(t *testing.T) {
	known := knownMetrics(t)
	for _, name := range []string{"locus_core_requests_total", "locus_registrar_registrations_total", "locus_script_reload_failures_total", "locus_usrloc_store_errors_total"} {
		if known[name] == nil {
			t.Fatalf("%s is not registered: the registries changed under the test", name)
		}
	}

	b, err := os.ReadFile("prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var rules promAlerts
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&rules); err != nil {
		t.Fatalf("alerts.yml: %v", err)
	}
	seen := map[string]bool{}
	used := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || r.Expr == "" || seen[r.Alert] {
				t.Errorf("rule %q: want a unique alert name and an expr", r.Alert)
			}
			seen[r.Alert] = true
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("%s: want a severity label and a summary", r.Alert)
			}
			if r.For != "" {
				if _, err := time.ParseDuration(r.For); err != nil {
					t.Errorf("%s: for %q: %v", r.Alert, r.For, err)
				}
			}
			checkExpr(t, r.Alert, r.Expr, known, used)
		}
	}
	for _, name := range []string{"locus_registrar_registrations_total", "locus_script_reload_failures_total", "locus_usrloc_store_errors_total"} {
		if !used[name] {
			t.Errorf("no alert uses %s", name)
		}
	}

	// The scrape configuration loads the rules and scrapes both nodes'
	// admin addresses.
	var prom struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			MetricsPath   string `yaml:"metrics_path"`
			Authorization struct {
				CredentialsFile string `yaml:"credentials_file"`
			} `yaml:"authorization"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	b, err = os.ReadFile("prometheus/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &prom); err != nil {
		t.Fatalf("prometheus.yml: %v", err)
	}
	for _, f := range prom.RuleFiles {
		if _, err := os.Stat(filepath.Join("prometheus", f)); err != nil {
			t.Errorf("rule file %s: %v", f, err)
		}
	}
	if len(prom.ScrapeConfigs) != 1 || prom.ScrapeConfigs[0].JobName != "locus" || prom.ScrapeConfigs[0].MetricsPath != "/metrics" {
		t.Fatalf("scrape configs %+v, want one locus job on /metrics", prom.ScrapeConfigs)
	}
	var targets []string
	for _, sc := range prom.ScrapeConfigs[0].StaticConfigs {
		targets = append(targets, sc.Targets...)
	}
	n1, n2 := loadConfig(t, "two-node/node1.yaml"), loadConfig(t, "two-node/node2.yaml")
	if !slices.Equal(targets, []string{n1.Admin, n2.Admin}) {
		t.Errorf("targets %v, want the nodes' admin addresses %s and %s", targets, n1.Admin, n2.Admin)
	}
	if moduleField(t, n1, "admin", "token_file") != "" && prom.ScrapeConfigs[0].Authorization.CredentialsFile == "" {
		t.Error("the nodes protect /metrics with a token, but the scrape sends none")
	}
}

// checkExpr checks that every metric in expr exists and that its label
// matchers name existing labels and, for = and simple =~, existing values.
func checkExpr(t *testing.T, alert, expr string, known map[string]*metricInfo, used map[string]bool) {
	t.Helper()
	// Drop what is not series selectors: label lists of by/on, ranges,
	// strings outside selectors.
	clean := regexp.MustCompile(`\b(by|on|without|ignoring)\s*\([^)]*\)`).ReplaceAllString(expr, "$1")
	clean = regexp.MustCompile(`\[[^\]]*\]`).ReplaceAllString(clean, "")
	for _, m := range selectorRe.FindAllStringSubmatchIndex(clean, -1) {
		name := clean[m[2]:m[3]]
		sel := ""
		if m[4] >= 0 {
			sel = clean[m[4]:m[5]]
		}
		if promNonMetrics[name] || promBuiltin[name] || isNumber(name) {
			continue
		}
		// Units after offset (1h) and the like are not names.
		if m[2] > 0 && clean[m[2]-1] >= '0' && clean[m[2]-1] <= '9' {
			continue
		}
		info := known[name]
		if info == nil {
			t.Errorf("%s: %s is not a locus metric", alert, name)
			continue
		}
		used[name] = true
		for _, lm := range matcherRe.FindAllStringSubmatch(sel, -1) {
			label, op, val := lm[1], lm[2], lm[3]
			values, ok := info.labels[label]
			if !ok {
				t.Errorf("%s: %s has no label %s", alert, name, label)
				continue
			}
			if values == nil || (op != "=" && op != "=~") || (op == "=~" && !wordsRe.MatchString(val)) {
				continue
			}
			for _, v := range strings.Split(val, "|") {
				if !values[v] {
					t.Errorf("%s: %s{%s} never has the value %q", alert, name, label, v)
				}
			}
		}
	}
}

func isNumber(s string) bool {
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}

// TestREADMEConfig loads the configuration reference of the main README
// as locus would: every key it shows must exist and validate.
func TestREADMEConfig(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i := strings.Index(doc, "## Configuration")
	if i < 0 {
		t.Fatal("README has no Configuration section")
	}
	blocks := coretest.Fences(t, doc[i:], "yaml")
	var cfg core.Config
	if err := core.ParseConfig([]byte(blocks[0]), &cfg); err != nil {
		t.Fatalf("README configuration: %v", err)
	}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("README configuration: %v", err)
	}
	for name, node := range cfg.Modules {
		info, ok := core.LookupModule(name)
		if !ok {
			t.Errorf("README: modules.%s: no such module", name)
			continue
		}
		m := info.New()
		if err := decodeStrict(node, m); err != nil {
			t.Errorf("README: modules.%s: %v", name, err)
		}
	}
	if cfg.Store != core.DefaultStore {
		t.Errorf("README shows store %q, the default is %q", cfg.Store, core.DefaultStore)
	}
}
