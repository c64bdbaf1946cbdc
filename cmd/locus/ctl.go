package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/alecthomas/kong"
	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/modules/admin"
)

// CtlCmd is "locus ctl": the admin API's command-line client, as kamcmd
// is Kamailio's.
type CtlCmd struct {
	Admin     string        `default:"127.0.0.1:5080" env:"LOCUS_ADMIN" help:"Admin API address: host:port or http(s)://host:port."`
	Token     string        `env:"LOCUS_ADMIN_TOKEN" help:"Bearer token of the admin API (visible to ps: prefer the environment or --token-file)." placeholder:"TOKEN"`
	TokenFile string        `type:"path" help:"File holding the bearer token." placeholder:"FILE"`
	JSON      bool          `name:"json" help:"Print the API's JSON instead of tables."`
	Timeout   time.Duration `default:"10s" help:"Bound on each API request."`

	UL     CtlULCmd     `cmd:"" name:"ul" help:"Location service: list, show and remove bindings."`
	Reload CtlReloadCmd `cmd:"" help:"Reload the routing script (as SIGHUP does) and print the new generation."`
	Stats  CtlStatsCmd  `cmd:"" help:"Show request, registration and location statistics."`
	Script CtlScriptCmd `cmd:"" help:"Show the script generation serving requests and the reload history."`
}

// CtlULCmd is "locus ctl ul".
type CtlULCmd struct {
	Dump CtlULDumpCmd `cmd:"" help:"List every AoR with its number of live bindings."`
	Show CtlULShowCmd `cmd:"" help:"Show every binding of an AoR with all its fields."`
	Rm   CtlULRmCmd   `cmd:"" help:"Remove an AoR's bindings, or one binding by RUID."`
}

// CtlULDumpCmd is "locus ctl ul dump".
type CtlULDumpCmd struct {
	Prefix string `help:"Only AoRs starting with this (canonical form: sip:alice)." placeholder:"P"`
	Table  string `default:"location" help:"Location table." placeholder:"T"`
}

// CtlULShowCmd is "locus ctl ul show".
type CtlULShowCmd struct {
	AOR   string `arg:"" name:"aor" help:"The AoR: sip:alice@example.com or alice@example.com."`
	Table string `default:"location" help:"Location table." placeholder:"T"`
}

// CtlULRmCmd is "locus ctl ul rm".
type CtlULRmCmd struct {
	AOR   string `arg:"" name:"aor" help:"The AoR: sip:alice@example.com or alice@example.com."`
	RUID  string `arg:"" optional:"" name:"ruid" help:"Remove only the binding with this RUID (see ul show)."`
	Table string `default:"location" help:"Location table." placeholder:"T"`
}

// CtlReloadCmd is "locus ctl reload".
type CtlReloadCmd struct{}

// CtlStatsCmd is "locus ctl stats".
type CtlStatsCmd struct{}

// CtlScriptCmd is "locus ctl script".
type CtlScriptCmd struct{}

// ctlClient talks to the admin API and prints to out.
type ctlClient struct {
	base  string
	token string
	json  bool
	http  *http.Client
	out   io.Writer
}

// ctlDumpPage is the page size of ul dump: the API's largest.
const ctlDumpPage = admin.MaxLimit

func (c *CtlCmd) client(kctx *kong.Context) (*ctlClient, error) {
	base := strings.TrimRight(c.Admin, "/")
	if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
		base = "http://" + base
	}
	if _, err := url.Parse(base); err != nil {
		return nil, fmt.Errorf("--admin %q: %w", c.Admin, err)
	}
	token := c.Token
	if token == "" && c.TokenFile != "" {
		b, err := os.ReadFile(c.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("--token-file: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	out := io.Writer(os.Stdout)
	if kctx != nil && kctx.Stdout != nil {
		out = kctx.Stdout
	}
	return &ctlClient{base: base, token: token, json: c.JSON, http: &http.Client{Timeout: c.Timeout}, out: out}, nil
}

// call sends one request and decodes the JSON answer into out. A 4xx or
// 5xx answer is an error carrying the server's message; the raw body is
// returned for --json.
func (c *ctlClient) call(method, path string, out any) ([]byte, error) {
	req, err := http.NewRequestWithContext(context.Background(), method, c.base+path, nil)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("Accept", "application/json")
	res, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("admin API at %s: %w", c.base, unwrapURLError(err))
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("admin API at %s: %w", c.base, err)
	}
	if res.StatusCode >= 400 {
		var e admin.Error
		msg := http.StatusText(res.StatusCode)
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		return body, &ctlError{Code: res.StatusCode, Msg: msg}
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			return body, fmt.Errorf("admin API at %s: %s %s: bad answer: %w", c.base, method, path, err)
		}
	}
	return body, nil
}

// ctlError is an error answer of the admin API.
type ctlError struct {
	Code int
	Msg  string
}

func (e *ctlError) Error() string { return fmt.Sprintf("%s (HTTP %d)", e.Msg, e.Code) }

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// printJSON writes an answer for --json, indented.
func (c *ctlClient) printJSON(body []byte) error {
	var b bytes.Buffer
	if err := json.Indent(&b, body, "", "  "); err != nil {
		b.Reset()
		b.Write(body)
	}
	if b.Len() == 0 || b.Bytes()[b.Len()-1] != '\n' {
		b.WriteByte('\n')
	}
	_, err := c.out.Write(b.Bytes())
	return err
}

func (c *ctlClient) table() *tabwriter.Writer {
	return tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
}

// segment escapes an AoR or RUID as one path segment.
func segment(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }

func tableQuery(t string) string {
	if t == "" || t == admin.DefaultTable {
		return ""
	}
	return "?table=" + url.QueryEscape(t)
}

// Run lists every AoR, page by page.
func (d *CtlULDumpCmd) Run(kctx *kong.Context, ctl *CtlCmd) error {
	c, err := ctl.client(kctx)
	if err != nil {
		return err
	}
	all := admin.AORList{AORs: []admin.AORSummary{}}
	after := ""
	for {
		q := url.Values{}
		q.Set("limit", strconv.Itoa(ctlDumpPage))
		if d.Prefix != "" {
			q.Set("prefix", d.Prefix)
		}
		if d.Table != "" {
			q.Set("table", d.Table)
		}
		if after != "" {
			q.Set("after", after)
		}
		var page admin.AORList
		if _, err := c.call("GET", "/api/v1/aors?"+q.Encode(), &page); err != nil {
			return err
		}
		all.AORs = append(all.AORs, page.AORs...)
		if page.Next == "" {
			break
		}
		if page.Next <= after {
			return fmt.Errorf("admin API at %s: the listing does not advance past %q", c.base, after)
		}
		after = page.Next
	}
	if c.json {
		b, err := json.Marshal(all)
		if err != nil {
			return err
		}
		return c.printJSON(b)
	}
	tw := c.table()
	fmt.Fprintln(tw, "AOR\tBINDINGS")
	bindings := 0
	for _, a := range all.AORs {
		fmt.Fprintf(tw, "%s\t%d\n", a.AOR, a.Bindings)
		bindings += a.Bindings
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err = fmt.Fprintf(c.out, "%s, %s\n", plural(len(all.AORs), "AoR"), plural(bindings, "binding"))
	return err
}

// Run prints every binding of the AoR.
func (s *CtlULShowCmd) Run(kctx *kong.Context, ctl *CtlCmd) error {
	c, err := ctl.client(kctx)
	if err != nil {
		return err
	}
	var d admin.AORDetail
	body, err := c.call("GET", "/api/v1/aors/"+segment(s.AOR)+tableQuery(s.Table), &d)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(body)
	}
	fmt.Fprintf(c.out, "%s (table %s): %s\n", d.AOR, d.Table, plural(len(d.Bindings), "binding"))
	for _, b := range d.Bindings {
		fmt.Fprintln(c.out)
		tw := c.table()
		q := "-"
		if b.Q != nil {
			q = strconv.FormatFloat(*b.Q, 'f', -1, 64)
		}
		rows := [][2]string{
			{"contact", b.Contact},
			{"expires", fmt.Sprintf("in %d s (%s)", b.ExpiresIn, b.Expires.UTC().Format(time.RFC3339))},
			{"q", q},
			{"received", b.Received},
			{"socket", b.Socket},
			{"conn_id", b.ConnID},
			{"call_id", b.CallID},
			{"cseq", strconv.FormatUint(uint64(b.CSeq), 10)},
			{"path", strings.Join(b.Path, ", ")},
			{"instance", b.Instance},
			{"reg_id", strconv.Itoa(b.RegID)},
			{"user_agent", b.UserAgent},
			{"methods", b.Methods},
			{"flags", strconv.FormatUint(uint64(b.Flags), 10)},
			{"modified", b.Modified.UTC().Format(time.RFC3339)},
			{"ruid", b.RUID},
		}
		for _, r := range rows {
			v := r[1]
			if v == "" {
				v = "-"
			}
			fmt.Fprintf(tw, "  %s\t%s\n", r[0], v)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// Run removes the AoR's bindings, or one of them.
func (r *CtlULRmCmd) Run(kctx *kong.Context, ctl *CtlCmd) error {
	c, err := ctl.client(kctx)
	if err != nil {
		return err
	}
	path := "/api/v1/aors/" + segment(r.AOR)
	if r.RUID != "" {
		path += "/bindings/" + segment(r.RUID)
	}
	var rm admin.Removed
	body, err := c.call("DELETE", path+tableQuery(r.Table), &rm)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(body)
	}
	_, err = fmt.Fprintf(c.out, "removed %s of %s\n", plural(rm.Removed, "binding"), rm.AOR)
	return err
}

// Run reloads the script.
func (CtlReloadCmd) Run(kctx *kong.Context, ctl *CtlCmd) error {
	c, err := ctl.client(kctx)
	if err != nil {
		return err
	}
	var rl admin.Reload
	body, err := c.call("POST", "/api/v1/reload", &rl)
	var ce *ctlError
	if errors.As(err, &ce) && ce.Code == http.StatusUnprocessableEntity {
		if c.json {
			_ = c.printJSON(body)
		}
		var fail struct {
			Script core.ScriptInfo `json:"script"`
		}
		_ = json.Unmarshal(body, &fail)
		return fmt.Errorf("reload refused, generation %d keeps serving: %s", fail.Script.Generation, ce.Msg)
	}
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(body)
	}
	what := "reloaded"
	if !rl.Changed {
		what = "unchanged"
	}
	_, err = fmt.Fprintf(c.out, "%s: generation %d, hash %s, %s\n", what, rl.Script.Generation, shortHash(rl.Script.Hash), rl.Script.File)
	return err
}

// Run prints the statistics.
func (CtlStatsCmd) Run(kctx *kong.Context, ctl *CtlCmd) error {
	c, err := ctl.client(kctx)
	if err != nil {
		return err
	}
	var st admin.Stats
	body, err := c.call("GET", "/api/v1/stats", &st)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(body)
	}
	tw := c.table()
	fmt.Fprintf(tw, "uptime\t%s (since %s)\n", time.Duration(st.UptimeSeconds)*time.Second, st.StartedAt.UTC().Format(time.RFC3339))
	fmt.Fprintf(tw, "requests\t%d\n", st.RequestsTotal)
	fmt.Fprintf(tw, "in flight\t%d\n", st.Inflight)
	fmt.Fprintf(tw, "overload rejections\t%d\n", st.OverloadRejections)
	if st.AORs != nil && st.Bindings != nil {
		fmt.Fprintf(tw, "aors\t%d\n", *st.AORs)
		fmt.Fprintf(tw, "bindings\t%d\n", *st.Bindings)
	}
	if st.Script != nil {
		fmt.Fprintf(tw, "script\tgeneration %d, hash %s, %d reloads, %d refused\n",
			st.Script.Generation, shortHash(st.Script.Hash), st.Script.Reloads, st.Script.Failures)
	}
	fmt.Fprintf(tw, "listeners\t%s\n", strings.Join(st.Listeners, " "))
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(st.Requests) > 0 {
		fmt.Fprintln(c.out)
		tw = c.table()
		fmt.Fprintln(tw, "METHOD\tCODE\tCOUNT")
		for _, m := range sortedKeys(st.Requests) {
			for _, code := range sortedKeys(st.Requests[m]) {
				fmt.Fprintf(tw, "%s\t%s\t%d\n", m, code, st.Requests[m][code])
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(st.Registrations) > 0 {
		fmt.Fprintln(c.out)
		tw = c.table()
		fmt.Fprintln(tw, "REGISTRATIONS\tCOUNT")
		for _, r := range sortedKeys(st.Registrations) {
			fmt.Fprintf(tw, "%s\t%d\n", r, st.Registrations[r])
		}
		return tw.Flush()
	}
	return nil
}

// Run prints the current script generation.
func (CtlScriptCmd) Run(kctx *kong.Context, ctl *CtlCmd) error {
	c, err := ctl.client(kctx)
	if err != nil {
		return err
	}
	var info core.ScriptInfo
	body, err := c.call("GET", "/api/v1/script", &info)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(body)
	}
	tw := c.table()
	fmt.Fprintf(tw, "generation\t%d\n", info.Generation)
	fmt.Fprintf(tw, "hash\t%s\n", info.Hash)
	fmt.Fprintf(tw, "file\t%s\n", info.File)
	fmt.Fprintf(tw, "loaded at\t%s\n", info.LoadedAt.UTC().Format(time.RFC3339))
	fmt.Fprintf(tw, "reloads\t%d\n", info.Reloads)
	fmt.Fprintf(tw, "refused reloads\t%d\n", info.Failures)
	if info.LastError != "" {
		fmt.Fprintf(tw, "last refusal\t%s\n", info.LastError)
	}
	return tw.Flush()
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
